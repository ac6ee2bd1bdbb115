// What every served model version shares, whatever its kind: the load context handed down by
// the repository, the description shown in ListModels, and the helpers that open instances,
// check graph I/O against the manifest, read labels, warm up and wire batcher metrics.
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { performance } from 'node:perf_hooks';
import type { BatchRunner, Batched, Batcher, BatcherHooks } from '../batching/batcher.js';
import { Admission, type AdmissionHooks, type Deadline } from '../batching/admission.js';
import type { LatencyModel } from '../batching/latency.js';
import type { BatchingConfig } from '../batching/policy.js';
import type { Metrics } from '../metrics.js';
import { type Float32Pool, batchPool } from './buffer-pool.js';
import type { ImageLimits, ImagePreprocessor } from './preprocess.js';
import type { PromptCache } from './prompt-cache.js';
import { ModelSession, type Provider, type SessionOptions } from './session.js';

/** Everything a loader needs besides the manifest and the version folder. */
export interface LoadContext {
  readonly modelName: string;
  readonly modelDir: string;
  readonly session: SessionOptions;
  readonly limits: ImageLimits;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly warmup: boolean;
  /** The gateway's text-embedding cache (CLIP models); a version makes its own when absent. */
  readonly promptCache?: PromptCache;
}

/** How a loaded version is described to operators (ListModels, /v1/models, logs). */
export interface VersionInfo {
  readonly model: string;
  readonly version: string;
  readonly kind: 'image-classifier' | 'clip';
  /** Execution provider actually in use. */
  readonly provider: Provider;
  /** Why the provider differs from the configured one, if it does. */
  readonly providerNote: string | undefined;
  /** Effective batching (maxBatchSize capped by a fixed graph batch axis). */
  readonly batching: BatchingConfig & { readonly defaultTimeoutMs: number };
  readonly labelsCount: number;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

/**
 * Failure streak of a version: after FAILURES_TO_UNHEALTHY failed batches in a row it is marked
 * unhealthy (metric, ListModels, log) but keeps serving, so the next success heals it.
 */
export class VersionHealth {
  static readonly FAILURES_TO_UNHEALTHY = 3;
  private failuresInARow = 0;
  /** Message of the failure that made the version unhealthy; '' while healthy. */
  lastError = '';

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly model: string,
    private readonly version: string,
  ) {
    metrics.modelHealthy.set({ model, version }, 1);
  }

  get healthy(): boolean {
    return this.failuresInARow < VersionHealth.FAILURES_TO_UNHEALTHY;
  }

  succeeded(): void {
    if (!this.healthy) this.logger.info({ model: this.model, version: this.version }, 'model version recovered');
    this.failuresInARow = 0;
    this.lastError = '';
    this.metrics.modelHealthy.set({ model: this.model, version: this.version }, 1);
  }

  failed(error: Error): void {
    this.failuresInARow++;
    this.metrics.batchFailures.inc({ model: this.model, version: this.version });
    if (this.failuresInARow === VersionHealth.FAILURES_TO_UNHEALTHY) {
      this.lastError = error.message;
      this.metrics.modelHealthy.set({ model: this.model, version: this.version }, 0);
      this.logger.error({ model: this.model, version: this.version, failuresInARow: this.failuresInARow, err: error.message }, 'model version unhealthy');
    }
  }
}

/**
 * Counts requests inside a served version, from arrival (before preprocessing) to answer, so a
 * version being replaced or unloaded is released only once nothing uses it any more.
 */
