// The batching decision as a pure function of queue state and the clock (Triton's "dispatch n
// now or wait t", without reading the clock or touching state), so it is unit-tested
// table-driven with a fake clock. The driver in batcher.ts owns timers and I/O.
//
// Two policies. `fixed` is the Triton / TorchServe one: wait up to maxQueueDelayMs for a full
// batch. `adaptive` (the default) also knows how many requests are being decoded for this queue
// right now and the learned run time per batch size: it waits only for companions that are
// already on their way (with none coming it dispatches at once instead of idling the instance for
// the delay; with many coming it lets the batch grow up to the delay), and dispatches early when
// waiting would make the earliest deadline miss.
//
// Why requests on their way, not the arrival rate: on a CPU host the run is a small part of each
// request's cost (decoding and RPC share the cores), so a rule sized from the arrival rate and the
// run time alone believes batch 1 keeps up, dispatches tiny batches and spends the CPU it saves on
// per-batch overhead. Requests already being decoded are a direct signal of companions coming.
//
// A line in front of decoding (every decode place taken, more requests waiting for one) says more:
// the host is saturated, so a batch dispatched now does not use idle capacity, it takes the cores
// from the decodes of the requests behind it, and the queued requests' latency is dominated by that
// line anyway. Then adaptive lets the batch grow for up to saturatedQueueDelayMs instead of
// maxQueueDelayMs: fewer, larger batches cost less CPU per request, which drains the line sooner.
// Without a line (light and moderate load) the short bound keeps latency as it was.

export type BatchingPolicy = 'adaptive' | 'fixed';

/** Batching settings of one model version (units in names). */
export interface BatchingConfig {
  /** `fixed`: Triton-style delay; `adaptive`: load- and deadline-aware (see the file header). */
  readonly policy: BatchingPolicy;
  /** Largest batch handed to one session.run. */
  readonly maxBatchSize: number;
  /** Longest time the oldest queued request waits for companions, in ms. */
  readonly maxQueueDelayMs: number;
  /**
   * adaptive: the same bound while requests wait in line for a decode place (the host is
   * saturated), in ms; the larger of the two applies then. Absent = maxQueueDelayMs.
   */
  readonly saturatedQueueDelayMs?: number;
  /** Batch sizes the model runs best at; a queue that reaches the largest dispatches at once. */
  readonly preferredBatchSizes: readonly number[];
  /** Queued requests beyond this are refused at once (RESOURCE_EXHAUSTED / 429). */
  readonly maxQueueSize: number;
  /** Sessions of the model version that run batches concurrently. */
  readonly instances: number;
}

/** What the policy sees of the queue at one instant. */
export interface QueueSnapshot {
  readonly queueLength: number;
  /** Enqueue time of the oldest request, ms on the policy clock (ignored when the queue is empty). */
  readonly oldestEnqueuedAtMs: number;
  /** Earliest deadline in the queue, ms on the policy clock; Infinity when none has one. */
  readonly earliestDeadlineMs: number;
  /** Instances free to start a batch now. */
  readonly idleInstances: number;
  /** Requests being decoded that will join this queue shortly (adaptive policy only); default 0. */
  readonly incoming?: number;
  /** Requests waiting for a decode place behind those (adaptive policy only); default 0. */
  readonly backlog?: number;
}

export type DispatchReason = 'full' | 'preferred' | 'drained' | 'delay' | 'deadline';

export type Decision =
  | { readonly action: 'idle' }
  | { readonly action: 'dispatch'; readonly size: number; readonly reason: DispatchReason }
  | { readonly action: 'wait'; readonly ms: number };

/** Predicted inference time of a batch of n requests, in ms. */
export type RunTimeEstimate = (batchSize: number) => number;

const IDLE: Decision = { action: 'idle' };

/**
 * A deadline-driven dispatch happens this long before the last useful instant, so timer and
 * event-loop lateness do not turn it into a shed (the shed threshold has no margin).
 */
export const DEADLINE_MARGIN_MS = 2;

/**
 * Decides whether to dispatch a batch now (and how big) or how long to wait.
 *
 * - Nothing queued, or no idle instance: idle (the driver asks again on enqueue or batch end).
 * - A full batch, or the largest preferred size, is ready: dispatch it.
 * - adaptive: waiting any longer would make the earliest deadline miss (deadline minus predicted
 *   run time of the current batch, minus DEADLINE_MARGIN_MS): dispatch now.
 * - adaptive: no request is being decoded for this queue (nothing is on its way): dispatch what
 *   is queued; waiting could only add latency.
 * - The oldest request waited maxQueueDelayMs (adaptive with a backlog in front of decoding: the
 *   larger saturatedQueueDelayMs): dispatch the largest preferred size that fits, or everything
 *   queued.
 * - Otherwise wait until the first of those instants (new arrivals ask again).
 */
export function decide(config: BatchingConfig, queue: QueueSnapshot, nowMs: number, estimateRunMs: RunTimeEstimate): Decision {
  const { queueLength } = queue;
  if (queueLength === 0 || queue.idleInstances <= 0) return IDLE;

  const maxBatch = Math.max(1, config.maxBatchSize);
  if (queueLength >= maxBatch) return { action: 'dispatch', size: maxBatch, reason: 'full' };

  const preferred = config.preferredBatchSizes.filter((n) => n >= 1 && n <= maxBatch);
  const largestPreferred = preferred.length > 0 ? Math.max(...preferred) : 0;
  if (largestPreferred > 0 && queueLength >= largestPreferred) {
    return { action: 'dispatch', size: largestPreferred, reason: 'preferred' };
  }

  const adaptive = config.policy === 'adaptive';
  const slackMs = adaptive ? queue.earliestDeadlineMs - nowMs - estimateRunMs(queueLength) - DEADLINE_MARGIN_MS : Infinity;
  if (slackMs <= 0) return { action: 'dispatch', size: queueLength, reason: 'deadline' };
  if (adaptive && (queue.incoming ?? 0) <= 0) return { action: 'dispatch', size: queueLength, reason: 'drained' };

  const saturated = adaptive && (queue.backlog ?? 0) > 0;
  const boundMs = saturated ? Math.max(config.maxQueueDelayMs, config.saturatedQueueDelayMs ?? 0) : config.maxQueueDelayMs;
  const delayLeftMs = queue.oldestEnqueuedAtMs + boundMs - nowMs;
  if (delayLeftMs <= 0) {
    const fitting = preferred.filter((n) => n <= queueLength);
    const size = fitting.length > 0 ? Math.max(...fitting) : queueLength;
    return { action: 'dispatch', size, reason: 'delay' };
  }

  return { action: 'wait', ms: Math.min(delayLeftMs, slackMs) };
}

/** Largest batch a graph accepts: a fixed first dimension (e.g. 1) caps the configured size. */
export function effectiveMaxBatchSize(configured: number, graphBatchDim: number | undefined): number {
  if (graphBatchDim !== undefined && graphBatchDim > 0) return Math.min(configured, graphBatchDim);
  return configured;
}
