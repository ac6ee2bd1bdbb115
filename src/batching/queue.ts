// The admission queue of one model version: bounded length, per-request deadlines and
// cancellation, typed rejects. It owns no timers; batcher.ts drives it.
import { GatewayError } from '../errors.js';

/** One queued request: an opaque item plus what the queue needs to admit, order and drop it. */
export interface QueueEntry<I, R> {
  readonly item: I;
  readonly enqueuedAtMs: number;
  /** Arrival of the request (before preprocessing), for deadline messages. */
  readonly startedAtMs: number;
  /** Absolute deadline on the batcher clock; Infinity for none. */
  readonly deadlineMs: number;
  settled: boolean;
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
    if (this.entries.length >= this.maxQueueSize) {
      throw new GatewayError('QUEUE_FULL', `queue full: ${this.entries.length} requests waiting (maxQueueSize ${this.maxQueueSize}); retry later`, {
        retryAfterSeconds: 1,
      });
    }
    this.entries.push(entry);
  }

  /** Removes one entry (cancelled); returns whether it was still queued. */
  remove(entry: QueueEntry<I, R>): boolean {
    const index = this.entries.indexOf(entry);
    if (index < 0) return false;
    this.entries.splice(index, 1);
    return true;
  }

  /** Takes the `count` oldest entries. */
  take(count: number): QueueEntry<I, R>[] {
    return this.entries.splice(0, count);
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
