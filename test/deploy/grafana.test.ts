// deploy/grafana/gateway.json: a well-formed dashboard (unique ids, one data source variable,
// variables defined before use), covering what an operator needs, and naming only metrics that
// src/metrics.ts declares (or prom-client's default process metrics) or that rules.yaml records.
// Its queries are run against a real Prometheus by prometheus-e2e.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { Metrics } from '../../src/metrics.js';
import { REPO_ROOT } from '../helpers/gateway.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string }[];
}

const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy', 'grafana', 'gateway.json'), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };
const rules = parse(readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'rules.yaml'), 'utf8')) as { groups: { rules: { record?: string; expr: string }[] }[] };

/** Every series name the gateway exposes: declared metrics with histogram suffixes, plus process defaults. */
async function exposedNames(): Promise<Set<string>> {
  const metrics = new Metrics();
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (m.type.toString() === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

/** Metric-like identifiers in a PromQL expression (functions, keywords and label names removed). */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  return [...withoutStrings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((n) => !/^(and|or|unless|bool|offset|le|inf|Inf|NaN)$/.test(n) && /_/.test(n) && !n.startsWith('__'));
}

describe('grafana dashboard', () => {
  const panels = dashboard.panels;
  const queryPanels = panels.filter((p) => p.type !== 'row');

  it('is well formed: unique ids, one data source variable, variables defined, non-overlapping grid', () => {
    assert.equal(dashboard.uid, 'inference-gateway');
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length);
    const vars = dashboard.templating.list.map((v) => v.name);
    assert.deepEqual(vars, ['datasource', 'namespace', 'model']);
    const cells = new Set<string>();
    for (const p of panels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          const cell = `${x},${y}`;
          assert.ok(!cells.has(cell), `panel "${p.title}" overlaps another at ${cell}`);
          cells.add(cell);
        }
      assert.ok(p.gridPos.x + p.gridPos.w <= 24);
    }
    for (const p of queryPanels) {
      assert.equal(p.datasource?.uid, '${datasource}', p.title);
      assert.ok(p.targets?.length, p.title);
      for (const t of p.targets) for (const v of t.expr.matchAll(/\$(\w+)/g)) assert.ok(vars.includes(v[1]!) || v[1] === '__rate_interval', `${p.title}: $${v[1]} undefined`);
    }
  });

  it('covers rates, errors, latency quantiles, queue time, batch sizes, pending, model state, cache and pods', () => {
    const titles = queryPanels.map((p) => p.title.toLowerCase()).join('\n');
    for (const needed of ['request rate', 'error ratio', 'p50 / p95 / p99', 'queue time', 'batch size distribution', 'pending requests', 'model state', 'cache hit ratio', 'by pod'])
      assert.ok(titles.includes(needed), `no panel for ${needed}`);
  });

  it('names only metrics the gateway exposes or the rules record', async () => {
    const known = await exposedNames();
    for (const r of rules.groups.flatMap((g) => g.rules)) if (r.record) known.add(r.record);
    known.add('up');
    const unknown = new Set<string>();
    for (const p of queryPanels) for (const t of p.targets ?? []) for (const n of metricNames(t.expr)) if (!known.has(n)) unknown.add(`${p.title}: ${n}`);
    for (const r of rules.groups.flatMap((g) => g.rules)) for (const n of metricNames(r.expr)) if (!known.has(n)) unknown.add(`rule: ${n}`);
    assert.deepEqual([...unknown], []);
  });
});
