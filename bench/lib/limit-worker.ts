// Worker thread of the in-process limit (limit.ts): its own onnxruntime session (through the
// gateway's src/models/ort.ts) and the gateway's own ImagePreprocessor (sharp), no network. It
// measures images per second at a batch size, decoding the next batch (sharp, on libuv's pool)
// while the current one runs, or the latency of single requests done one after another.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { Preprocessing } from '../../src/models/manifest.js';
import { openOrtSession, runOrtSession } from '../../src/models/ort.js';
import { ImagePreprocessor } from '../../src/models/preprocess.js';

export interface LimitWorkerData {
  readonly modelPath: string;
  readonly inputName: string;
  readonly outputName: string;
  readonly preprocessing: Preprocessing;
  readonly provider: 'cpu' | 'cuda';
  readonly intraOpThreads: number;
  readonly images: readonly Uint8Array[];
}

export type LimitRequest =
  | { readonly type: 'throughput'; readonly batchSize: number; readonly warmupMs: number; readonly durationMs: number }
  | { readonly type: 'latency'; readonly iterations: number };

export type LimitReply =
  | { readonly type: 'ready' }
  /** cpuSeconds: CPU of the whole process (every thread) over this worker's measured window. */
  | { readonly type: 'throughput'; readonly images: number; readonly seconds: number; readonly cpuSeconds: number; readonly windowNs: readonly [number, number] }
  | { readonly type: 'latency'; readonly totalMs: number[]; readonly preprocessMs: number[]; readonly runMs: number[] }
  | { readonly type: 'error'; readonly message: string };

const data = workerData as LimitWorkerData;
const port = parentPort!;
const pre = new ImagePreprocessor(data.preprocessing, { maxImageBytes: 10 * 2 ** 20, maxImagePixels: 40_000_000 });
const { session } = await openOrtSession(data.modelPath, { provider: data.provider, intraOpThreads: data.intraOpThreads });
let cursor = 0;

/** Decodes and preprocesses `n` images (concurrently, as the gateway does per request) into one batch tensor. */
async function prepare(n: number): Promise<Float32Array> {
  const slots = await Promise.all(Array.from({ length: n }, () => pre.run(data.images[cursor++ % data.images.length]!)));
  const batch = new Float32Array(n * pre.slotSize);
  slots.forEach((slot, i) => batch.set(slot, i * pre.slotSize));
  return batch;
}

async function run(batch: Float32Array, n: number): Promise<number> {
  const out = await runOrtSession(session, { [data.inputName]: { data: batch, dims: [n, ...pre.itemDims] } }, [data.outputName]);
  // Top-1 per item, as the gateway's postprocessing reads every score.
  const scores = out[data.outputName]!.data;
  const classes = scores.length / n;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[i * classes + c]! > scores[i * classes + best]!) best = c;
    sum += best;
  }
  return sum;
}

async function throughput(batchSize: number, warmupMs: number, durationMs: number): Promise<{ images: number; seconds: number; cpuSeconds: number; windowNs: [number, number] }> {
  let next = prepare(batchSize);
  const warmEnd = performance.now() + warmupMs;
  while (performance.now() < warmEnd) {
    const batch = await next;
    next = prepare(batchSize);
    await run(batch, batchSize);
  }
  let images = 0;
  const cpu0 = process.cpuUsage(); // process-wide, also in a worker thread
  const startNs = Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, as `perf record -k mono` stamps samples
  const t0 = performance.now();
  const end = t0 + durationMs;
  while (performance.now() < end) {
    const batch = await next;
    next = prepare(batchSize); // decode the next batch on libuv's pool while this one runs
    await run(batch, batchSize);
    images += batchSize;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const endNs = Number(process.hrtime.bigint());
  await next;
  return { images, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, windowNs: [startNs, endNs] };
}

async function latency(iterations: number): Promise<{ totalMs: number[]; preprocessMs: number[]; runMs: number[] }> {
  const totalMs: number[] = [];
  const preprocessMs: number[] = [];
  const runMs: number[] = [];
  for (let i = 0; i < iterations + 20; i++) {
    const t0 = performance.now();
    const batch = await prepare(1);
    const t1 = performance.now();
    await run(batch, 1);
    const t2 = performance.now();
    if (i < 20) continue; // warm-up
    totalMs.push(t2 - t0);
    preprocessMs.push(t1 - t0);
    runMs.push(t2 - t1);
  }
  return { totalMs, preprocessMs, runMs };
}

port.on('message', (msg: LimitRequest) => {
  const work: Promise<LimitReply> =
    msg.type === 'throughput'
      ? throughput(msg.batchSize, msg.warmupMs, msg.durationMs).then((r) => ({ type: 'throughput', ...r }))
      : latency(msg.iterations).then((r) => ({ type: 'latency', ...r }));
  work.then(
    (reply) => port.postMessage(reply),
    (err: unknown) => port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) } satisfies LimitReply),
  );
});
port.postMessage({ type: 'ready' } satisfies LimitReply);
