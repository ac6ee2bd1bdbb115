// The request queue of one model version: bounded length, per-request deadlines and cancellation,
// typed rejects. It owns no timers; batcher.ts drives it and admission.ts decides who may enter.
import { type GatewayError, queueFull } from '../errors.js';

/** One queued request: an opaque item plus what the queue needs to admit, order and drop it. */
export interface QueueEntry<I, R> {
  readonly item: I;
  readonly enqueuedAtMs: number;
  /** Arrival of the request (before preprocessing), for deadline messages. */
  readonly startedAtMs: number;
  /** Absolute deadline on the batcher clock; Infinity for none. */
  readonly deadlineMs: number;
  settled: boolean;
  /** Opaque trace context of the request (BatcherHooks.traceOf); undefined when tracing is off. */
  readonly trace?: unknown;
  readonly resolve: (value: R) => void;
  readonly reject: (error: GatewayError) => void;
  /** Detaches the abort listener once the entry leaves the queue. */
  detach: () => void;
}

/** FIFO of pending requests with a hard length limit. */
export class BoundedQueue<I, R> {
  private entries: QueueEntry<I, R>[] = [];

  constructor(private readonly maxQueueSize: number) {}

  get length(): number {
    return this.entries.length;
  }

  /** Adds an entry or throws QUEUE_FULL naming the limit. */
  push(entry: QueueEntry<I, R>): void {
    if (this.entries.length >= this.maxQueueSize) throw queueFull({ queued: this.entries.length, maxQueueSize: this.maxQueueSize });
    this.entries.push(entry);
  }

  /** Removes one entry (cancelled); returns whether it was still queued. */
  remove(entry: QueueEntry<I, R>): boolean {
    const index = this.entries.indexOf(entry);
    if (index < 0) return false;
    this.entries.splice(index, 1);
    return true;
  }

  /**
   * Takes up to `count` of the oldest entries that can still finish by their deadline if a run
   * ending at `finishMs` starts now; the ones passed over because they cannot are removed and
   * returned as `hopeless`, so no compute is spent on them. With `groupOf`, only entries of the
   * oldest viable entry's group are taken; the others keep their places.
   */
  takeViable(count: number, finishMs: number, groupOf?: (item: I) => string): { batch: QueueEntry<I, R>[]; hopeless: QueueEntry<I, R>[] } {
    const batch: QueueEntry<I, R>[] = [];
    const hopeless: QueueEntry<I, R>[] = [];
    const passed: QueueEntry<I, R>[] = [];
    let group: string | undefined;
    let i = 0;
    for (; i < this.entries.length && batch.length < count; i++) {
      const entry = this.entries[i]!;
      if (entry.deadlineMs < finishMs) {
        hopeless.push(entry);
        continue;
      }
      if (groupOf) {
        const g = groupOf(entry.item);
        group ??= g;
        if (g !== group) {
          passed.push(entry);
          continue;
        }
      }
      batch.push(entry);
    }
    this.entries.splice(0, i, ...passed);
    return { batch, hopeless };
  }

  /** Removes and returns every entry whose deadline falls before `latestUsefulMs(entry)`. */
  removeExpired(nowMs: number, minRunMs: number): QueueEntry<I, R>[] {
    const expired: QueueEntry<I, R>[] = [];
    const kept: QueueEntry<I, R>[] = [];
    for (const entry of this.entries) {
      (entry.deadlineMs <= nowMs + minRunMs ? expired : kept).push(entry);
    }
    if (expired.length > 0) this.entries = kept;
    return expired;
  }

  /** Removes and returns everything (shutdown without drain). */
  clear(): QueueEntry<I, R>[] {
    const all = this.entries;
    this.entries = [];
    return all;
  }

  oldestEnqueuedAtMs(): number {
    return this.entries[0]?.enqueuedAtMs ?? Infinity;
  }

  earliestDeadlineMs(): number {
    let earliest = Infinity;
    for (const entry of this.entries) if (entry.deadlineMs < earliest) earliest = entry.deadlineMs;
    return earliest;
  }
}
