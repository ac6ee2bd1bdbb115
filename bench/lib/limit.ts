// The physical limit: what this machine does with the model and images in-process, no network,
// no queue: the gateway's own preprocessing (sharp decode + resize + normalize) plus session.run,
// over all cores. Two layouts are tried, one worker thread per core with one intra-op thread
// each, and one worker with one intra-op thread per core, at several batch sizes; the best
// images/s is the limit. The best point is then measured again, over its own window, and that
// second measurement is the limit's figure: short windows are noisy (and slower while onnxruntime
// and V8 warm up), and the best of several noisy points was chosen partly by its noise, so choosing
// and measuring use different samples.
// Also the single-request latency (decode + preprocess + run at batch 1).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type ClassifierManifest, parseManifest } from '../../src/models/manifest.js';
import type { ImageSet } from './images.js';
import type { LimitReply, LimitRequest, LimitWorkerData } from './limit-worker.js';
import { currentPinning, parseCpuList, serverCommandPrefix } from './pinning.js';
import { ProgressBar } from './progress.js';

/** One measured point of the limit search. */
export interface LimitPoint {
  /** e.g. "2 workers x 1 thread" */
  readonly layout: string;
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly batchSize: number;
  readonly imagesPerSec: number;
  /** CPU of the limit's process (every thread) per image over the measured window, ms. */
  readonly cpuMsPerImage: number;
  /** The first worker's measured window, CLOCK_MONOTONIC ns (for profilers). */
  readonly windowNs?: readonly [number, number];
}

export interface LimitResult {
  readonly images: string;
  /** The search: every layout x batch size, `stageMs` each. */
  readonly points: readonly LimitPoint[];
  /** The limit: the best point of the search measured again over `confirmMs` when given, else that point. */
  readonly best: LimitPoint;
  /** The search's best point as the search measured it (absent in reports from before the confirmation). */
  readonly selected?: LimitPoint;
}

export interface SingleLatency {
  readonly images: string;
  readonly intraOpThreads: number;
  readonly iterations: number;
  /** Medians, ms. */
  readonly p50TotalMs: number;
  readonly p50PreprocessMs: number;
  readonly p50RunMs: number;
  readonly meanTotalMs: number;
}

class LimitWorker {
  private constructor(private readonly worker: Worker) {}

