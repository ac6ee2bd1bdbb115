// SIGTERM on the real gateway process under HTTP load: clients that open a fresh connection per
// request and clients on keep-alive connections keep calling /v1/classify while the process
// drains. Every request gets an answer, 200 or the catalog's 503 SHUTTING_DOWN with retry-after
// and a request id; no connection is reset; once the listener is closed a connect is refused
// (ECONNREFUSED, counted apart); the process exits 0.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { digitPng } from '../helpers/images.js';
import { FIXTURE_MODELS, REPO_ROOT } from '../helpers/gateway.js';

const FRESH_WORKERS = 8;
const KEEP_ALIVE_WORKERS = 4;
/** Answers before SIGTERM: the load is running on every worker. */
const ANSWERS_BEFORE_SIGTERM = 200;
/** The load goes on this long after SIGTERM, ms: through the drain and the HTTP listener's close. */
const LOAD_AFTER_SIGTERM_MS = 300;

type Outcome = 'ok' | 'shutting-down' | 'refused' | `bad:${string}`;

interface LogLine {
  msg: string;
  httpPort?: number;
}

function startGateway(): { child: ChildProcess; listening: Promise<LogLine>; ready: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--models-dir', FIXTURE_MODELS, '--drain-timeout-ms', '5000'], {
    cwd: REPO_ROOT,
    env: { ...process.env, GATEWAY_EXECUTION_PROVIDER: 'cpu', GATEWAY_INTRA_OP_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let onListening: (l: LogLine) => void = () => undefined;
  let onReady: () => void = () => undefined;
  const listening = new Promise<LogLine>((resolve) => (onListening = resolve));
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    if (parsed.msg === 'gateway listening') onListening(parsed);
    if (parsed.msg === 'gateway ready') onReady();
  });
  void exited.then((code) => {
    onListening({ msg: `exited ${code}` });
    onReady();
  });
  return { child, listening, ready, exited };
}

/** One POST /v1/classify on `agent`, classified by what came back. */
function classify(port: number, agent: http.Agent, image: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/classify?model=tiny-dynamic', agent, headers: { 'content-type': 'image/png', 'content-length': image.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(`bad:response ${err.code ?? err.message}`));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 200) return resolve('ok');
        let body: { error?: { code?: string; request_id?: string } } = {};
        try {
          body = JSON.parse(text) as typeof body;
        } catch {
          // reported below with the raw text
        }
        const catalog503 = res.statusCode === 503 && body.error?.code === 'SHUTTING_DOWN' && typeof body.error.request_id === 'string' && body.error.request_id.length > 0 && res.headers['retry-after'] !== undefined;
        resolve(catalog503 ? 'shutting-down' : `bad:${res.statusCode} ${text.slice(0, 120)}`);
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : `bad:${err.code ?? err.message}`));
    req.end(image);
  });
}

describe('SIGTERM under HTTP load (real process, fresh and keep-alive connections)', { timeout: 120_000 }, () => {
  it('answers every request on an accepted connection (200 or catalog 503), resets none, exits 0', async (t) => {
    const gw = startGateway();
    const listening = await gw.listening;
    assert.ok(listening.httpPort, `the gateway did not start: ${listening.msg}`);
    await gw.ready;
    const port = listening.httpPort;
    const image = await digitPng(3);

    const counts = new Map<string, number>();
    const count = (outcome: Outcome): void => void counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    let answered = 0;
    let stopAtMs = Infinity;
    let signalled: () => void = () => undefined;
    const sigterm = new Promise<void>((resolve) => (signalled = resolve));
    // The load is bounded: it stops LOAD_AFTER_SIGTERM_MS after SIGTERM, as a load balancer stops
    // sending to a terminating pod; until then each worker sends its next request at once.
    const worker = async (agent: http.Agent): Promise<void> => {
      while (performance.now() < stopAtMs) {
        const outcome = await classify(port, agent, image);
        count(outcome);
        if (outcome === 'ok' || outcome === 'shutting-down') answered++;
        if (stopAtMs === Infinity && answered >= ANSWERS_BEFORE_SIGTERM) {
          stopAtMs = performance.now() + LOAD_AFTER_SIGTERM_MS;
          gw.child.kill('SIGTERM');
          signalled();
        }
      }
    };
    const fresh = new http.Agent({ keepAlive: false });
    const keepAlive = Array.from({ length: KEEP_ALIVE_WORKERS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const agents = [...Array.from({ length: FRESH_WORKERS }, () => fresh), ...keepAlive];
    const workers = agents.map((agent) => worker(agent));
    await sigterm;
    await Promise.all(workers);
    const exitCode = await gw.exited;
    // The listener is closed: a connect is refused, not reset.
    for (const outcome of await Promise.all(agents.map((agent) => classify(port, agent, image)))) count(outcome === 'refused' ? 'refused' : `bad:after exit ${outcome}`);
    for (const agent of [fresh, ...keepAlive]) agent.destroy();

    const summary = JSON.stringify(Object.fromEntries(counts));
    t.diagnostic(`outcomes: ${summary}`);
    const bad = [...counts.keys()].filter((k) => k.startsWith('bad:'));
    assert.deepEqual(bad, [], `requests without a proper answer (resets, other statuses): ${summary}`);
    assert.ok((counts.get('ok') ?? 0) >= ANSWERS_BEFORE_SIGTERM / 2, summary);
    assert.ok((counts.get('shutting-down') ?? 0) > 0, `requests during the drain were refused with 503: ${summary}`);
    assert.equal(counts.get('refused'), FRESH_WORKERS + KEEP_ALIVE_WORKERS, summary);
    assert.equal(exitCode, 0);
  });
});
