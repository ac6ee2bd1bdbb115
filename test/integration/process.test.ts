// The gateway as a real process: flags and GATEWAY_* environment variables, logs, health
// (HTTP and grpc.health.v1), server reflection, onnxruntime's telemetry kept off, and SIGTERM:
// readiness drops, every accepted request still gets exactly one answer, and the process exits 0.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { digitPng } from '../helpers/images.js';
import { FIXTURE_MODELS, GatewayClient, REPO_ROOT, grpcCode, reflectionServices } from '../helpers/gateway.js';

interface LogLine {
  msg: string;
  grpcPort?: number;
  httpPort?: number;
  [key: string]: unknown;
}

/** Runs the gateway with `home` as its HOME and TMPDIR, where onnxruntime's telemetry would write. */
function startProcess(home: string): { child: ChildProcess; logs: LogLine[]; waitFor(msg: string): Promise<LogLine> } {
  // Without the runner's own ORT_DISABLE_TELEMETRY, if it has one: the gateway's default is tested.
  const env = { ...process.env };
  delete env['ORT_DISABLE_TELEMETRY'];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--host', '127.0.0.1', '--grpc-port', '0', '--models-dir', FIXTURE_MODELS], {
    cwd: REPO_ROOT,
    env: { ...env, HOME: home, TMPDIR: home, GATEWAY_HTTP_PORT: '0', GATEWAY_EXECUTION_PROVIDER: 'cpu', GATEWAY_DRAIN_TIMEOUT_MS: '10000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters: { msg: string; resolve: (l: LogLine) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    logs.push(parsed);
    for (const w of waiters.filter((w) => w.msg === parsed.msg)) w.resolve(parsed);
  });
  const waitFor = (msg: string): Promise<LogLine> => {
    const seen = logs.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ msg, resolve });
      child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before logging "${msg}"`)));
    });
  };
  return { child, logs, waitFor };
}

describe('gateway process', () => {
  let proc: ReturnType<typeof startProcess>;
  let http: string;
  let grpcAddress: string;
  const home = mkdtempSync(join(tmpdir(), 'gateway-home-'));
  before(async () => {
    proc = startProcess(home);
    const listening = await proc.waitFor('gateway listening');
    http = `http://127.0.0.1:${listening.httpPort}`;
    grpcAddress = `127.0.0.1:${listening.grpcPort}`;
    await proc.waitFor('gateway ready');
  });
  after(() => {
    if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('takes its ports from flags and environment and logs them', () => {
    assert.ok(http.endsWith(':0') === false && grpcAddress.endsWith(':0') === false);
    const ready = proc.logs.find((l) => l.msg === 'model version ready' && l['model'] === 'mnist-8');
    assert.equal(ready?.['provider'], 'cpu');
  });

  it('is live and ready over HTTP and grpc.health.v1', async () => {
    assert.equal((await fetch(`${http}/healthz`)).status, 200);
    assert.equal((await fetch(`${http}/readyz`)).status, 200);
    assert.equal(await healthStatus(grpcAddress), 'SERVING');
  });

  it('serves reflection for its own service', async () => {
    const services = await reflectionServices(grpcAddress);
    assert.ok(services.includes('gateway.v1.InferenceGateway'), `reflection lists ${services.join(', ')}`);
  });

  it("keeps onnxruntime's telemetry off and says so: no debug log, no event store", () => {
    // With telemetry on, onnxruntime-node writes $TMPDIR/mat-debug-<pid>.log and
    // ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ when its first session opens (src/models/ort-telemetry.ts).
    assert.equal(proc.logs.find((l) => l.msg === 'gateway listening')?.['onnxruntimeTelemetry'], 'off');
    assert.ok(proc.logs.some((l) => l.msg === 'model version ready'), 'sessions opened');
    assert.deepEqual(readdirSync(home).filter((f) => f.startsWith('mat-debug-')), []);
    assert.equal(existsSync(join(home, '.cache', 'Microsoft')), false);
  });

  it('on SIGTERM answers every accepted request exactly once and exits 0', async () => {
    const client = new GatewayClient(grpcAddress);
    const image = await digitPng(3);
    const total = 150;
    const results: Promise<string>[] = [];
    const send = (): void => {
      results.push(
        client.classify({ model: 'mnist-8', image }).then(
          (r) => (r.labels[0]!.label === '3' ? 'ok' : `wrong:${r.labels[0]!.label}`),
          (err: unknown) => `code:${grpcCode(err)}`,
        ),
      );
    };
    for (let i = 0; i < 40; i++) send(); // below the fixture's maxQueueSize of 64
    await results[0]; // the connection is up and requests are queued behind it
    proc.child.kill('SIGTERM');
    for (let i = 0; i < total - 40; i++) send();
    const outcomes = await Promise.all(results);
    const exitCode = await new Promise<number | null>((resolve) => (proc.child.exitCode !== null ? resolve(proc.child.exitCode) : proc.child.once('exit', resolve)));
    client.close();
    assert.equal(outcomes.length, total);
    const counts = outcomes.reduce<Record<string, number>>((acc, o) => ((acc[o] = (acc[o] ?? 0) + 1), acc), {});
    // Accepted requests finish; refused ones get UNAVAILABLE; nothing else.
    assert.deepEqual(Object.keys(counts).filter((k) => k !== 'ok' && k !== `code:${grpc.status.UNAVAILABLE}`), [], JSON.stringify(counts));
    assert.ok((counts['ok'] ?? 0) > 0, JSON.stringify(counts));
    assert.equal(exitCode, 0);
    assert.ok(proc.logs.some((l) => l.msg === 'draining'));
    assert.ok(proc.logs.some((l) => l.msg === 'gateway stopped'));
  });
});

async function healthStatus(address: string): Promise<string> {
  const def = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String });
  const Health = (((grpc.loadPackageDefinition(def)['grpc'] as grpc.GrpcObject)['health'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['Health'] as grpc.ServiceClientConstructor;
  const client = new Health(address, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) =>
      (client as unknown as { Check: (req: object, cb: (err: Error | null, res: { status: string }) => void) => void }).Check({ service: '' }, (err, res) => (err ? reject(err) : resolve(res.status))),
    );
  } finally {
    client.close();
  }
}
