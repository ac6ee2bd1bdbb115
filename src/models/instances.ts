// The instances of a model version and what their graph must satisfy: opening N sessions of one
// graph with their intra-op thread count, checking the manifest's tensor names against the graph,
// deriving the batching a graph allows (a fixed batch axis caps it), and the warm-up that runs
// before the version is marked ready.
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BatchRunner } from '../batching/batcher.js';
import type { LatencyModel } from '../batching/latency.js';
import { type BatchingConfig, effectiveMaxBatchSize } from '../batching/policy.js';
import type { LoadContext } from './served.js';
import { ModelSession } from './session.js';

/**
 * Intra-op threads for each of a model's `instances` sessions: the configured count, or when that
 * is 0, half the cores shared among the instances (at least one). The other half is left to what
 * every request also costs: sharp's decoding on libuv's pool and the protocol on the main thread.
 * onnxruntime's own default (one thread per core per session) oversubscribes the cores with
 * those and with the model's other instances (measurements in docs/performance.md).
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
  if (first.priorityProblem) ctx.logger.warn({ model: ctx.modelName, path, reason: first.priorityProblem }, 'session thread priority unchanged');
  ctx.logger.debug(
    { model: ctx.modelName, path, instances, intraOpThreads: options.intraOpThreads, intraOpSpinning: options.intraOpSpinning === true, niceOffset: options.niceOffset ?? 0 },
    'sessions opened',
  );
  return sessions;
}

/** Releases every session, whatever fails. */
export async function releaseAll(sessions: readonly ModelSession[]): Promise<void> {
  await Promise.allSettled(sessions.map((s) => s.release()));
}

/** What a version holds until it closes (`ActiveRequests` and `Batcher` have these shapes). */
export interface VersionParts {
  readonly active: { idle(): Promise<void> };
  readonly batchers: readonly { drain(): Promise<void> }[];
  readonly sessions: readonly ModelSession[];
  /** Drops what the version cached (answers, prompt embeddings). */
  readonly forget?: () => void;
}

/** Closes a version of any kind: waits until no request is inside, drains its batchers, forgets its caches, releases its sessions. */
export async function closeVersion(parts: VersionParts): Promise<void> {
  await parts.active.idle();
  await Promise.all(parts.batchers.map((b) => b.drain()));
  parts.forget?.();
  await releaseAll(parts.sessions);
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

/**
 * The batching a graph allows: the manifest's, with maxBatchSize capped by a fixed batch axis
 * (smaller batches are then padded up to it) and preferred sizes beyond the cap dropped.
 */
export function graphBatching<B extends BatchingConfig>(configured: B, fixedBatchSize: number | undefined): B {
  const maxBatchSize = effectiveMaxBatchSize(configured.maxBatchSize, fixedBatchSize);
  return { ...configured, maxBatchSize, preferredBatchSizes: configured.preferredBatchSizes.filter((n) => n <= maxBatchSize) };
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
