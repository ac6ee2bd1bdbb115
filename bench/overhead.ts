// `npm run bench:overhead`: where the low-load overhead goes (issue 5's "gRPC p50 one request at
// a time minus in-process <= 1 ms"). One request at a time, side by side in one run:
//   - in-process: the gateway's preprocessing + session.run at batch 1 on one thread, no network;
//   - the session's thread hop: session.run called in this thread vs through ModelSession (the
//     worker thread the gateway runs every session in), batch 1;
//   - the gateway over gRPC, client p50, and its own server-side means from /metrics (request,
//     preprocess, batch queue, inference) over the same requests;
//   - a bare gRPC call (bench/transport-server.ts: canned answer, no model work).
// Prints a markdown table; with --out DIR also writes DIR/overhead.md.
//   npm run bench:overhead [-- --requests 1500] [--model-dir models/shapes-mobilenetv3] [--out DIR]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { type ClassifierManifest, parseManifest } from '../src/models/manifest.js';
import { openOrtSession, runOrtSession } from '../src/models/ort.js';
import { ImagePreprocessor } from '../src/models/preprocess.js';
import { ModelSession } from '../src/models/session.js';
import { type ImageSet, makeImageSet } from './lib/images.js';
import { measureSingleLatency, median } from './lib/limit.js';
import { machineInfo } from './lib/machine.js';
import { type PromSample, scrapeMetrics, sumOf } from './lib/observe.js';
import { ROOT, startGatewayWith, startServer } from './lib/server-process.js';
import { type StageRecord, type StageTarget, runStage } from './lib/stage.js';

const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: join(ROOT, 'models', 'shapes-mobilenetv3') },
    requests: { type: 'string', default: '1500' },
    out: { type: 'string' },
  },
});
const modelDir = values['model-dir'];
const requests = Number(values.requests);
const model = modelDir.split('/').at(-1)!;

/** p50 of `n` sequential calls of `fn`, ms, after n/5 unrecorded ones. */
async function p50Of(n: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < n / 5; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

/** session.run at batch 1 in this thread, then through the gateway's worker-thread ModelSession. */
async function sessionHop(): Promise<{ inThreadMs: number; workerMs: number }> {
  const manifest = parseManifest(JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8'))) as ClassifierManifest;
  const path = join(modelDir, '1', manifest.file);
  const input = manifest.inputs[0]!;
  const output = manifest.outputs[0]!.name;
  const dims = [1, ...new ImagePreprocessor(manifest.preprocessing, { maxImageBytes: 2 ** 20, maxImagePixels: 2 ** 24 }).itemDims];
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5);
  const options = { provider: 'cpu' as const, intraOpThreads: 1 };
  const { session } = await openOrtSession(path, options);
  const inThreadMs = await p50Of(requests, () => runOrtSession(session, { [input.name]: { data, dims } }, [output]));
  await session.release();
  const worker = await ModelSession.open(path, options);
  const workerMs = await p50Of(requests, () => worker.run({ [input.name]: { data: data.slice(), dims } }, [output]));
  await worker.release();
  return { inThreadMs, workerMs };
}

/** One request at a time against `t` for `durationMs`, after a second of unrecorded warm-up. */
async function oneAtATime(t: StageTarget, images: ImageSet, durationMs: number): Promise<StageRecord> {
  const load = { mode: 'closed', concurrency: 1 } as const;
  await runStage(t, { protocol: 'grpc', images, load, durationMs: 1000, warmupMs: 0, isWarmUp: true });
  return runStage(t, { protocol: 'grpc', images, load, durationMs, warmupMs: 0 });
}

const meanMs = (before: readonly PromSample[], after: readonly PromSample[], name: string): number =>
  ((sumOf(after, `${name}_sum`) - sumOf(before, `${name}_sum`)) / (sumOf(after, `${name}_count`) - sumOf(before, `${name}_count`))) * 1000;

async function main(): Promise<void> {
  const images = await makeImageSet(64, 16, 1);
  const machine = machineInfo();
  const durationMs = Math.max(2000, requests * 3);
  const single = await measureSingleLatency(modelDir, images, requests, 1);
  const hop = await sessionHop();

  const gateway = await startGatewayWith(modelDir, {});
  let gw;
  try {
    const before = await scrapeMetrics(gateway.httpPort);
    const stage = await oneAtATime({ server: gateway, serverName: 'gateway', hasMetrics: true, model }, images, durationMs);
    const after = await scrapeMetrics(gateway.httpPort);
    gw = {
      clientP50: stage.result.latencyMs.p50,
      request: meanMs(before, after, 'gateway_request_duration_seconds'),
      preprocess: meanMs(before, after, 'gateway_preprocess_duration_seconds'),
      queue: meanMs(before, after, 'gateway_queue_duration_seconds'),
      inference: meanMs(before, after, 'gateway_inference_duration_seconds'),
      requests: stage.result.ok,
    };
  } finally {
    await gateway.stop();
  }

  const transport = await startServer('bench/transport-server.ts', []);
  let bareP50: number;
  try {
    bareP50 = (await oneAtATime({ server: transport, serverName: 'transport', hasMetrics: false, model }, images, durationMs)).result.latencyMs.p50;
  } finally {
    await transport.stop();
  }

  const f = (ms: number): string => ms.toFixed(3);
  const lines = [
    `# Low-load overhead: ${model}, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `Command: \`npm run bench:overhead -- --requests ${requests}\`; ${machine.cpuModel}, ${machine.cores} cores, load average ${machine.loadAverage1m}. One request at a time, 64px images, gRPC; gateway means from its own /metrics over the ${gw.requests} measured requests.`,
    '',
    '| what | ms |',
    '|---|---|',
    `| gateway over gRPC, client p50 | ${f(gw.clientP50)} |`,
    `| in-process p50 (preprocess ${f(single.p50PreprocessMs)} + run ${f(single.p50RunMs)}, one thread) | ${f(single.p50TotalMs)} |`,
    `| **overhead** (the difference) | **${f(gw.clientP50 - single.p50TotalMs)}** |`,
    `| bare gRPC call p50 (canned answer, no model work) | ${f(bareP50)} |`,
    `| gateway server side, mean: whole request | ${f(gw.request)} |`,
    `| - preprocess (decode line + sharp) | ${f(gw.preprocess)} |`,
    `| - batch queue | ${f(gw.queue)} |`,
    `| - inference (batch 1, through the session's worker thread) | ${f(gw.inference)} |`,
    `| session.run batch 1 in the calling thread, p50 | ${f(hop.inThreadMs)} |`,
    `| the same through ModelSession's worker thread, p50 | ${f(hop.workerMs)} |`,
    `| the thread hop (difference) | ${f(hop.workerMs - hop.inThreadMs)} |`,
    '',
  ];
  const text = lines.join('\n');
  process.stdout.write(text);
  if (values.out) {
    await mkdir(values.out, { recursive: true });
    await writeFile(join(values.out, 'overhead.md'), text);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
