// A real Prometheus (Debian's /usr/bin/prometheus) on loopback scrapes a real gateway under a short
// concurrent gRPC load, evaluates deploy/prometheus/rules.yaml, and answers through its HTTP API
// every query the Grafana dashboard, the recording rules and the HPA (prometheus-adapter) use:
// request rate > 0 for the model, histogram quantiles defined, mean batch size > 1.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, REPO_ROOT, type TestGateway, makeRepository, startTestGateway } from '../helpers/gateway.js';

const MODEL = 'tiny';
const NAMESPACE = 'gw-e2e';
const POD = 'gateway-0';
/** Dashboard queries that may rightly be empty here: no CLIP model (prompt cache), no failures, nothing shed. */
const MAY_BE_EMPTY = [/gateway_prompt_cache_hits_total/, /outcome!="ok"/, /gateway_shed_requests_total/];

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The dashboard's query expressions, with Grafana's variables filled in for this test. */
async function dashboardQueries(): Promise<{ title: string; expr: string }[]> {
  const dashboard = JSON.parse(await readFile(join(REPO_ROOT, 'deploy', 'grafana', 'gateway.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
  return dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      title: p.title,
      expr: t.expr.replaceAll('$namespace', NAMESPACE).replaceAll('$model', MODEL).replaceAll('$__rate_interval', '30s'),
    })),
  );
}

/** The adapter's metricsQuery templates, filled in as prometheus-adapter does for `pods/*` in one namespace. */
async function adapterQueries(): Promise<string[]> {
  const values = parse(await readFile(join(REPO_ROOT, 'deploy', 'k8s', 'prometheus-adapter', 'values.yaml'), 'utf8')) as { rules: { custom: { seriesQuery: string; metricsQuery: string }[] } };
  return values.rules.custom.map((r) => {
    const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(r.seriesQuery)![1]!;
    return r.metricsQuery.replaceAll('<<.Series>>', series).replaceAll('<<.LabelMatchers>>', `namespace="${NAMESPACE}",pod=~"${POD}"`).replaceAll('<<.GroupBy>>', 'pod');
  });
}