  static async start(data: LimitWorkerData): Promise<LimitWorker> {
    const url = new URL('./limit-worker.ts', import.meta.url).href;
    const worker = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`, { eval: true, workerData: data });
    const w = new LimitWorker(worker);
    await w.next();
    return w;
  }

  next(): Promise<LimitReply> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: LimitReply): void => {
        cleanup();
        if (msg.type === 'error') reject(new Error(msg.message));
        else resolve(msg);
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const cleanup = (): void => void this.worker.off('message', onMessage).off('error', onError);
      this.worker.on('message', onMessage).on('error', onError);
    });
  }

  async ask(request: LimitRequest): Promise<LimitReply> {
    const reply = this.next();
    this.worker.postMessage(request);
    return reply;
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

async function workerData(modelDir: string, images: ImageSet, intraOpThreads: number, provider: 'cpu' | 'cuda'): Promise<LimitWorkerData> {
  const manifest = parseManifest(JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8'))) as ClassifierManifest;
  if (manifest.kind !== 'image-classifier') throw new Error(`${modelDir} is not an image classifier`);
  return {
    modelPath: join(modelDir, '1', manifest.file),
    inputName: manifest.inputs[0]!.name,
    outputName: manifest.outputs[0]!.name,
    preprocessing: manifest.preprocessing,
    provider,
    intraOpThreads,
    images: images.images.map((b) => new Uint8Array(b)),
  };
}

/**
 * Searches layouts x batch sizes, `stageMs` of measurement per point (after a short warm-up); with
 * `confirmMs`, measures the best point again for that long and reports that as `best`.
 */
export async function measureLimit(
  modelDir: string,
  images: ImageSet,
  batchSizes: readonly number[],
  stageMs: number,
  provider: 'cpu' | 'cuda' = 'cpu',
  confirmMs = 0,
): Promise<LimitResult> {
  const cores = availableParallelism();
  const layouts = cores > 1 ? [{ workers: cores, intraOpThreads: 1 }, { workers: 1, intraOpThreads: cores }] : [{ workers: 1, intraOpThreads: 1 }];
  const points: LimitPoint[] = [];
  const bar = new ProgressBar(`in-process limit, ${images.name}`);
  const total = layouts.length * batchSizes.length + (confirmMs > 0 ? 1 : 0);
  for (const layout of layouts) {
    await withWorkers(modelDir, images, layout, provider, async (workers) => {
      for (const batchSize of batchSizes) {
        bar.update(points.length / total, `${layout.workers}x${layout.intraOpThreads} batch ${batchSize}`);
        points.push(await measurePoint(workers, layout, batchSize, stageMs));
      }
    });
  }
  const selected = points.reduce((a, b) => (b.imagesPerSec > a.imagesPerSec ? b : a));
  let best = selected;
  if (confirmMs > 0) {
    bar.update(points.length / total, `${selected.layout} batch ${selected.batchSize}, again over ${confirmMs} ms`);
    best = await withWorkers(modelDir, images, selected, provider, (workers) => measurePoint(workers, selected, selected.batchSize, confirmMs));
  }
  bar.done();
  return { images: images.name, points, best, ...(confirmMs > 0 ? { selected } : {}) };
}

interface Layout {
  readonly workers: number;
  readonly intraOpThreads: number;
}

async function withWorkers<T>(modelDir: string, images: ImageSet, layout: Layout, provider: 'cpu' | 'cuda', fn: (workers: LimitWorker[]) => Promise<T>): Promise<T> {
  const data = await workerData(modelDir, images, layout.intraOpThreads, provider);
  const workers = await Promise.all(Array.from({ length: layout.workers }, () => LimitWorker.start(data)));
  try {
    return await fn(workers);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
}

async function measurePoint(workers: readonly LimitWorker[], layout: Layout, batchSize: number, stageMs: number): Promise<LimitPoint> {
  const replies = await Promise.all(workers.map((w) => w.ask({ type: 'throughput', batchSize, warmupMs: Math.min(300, stageMs / 2), durationMs: stageMs })));
  let imagesPerSec = 0;
  for (const r of replies) if (r.type === 'throughput') imagesPerSec += r.images / r.seconds;
  // The workers' windows run side by side; the first one's process CPU per second over all their images.
  const first = replies[0]!;
  const cpuMsPerImage = first.type === 'throughput' ? ((first.cpuSeconds / first.seconds) * 1000) / imagesPerSec : NaN;
  const windowNs = first.type === 'throughput' ? first.windowNs : undefined;
  const { workers: n, intraOpThreads } = layout;
  return { layout: `${n} worker${n > 1 ? 's' : ''} x ${intraOpThreads} thread${intraOpThreads > 1 ? 's' : ''}`, workers: n, intraOpThreads, batchSize, imagesPerSec, cpuMsPerImage, ...(windowNs ? { windowNs } : {}) };
}

/** Single requests one after another in one worker (decode + preprocess + run batch 1). */
export async function measureSingleLatency(modelDir: string, images: ImageSet, iterations: number, intraOpThreads = 0, provider: 'cpu' | 'cuda' = 'cpu'): Promise<SingleLatency> {
  const worker = await LimitWorker.start(await workerData(modelDir, images, intraOpThreads, provider));
  try {
    const reply = await worker.ask({ type: 'latency', iterations });
    if (reply.type !== 'latency') throw new Error('unexpected reply');
    const mean = reply.totalMs.reduce((s, v) => s + v, 0) / reply.totalMs.length;
    return {
      images: images.name,
      intraOpThreads,
      iterations,
      p50TotalMs: median(reply.totalMs),
      p50PreprocessMs: median(reply.preprocessMs),
      p50RunMs: median(reply.runMs),
      meanTotalMs: mean,
    };
  } finally {
    await worker.stop();
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** What limit-process.ts measures, given as its one JSON argument. */
export interface LimitJob {
  readonly modelDir: string;
  readonly provider: 'cpu' | 'cuda';
  readonly seed: number;
  readonly stageMs: number;
  /** Each search's best point measured again for this long (0 or absent: not measured again). */
  readonly confirmMs?: number;
  /** One limit search per image size. */
  readonly sets: readonly { readonly size: number; readonly batchSizes: readonly number[] }[];
  /** Single-request latency on the first set, once per intra-op thread setting (0 = onnxruntime's default). */
  readonly single?: { readonly iterations: number; readonly intraOpThreads: readonly number[] };
  /**
   * Profiling: once its first images are made (libuv's and libvips's threads exist), print `ready`
   * and wait for a line on stdin before measuring, so a sampler attached meanwhile sees every thread.
   */
  readonly holdUntilGo?: boolean;
}

export interface LimitJobResult {
  readonly limits: LimitResult[];
  readonly singles: SingleLatency[];
  /** Cpus_allowed_list of this process (Linux): where it actually ran. */
  readonly cpus?: string;
  readonly pid: number;
}

/**
 * Runs a LimitJob in its own process (bench/lib/limit-process.ts), on the server CPUs when the run
 * is pinned; the process exits when done, so nothing of it runs beside the servers measured later.
 */
export async function measureLimitsIn(
  job: LimitJob,
  options: { nodeArgs?: readonly string[]; cwd?: string; onSpawn?: (pid: number) => void; onReady?: (pid: number) => Promise<void> } = {},
): Promise<LimitJobResult> {
  const [command, ...prefixArgs] = [...serverCommandPrefix(), process.execPath];
  const script = fileURLToPath(new URL('./limit-process.ts', import.meta.url));
  const { onReady } = options;
  const args = [...prefixArgs, ...(options.nodeArgs ?? []), '--import', import.meta.resolve('tsx'), script, JSON.stringify({ ...job, holdUntilGo: onReady !== undefined })];
  const child = spawn(command, args, { stdio: [onReady ? 'pipe' : 'ignore', 'pipe', 'inherit'], ...(options.cwd ? { cwd: options.cwd } : {}) });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  let stdout = '';
  let released = false;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (!onReady || released || !/^ready$/m.test(stdout)) return;
    released = true;
    void onReady(child.pid!).then(
      () => child.stdin!.end('go\n'),
      () => child.kill(),
    );
  });
  const code = await new Promise<number | null>((resolve, reject) => child.once('exit', resolve).once('error', reject));
  if (code !== 0) throw new Error(`the in-process limit exited with code ${code}`);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as LimitJobResult;
  const pinning = currentPinning();
  if (pinning && result.cpus !== undefined && parseCpuList(result.cpus).join(',') !== pinning.serverCpus) {
    throw new Error(`the in-process limit ran on CPUs ${result.cpus}, expected ${pinning.serverCpus}`);
  }
  return result;
}
