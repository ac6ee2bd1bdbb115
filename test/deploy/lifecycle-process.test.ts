// Graceful shutdown of the real process under real signals, as Kubernetes drives it (preStop, then
// SIGTERM, then SIGKILL after terminationGracePeriodSeconds): readiness turns 503 at once, gRPC
// connections get GOAWAY, HTTP keep-alive answers carry `Connection: close`, new work is refused
// with UNAVAILABLE/503 and a retry hint, the queued request is answered, and the process exits 0,
// and exits 0 within --drain-timeout-ms even when queued work could not finish in time.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { connect } from 'node:http2';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { solidImage } from '../helpers/images.js';
import { waitUntil } from '../helpers/wait.js';
import { FIXTURE_MODELS, GatewayClient, REPO_ROOT, grpcCode, makeRepository, metricValue, postImage } from '../helpers/gateway.js';

interface Gateway {
  child: ChildProcess;
  modelsDir: string;
  logs: Record<string, unknown>[];
  http: string;
  grpcAddress: string;
  exited: Promise<{ code: number | null; atMs: number }>;
}

/** Starts `src/main.ts` as a process over a repository with one patient model (its batches wait `maxQueueDelayMs`). */
async function startGateway(maxQueueDelayMs: number, drainTimeoutMs: number): Promise<Gateway> {
  const modelsDir = await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'patient', patch: { batching: { policy: 'fixed', maxBatchSize: 64, maxQueueDelayMs } } }]);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--models-dir', modelsDir, '--drain-timeout-ms', String(drainTimeoutMs)], {
    cwd: REPO_ROOT,
    env: { ...process.env, GATEWAY_EXECUTION_PROVIDER: 'cpu', GATEWAY_INTRA_OP_THREADS: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<{ code: number | null; atMs: number }>((resolve) => child.once('exit', (code) => resolve({ code, atMs: Date.now() })));
  const logs: Record<string, unknown>[] = [];
  const ready = new Promise<{ httpPort: number; grpcPort: number }>((resolve, reject) => {
    let ports: { httpPort: number; grpcPort: number } | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry['msg'] === 'gateway listening') ports = { httpPort: entry['httpPort'] as number, grpcPort: entry['grpcPort'] as number };
      if (entry['msg'] === 'gateway ready' && ports) resolve(ports);
    });
    void exited.then(({ code }) => reject(new Error(`gateway exited (${code}) before it was ready`)));
  });
  const { httpPort, grpcPort } = await ready;
  return { child, modelsDir, logs, http: `http://127.0.0.1:${httpPort}`, grpcAddress: `127.0.0.1:${grpcPort}`, exited };
}