describe('a real Prometheus scraping a gateway under load', { timeout: 90_000 }, () => {
  let gw: TestGateway;
  let prometheus: ChildProcess;
  let promLog = '';
  let api: string;
  let dir: string;
  let answered = 0;
  /** Requests whose client-side latency was over the 500 ms latency SLO of the alert rules. */
  let overSlo = 0;
  /** Answers that waited in the queue longer than the queue alert's 250 ms. */
  let overQueue = 0;

  const query = async (expr: string): Promise<PromSample[]> => {
    const res = await fetch(`${api}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: PromSample[] } };
    assert.equal(body.status, 'success', `${expr}: ${body.error}`);
    return body.data.result;
  };

  /** Polls until `check` passes (Prometheus needs two scrapes and a rule evaluation after the load). */
  const eventually = async (what: string, check: () => Promise<void>, timeoutMs = 15_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await check();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}\nprometheus log:\n${promLog.slice(-2000)}`, { cause: err });
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  before(async () => {
    const root = await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: MODEL, patch: { batching: { maxBatchSize: 8, maxQueueDelayMs: 10, maxQueueSize: 256 } } }]);
    gw = await startTestGateway(root);
    dir = await mkdtemp(join(tmpdir(), 'gateway-prometheus-'));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: [join(REPO_ROOT, 'deploy', 'prometheus', 'rules.yaml')],
      scrape_configs: [
        {
          // The job name the alert rules and dashboard expect; namespace and pod as the Prometheus
          // Operator would attach them from the ServiceMonitor's endpoints.
          job_name: 'inference-gateway',
          static_configs: [{ targets: [`127.0.0.1:${gw.gateway.httpPort}`], labels: { namespace: NAMESPACE, pod: POD } }],
        },
      ],
    };
    await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config));
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', '--storage.tsdb.retention.time=1h'], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.once('error', (err) => (promLog += `spawn failed: ${err.message} (install Debian's prometheus package: bash scripts/install-system-deps.sh)\n`));
    await eventually('prometheus ready', async () => assert.equal((await fetch(`${api}/-/ready`)).status, 200));
    // Targets reach the scrape loop a few seconds after start: load only once the first scrape is in,
    // so the counters' increase happens between scrapes (rate() > 0).
    await eventually('first scrape', async () => assert.equal((await query(`up{job="inference-gateway"}`))[0]?.value[1], '1'));

    // Load: 32 concurrent callers for ~4 s (about four scrapes), over one HTTP/2 connection, so batches
    // hold several requests and scrapes inside the load see requests held (the HPA signal counts
    // those decoding or waiting to, queued and running; not those still in transport).
    const image = await solidImage(32, 32);
    const stopAt = Date.now() + 4000;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (Date.now() < stopAt) {
          const sentAt = Date.now();
          const answer = await gw.client.classify({ model: MODEL, image });
          if (Date.now() - sentAt > 500) overSlo++;
          if (answer.timing.queue_ms > 250) overQueue++;
          answered++;
        }
      }),
    );
  });

  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus.once('exit', r));
      prometheus.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
    }
    await gw?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('scrapes the gateway (target up, two scrapes after the load)', async () => {
    assert.ok(answered > 50, `${answered} requests answered`);
    await eventually('two scrapes with the load', async () => {
      const [up] = await query(`up{job="inference-gateway"}`);
      assert.equal(up?.value[1], '1', promLog);
      const [total] = await query(`count_over_time(gateway_requests_total{model="${MODEL}",outcome="ok"}[1m])`);
      assert.ok(Number(total?.value[1]) >= 2, 'fewer than two scrapes');
      const [last] = await query(`sum(gateway_requests_total{model="${MODEL}",outcome="ok"})`);
      assert.equal(Number(last?.value[1]), answered, 'last scrape saw every answered request');
    });
  });

  it('evaluates the recording rules: rate > 0, p50/p99 defined, mean batch size > 1', async (t) => {
    await eventually('recording rules', async () => {
      const [rate] = await query(`model:gateway_requests:rate5m{model="${MODEL}"}`);
      assert.ok(Number(rate?.value[1]) > 0, `request rate ${rate?.value[1]}`);
      assert.equal(rate?.metric['namespace'], NAMESPACE);
      const [errors] = await query(`model:gateway_request_error_ratio:rate5m{model="${MODEL}"}`);
      assert.equal(Number(errors?.value[1]), 0, 'error ratio is 0, not absent');
      for (const q of ['p50', 'p95', 'p99']) {
        const [latency] = await query(`model:gateway_request_duration_seconds:${q}_5m{model="${MODEL}"}`);
        const seconds = Number(latency?.value[1]);
        assert.ok(Number.isFinite(seconds) && seconds > 0 && seconds < 10, `${q} ${latency?.value[1]}`);
      }
      const [queueP99] = await query(`model:gateway_queue_duration_seconds:p99_5m{model="${MODEL}"}`);
      assert.ok(Number.isFinite(Number(queueP99?.value[1])), `queue p99 ${queueP99?.value[1]}`);
      const [batch] = await query(`model:gateway_batch_size:mean5m{model="${MODEL}"}`);
      assert.ok(Number(batch?.value[1]) > 1, `mean batch size ${batch?.value[1]}`);
      const [pending] = await query(`pod:gateway_pending_requests:sum{pod="${POD}"}`);
      assert.ok(pending && Number(pending.value[1]) >= 0);
      t.diagnostic(`${answered} requests; rate5m ${rate?.value[1]}/s; mean batch ${batch?.value[1]}; queue p99 ${queueP99?.value[1]} s`);
    });
    const res = (await (await fetch(`${api}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    const unhealthy = res.data.groups.flatMap((g) => g.rules).filter((r) => r.health !== 'ok');
    assert.deepEqual(unhealthy, [], 'every rule evaluates without error');
    const firing = (await (await fetch(`${api}/api/v1/alerts`)).json()) as { data: { alerts: { labels: { alertname: string } }[] } };
    // Pending alerts count too. The exceptions are the latency alerts when this test's own answers
    // show them broken: a stall of the shared 2-core machine (half a second with 32 calls in flight
    // is 1 % of the load) makes the p99 alert right, not wrong, and so with queue waits over 250 ms.
    const sawSloBreach = overSlo >= answered / 200;
    const sawQueueBreach = overQueue >= answered / 200;
    const raised = firing.data.alerts
      .map((a) => a.labels.alertname)
      .filter((name) => !(name === 'GatewayLatencyP99OverSLO' && sawSloBreach) && !(name === 'GatewayQueueSaturated' && sawQueueBreach));
    assert.deepEqual(raised, [], `a healthy gateway raises no alert (${overSlo} of ${answered} calls took over 500 ms, ${overQueue} queued over 250 ms)`);
  });

  it('answers every dashboard query with series', async () => {
    const queries = await dashboardQueries();
    assert.ok(queries.length >= 20, `${queries.length} queries`);
    await eventually('dashboard queries', async () => {
      const empty: string[] = [];
      for (const { title, expr } of queries) {
        const result = await query(expr);
        if (result.length === 0 && !MAY_BE_EMPTY.some((re) => re.test(expr))) empty.push(`${title}: ${expr}`);
        for (const s of result) assert.ok(!Number.isNaN(Number(s.value[1])) || /histogram_quantile/.test(expr), `${title}: NaN for ${expr}`);
      }
      assert.deepEqual(empty, []);
    });
    const [rate] = await query(queries.find((q) => q.title === 'Request rate by model')!.expr);
    assert.ok(Number(rate?.value[1]) > 0);
    const [batch] = await query(queries.find((q) => q.title === 'Mean batch size')!.expr);
    assert.ok(Number(batch?.value[1]) > 1);
  });

  it('answers the HPA metric as prometheus-adapter queries it, per pod', async () => {
    const [pending, queueP99] = await adapterQueries();
    const series = await query(pending!);
    assert.deepEqual(series.map((s) => s.metric['pod']), [POD]);
    assert.ok(Number(series[0]!.value[1]) >= 0);
    // The signal saw the load: a scrape during it found requests in flight on the pod.
    const [peak] = await query(`max_over_time((${pending!})[1m:1s])`);
    assert.ok(Number(peak?.value[1]) >= 1, `peak pending ${peak?.value[1]}`);
    await eventually('queue p99 per pod', async () => {
      const q = await query(queueP99!);
      assert.deepEqual(q.map((s) => s.metric['pod']), [POD]);
    });
  });
});