export class ActiveRequests {
  private count = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.count;
  }

  enter(): void {
    this.count++;
  }

  exit(): void {
    this.count--;
    if (this.count === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves once no request is inside. */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * Decodes running at once per version: libuv's pool size (sharp decodes there), so the pool stays
 * busy while requests beyond it wait in the gate's line, where they can be refused or cancelled
 * before any decoding, instead of in libuv's queue, where nothing can reach them.
 */
export const DECODE_PLACES = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

/**
 * The image path every kind shares: admission (images still being decoded hold queue places, so
 * overload is refused before any decoding; a bounded number decode at once and the rest wait in
 * line, checked against their deadline when their turn comes), decoding into a slot, and queueing
 * the slot on the version's image batcher (which knows how many are coming).
 */
export class ImagePipeline<R> {
  private readonly admission: Admission;

  constructor(
    private readonly preprocessor: ImagePreprocessor,
    private readonly batcher: Batcher<Float32Array, R>,
    hooks: AdmissionHooks,
  ) {
    this.admission = new Admission(batcher, { places: DECODE_PLACES, hooks });
  }

  /**
   * Throws at once when `count` more requests may not enter: QUEUE_FULL, or (adaptive policy)
   * DEADLINE_EXCEEDED when the standing wait or the decode line already exceeds `deadline`.
   */
  admit(count = 1, deadline?: Deadline): void {
    this.admission.admit(count, deadline);
  }

  /** Decodes `image` and waits for its batch; `startedAtMs` is the request's arrival (deadlines count from it). */
  async run(image: Uint8Array, options: { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined }, startedAtMs: number): Promise<{ batched: Batched<R>; preprocessMs: number }> {
    const t0 = performance.now();
    const deadline = Number.isFinite(options.timeoutMs) ? { startedAtMs, timeoutMs: options.timeoutMs } : undefined;
    const slot = await this.admission.prepare(deadline, options.signal, () => this.preprocessor.run(image));
    const preprocessMs = performance.now() - t0;
    const batched = await this.submit(slot, options, startedAtMs);
    return { batched, preprocessMs };
  }

  /** Queues an already preprocessed slot (a tensor row sent by the client) and waits for its batch. */
  submit(slot: Float32Array, options: { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined }, startedAtMs: number): Promise<Batched<R>> {
    return this.batcher.submit(slot, { timeoutMs: options.timeoutMs, startedAtMs, signal: options.signal });
  }
}

/**
 * Image batches of one version: copies each request's slot into a pooled batch tensor (the slot
 * goes back to the preprocessor), hands the tensor to the instance's session thread without a
 * copy, and takes its buffer back with the answer. A graph with a fixed batch size gets every
 * batch padded with zero rows to that size; the caller drops the padding rows' outputs.
 */
export class ImageBatches {
  private readonly pool: Float32Pool;

  constructor(
    private readonly preprocessor: ImagePreprocessor,
    maxBatchSize: number,
    instances: number,
    private readonly fixedBatchSize?: number,
  ) {
    this.pool = batchPool(Math.max(maxBatchSize, fixedBatchSize ?? 0) * preprocessor.slotSize, instances);
  }

  /** Rows the graph runs for a batch of `n` requests (n, or the fixed batch size). */
  rows(n: number): number {
    return this.fixedBatchSize ?? n;
  }

  run(session: ModelSession, input: string, output: string, items: readonly Float32Array[]): ReturnType<ModelSession['run']> {
    const slot = this.preprocessor.slotSize;
    const rows = this.rows(items.length);
    const batch = this.pool.take(rows * slot);
    items.forEach((item, i) => {
      batch.set(item, i * slot);
      this.preprocessor.release(item);
    });
    if (rows > items.length) batch.fill(0, items.length * slot);
    return session.run({ [input]: { data: batch, dims: [rows, ...this.preprocessor.itemDims] } }, [output], (b) => this.pool.adopt(b));
  }
}

/** A loaded version of any kind. */
export interface ServedVersion {
  readonly kind: VersionInfo['kind'];
  readonly info: VersionInfo;
  readonly health: VersionHealth;
  /** Requests queued or running on this version. */
  readonly pending: number;
  /** Waits for queued and running work, then releases the sessions. */
  close(): Promise<void>;
}

/**
 * Intra-op threads for each of a model's `instances` sessions: the configured count, or when that
 * is 0, half the cores shared among the instances (at least one). The other half is left to what
 * every request also costs: sharp's decoding on libuv's pool and the protocol on the main thread.
 * onnxruntime's own default (one thread per core per session) oversubscribes the cores with
 * those and with the model's other instances; on the 2-core development host one thread per
 * session served 1.5x the requests of onnxruntime's default (docs/performance.md).
 */
export function intraOpThreadsFor(configured: number, instances: number, cores = availableParallelism()): number {
  if (configured > 0) return configured;
  return Math.max(1, Math.floor(cores / 2 / Math.max(1, instances)));
}

/** Opens `instances` sessions of one graph (each runs one batch at a time). */
export async function openInstances(path: string, instances: number, ctx: LoadContext): Promise<ModelSession[]> {
  const sessions: ModelSession[] = [];
  const options = { ...ctx.session, intraOpThreads: intraOpThreadsFor(ctx.session.intraOpThreads, instances) };
  try {
    for (let i = 0; i < instances; i++) sessions.push(await ModelSession.open(path, options));
  } catch (err) {
    await releaseAll(sessions);
    throw new Error(`cannot open ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const first = sessions[0]!;
  if (first.fallbackReason) ctx.logger.warn({ model: ctx.modelName, path, reason: first.fallbackReason }, 'execution provider fallback');
  ctx.logger.debug({ model: ctx.modelName, path, instances, intraOpThreads: options.intraOpThreads, intraOpSpinning: options.intraOpSpinning === true }, 'sessions opened');
  return sessions;
}

export async function releaseAll(sessions: readonly ModelSession[]): Promise<void> {
  await Promise.allSettled(sessions.map((s) => s.release()));
}

/** Throws unless every name the manifest declares exists in the real graph. */
export function validateIo(session: ModelSession, inputs: readonly string[], outputs: readonly string[]): void {
  const missingIn = inputs.filter((n) => !session.inputNames.includes(n));
  const missingOut = outputs.filter((n) => !session.outputNames.includes(n));
  if (missingIn.length > 0 || missingOut.length > 0) {
    throw new Error(
      `manifest names do not match the graph: ` +
        [
          missingIn.length > 0 ? `inputs ${missingIn.join(', ')} not in graph inputs [${session.inputNames.join(', ')}]` : '',
          missingOut.length > 0 ? `outputs ${missingOut.join(', ')} not in graph outputs [${session.outputNames.join(', ')}]` : '',
        ]
          .filter(Boolean)
          .join('; '),
    );
  }
}

/** Labels inline, or from a file in the version folder, else the model folder. */
export async function readLabels(spec: string | readonly string[], versionDir: string, modelDir: string): Promise<string[]> {
  if (Array.isArray(spec)) return [...(spec as readonly string[])];
  const file = spec as string;
  if (file.includes('/') || file.includes('\\') || file.startsWith('.')) throw new Error(`labels file "${file}" must be a plain file name`);
  for (const dir of [versionDir, modelDir]) {
    try {
      const text = await readFile(join(dir, file), 'utf8');
      return text.split(/\r?\n/).filter((line, i, all) => line.length > 0 || i < all.length - 1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`labels file "${file}" not found in ${versionDir} or ${modelDir}`);
}

/** Metrics and health wiring for one version's batcher and its admission. */
export function batcherHooks(metrics: Metrics, model: string, version: string, health: VersionHealth): BatcherHooks & AdmissionHooks {
  const labels = { model, version };
  // gateway_pending_requests counts every request the version holds: decoding or waiting to
  // (on a CPU host the standing queue forms there, in front of the batch queue), queued, running.
  let inBatcher = 0;
  let upstream = 0;
  return {
    onBatch: (size, durationMs) => {
      metrics.batchSize.observe(labels, size);
      metrics.inferenceDuration.observe(labels, durationMs / 1000);
      health.succeeded();
    },
    onBatchFailed: (_size, error) => health.failed(error),
    onQueued: (queueMs) => metrics.queueDuration.observe(labels, queueMs / 1000),
    onShed: (reason, count) => metrics.shed.inc({ ...labels, reason }, count),
    onDepth: (queueLength, pending) => {
      metrics.queueLength.set(labels, queueLength);
      inBatcher = pending;
      metrics.pendingRequests.set(labels, inBatcher + upstream);
    },
    onUpstream: (decoding, waiting) => {
      metrics.preprocessing.set({ ...labels, state: 'decoding' }, decoding);
      metrics.preprocessing.set({ ...labels, state: 'waiting' }, waiting);
      upstream = decoding + waiting;
      metrics.pendingRequests.set(labels, inBatcher + upstream);
    },
  };
}

/**
 * Runs batches of one and of maxBatchSize on every instance before the version is marked ready:
 * the first session.run pays for allocation, and the latency model gets its first points. It
 * calls the runner directly so warm-up never shows in request metrics.
 */
export async function warmUp<I>(runner: BatchRunner<I, unknown>, instances: number, latency: LatencyModel, maxBatchSize: number, makeItem: () => I): Promise<void> {
  for (let instance = 0; instance < instances; instance++) {
    for (const [round, size] of [1, maxBatchSize, 1, maxBatchSize].entries()) {
      const items = Array.from({ length: size }, makeItem);
      const t0 = performance.now();
      await runner(items, instance);
      if (round >= 2) latency.observe(size, performance.now() - t0);
    }
  }
}