describe('SIGTERM on the gateway process', { timeout: 60_000 }, () => {
  it('drains: readiness 503 at once, GOAWAY on gRPC, Connection: close on HTTP keep-alive, queued request answered, exit 0', async (t) => {
    const gw = await startGateway(4000, 30_000);
    const client = new GatewayClient(gw.grpcAddress);
    // A bare HTTP/2 connection, as a client-side load balancer holds one to every pod.
    const h2 = connect(`http://${gw.grpcAddress}`);
    const goaway = new Promise<{ errorCode: number; atMs: number }>((resolve) => h2.once('goaway', (errorCode: number) => resolve({ errorCode, atMs: Date.now() })));
    h2.on('error', () => {});
    try {
      await new Promise<void>((resolve) => h2.once('connect', () => resolve()));
      const image = await solidImage(32, 32);
      const kept = await fetch(`${gw.http}/readyz`);
      assert.equal(kept.status, 200);
      assert.notEqual(kept.headers.get('connection'), 'close', 'keep-alive before the drain');

      const queued = client.classify({ model: 'patient', image }); // waits ~4 s for batch-mates
      let queuedAnsweredAtMs: number | undefined;
      void queued.then(() => (queuedAnsweredAtMs = Date.now()));
      await waitUntil(async () => metricValue(await (await fetch(`${gw.http}/metrics`)).text(), 'gateway_pending_requests', { model: 'patient' }) >= 1, 'request queued');

      const sigtermAtMs = Date.now();
      gw.child.kill('SIGTERM');
      let notReady: Response | undefined;
      await waitUntil(async () => {
        notReady = await fetch(`${gw.http}/readyz`);
        return notReady.status === 503;
      }, 'readiness 503');
      const readinessDropMs = Date.now() - sigtermAtMs;
      // Order, not wall-clock time: the drain starts at once, while the accepted request still waits.
      assert.equal(queuedAnsweredAtMs, undefined, 'readiness turned 503 only after the queued request was answered');
      assert.equal(notReady!.headers.get('connection'), 'close', 'keep-alive clients are told to reconnect elsewhere');

      const refused = await postImage(gw.http, 'model=patient', image);
      assert.equal(refused.status, 503);
      assert.equal((refused.json['error'] as { code: string }).code, 'SHUTTING_DOWN');
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.equal(refused.headers.get('connection'), 'close');
      await assert.rejects(client.classify({ model: 'patient', image }), (err) => grpcCode(err) === grpc.status.UNAVAILABLE);

      const answer = await queued;
      assert.equal(answer.labels.length, 4, 'the request accepted before SIGTERM is answered');
      const away = await goaway;
      assert.equal(away.errorCode, 0, 'GOAWAY with NO_ERROR');
      assert.ok(away.atMs <= queuedAnsweredAtMs!, `GOAWAY ${away.atMs - sigtermAtMs} ms after SIGTERM, the queued answer at ${queuedAnsweredAtMs! - sigtermAtMs} ms: at the start of the drain, not after it`);
      const exit = await gw.exited;
      assert.equal(exit.code, 0);
      assert.ok(away.atMs <= exit.atMs);
      assert.ok(gw.logs.some((l) => l['msg'] === 'gateway stopped'));
      t.diagnostic(`after SIGTERM: readiness 503 in ${readinessDropMs} ms, GOAWAY at ${away.atMs - sigtermAtMs} ms, exit 0 at ${exit.atMs - sigtermAtMs} ms`);
      assert.ok(!gw.logs.some((l) => l['msg'] === 'drain timeout reached; closing with requests still pending'));
    } finally {
      h2.destroy();
      client.close();
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
      await rm(gw.modelsDir, { recursive: true, force: true });
    }
  });

  it('exits 0 within --drain-timeout-ms when queued work cannot finish in time', async (t) => {
    const drainTimeoutMs = 800;
    const gw = await startGateway(8000, drainTimeoutMs);
    const client = new GatewayClient(gw.grpcAddress);
    try {
      const image = await solidImage(32, 32);
      const stuck = client.classify({ model: 'patient', image }).then(
        () => 'ok',
        (err: unknown) => `code:${grpcCode(err)}`,
      );
      await waitUntil(async () => metricValue(await (await fetch(`${gw.http}/metrics`)).text(), 'gateway_pending_requests', { model: 'patient' }) >= 1, 'request queued');
      const sigtermAtMs = Date.now();
      gw.child.kill('SIGTERM');
      const exit = await gw.exited;
      const tookMs = exit.atMs - sigtermAtMs;
      assert.equal(exit.code, 0);
      t.diagnostic(`drain timeout ${drainTimeoutMs} ms: exit 0 at ${tookMs} ms after SIGTERM`);
      assert.ok(tookMs >= drainTimeoutMs - 50, `exited after ${tookMs} ms: before the drain timeout`);
      assert.ok(tookMs < drainTimeoutMs + 3000, `exited ${tookMs} ms after SIGTERM (drain timeout ${drainTimeoutMs} ms)`);
      assert.ok(gw.logs.some((l) => l['msg'] === 'drain timeout reached; closing with requests still pending'));
      assert.notEqual(await stuck, 'ok', 'the batch could not have run yet');
    } finally {
      client.close();
      if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
      await rm(gw.modelsDir, { recursive: true, force: true });
    }
  });
});
