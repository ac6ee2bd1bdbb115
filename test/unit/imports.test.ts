// The import graph of src/, read from the sources: no cycles (no two files import each other,
// directly or through others), and imports flow only the allowed way between folders (the
// directions docs/architecture.md draws). A new cycle or a backward import fails here.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Every .ts file under src/, relative to it. */
function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [relative(SRC, join(dir, e.name))] : []));
}

/** Relative imports of one file (static, type-only, re-exports and dynamic), as src-relative .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2]!);
  return specifiers.filter((s) => s.startsWith('.')).map((s) => relative(SRC, resolve(SRC, dirname(file), s.replace(/\.js$/, '.ts'))));
}

const graph = new Map(sources().map((f) => [f, importsOf(f)]));

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

/** Folder of a src-relative path ('' for the top level). */
const folder = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '');

/** Which folders each folder may import from (besides itself); the top level holds the leaves (errors, metrics, config, logger) and the entry points. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  batching: [''],
  models: ['', 'batching'],
  server: ['', 'models', 'batching'],
  client: [''],
  cli: ['', 'client'],
};
/**
 * Server modules every feature and transport may share: they import no feature (service, handler
 * or route file) and no transport, so a feature never reaches another through them.
 */
const SERVER_LEAVES = new Set([
  'server/auth.ts',
  'server/base64.ts',
  'server/call.ts',
  'server/grpc-common.ts',
  'server/grpc-decode.ts',
  'server/host-port.ts',
  'server/http-body.ts',
  'server/http-close.ts',
  'server/http-common.ts',
  'server/http-schemas.ts',
  'server/http-validation.ts',
  'server/trace-carrier.ts',
]);
/** Top-level files that compose the layers below them (everything else at the top level is a leaf). */
const ENTRY_POINTS = new Set(['main.ts', 'gateway.ts']);

describe('src/ imports', () => {
  it('read the whole tree', () => {
    assert.ok(graph.size > 20, `only ${graph.size} files found under ${SRC}`);
    for (const [file, deps] of graph) for (const dep of deps) assert.ok(graph.has(dep), `${file} imports ${dep}, which does not exist`);
  });

  it('have no cycles', () => {
    assert.deepEqual(cycles(), [], 'files that import each other (directly or through others): move what they share into a leaf module');
  });

  it('shared server modules import only other shared modules within server/', () => {
    const wrong: string[] = [];
    for (const leaf of SERVER_LEAVES) {
      assert.ok(graph.has(leaf), `${leaf} is listed as shared but does not exist`);
      for (const dep of graph.get(leaf)!) if (folder(dep) === 'server' && !SERVER_LEAVES.has(dep)) wrong.push(`${leaf} -> ${dep}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('flow only the allowed way between folders', () => {
    const wrong: string[] = [];
    for (const [file, deps] of graph) {
      const from = folder(file);
      for (const dep of deps) {
        const to = folder(dep);
        if (to === from) {
          if (from === '' && !ENTRY_POINTS.has(file) && ENTRY_POINTS.has(dep)) wrong.push(`${file} -> ${dep}`);
          continue;
        }
        const allowed = from === '' ? ENTRY_POINTS.has(file) : (ALLOWED[from] ?? []).includes(to);
        if (!allowed) wrong.push(`${file} -> ${dep}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
