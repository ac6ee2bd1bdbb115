// The batching driver of one model version: puts requests into the bounded queue, owns the one
// re-armed timer, asks the pure policy what to do, hands batches to the runner on a free instance,
// and answers every waiter exactly once. Whether a request may enter at all is admission.ts's
// decision; this file knows nothing of images, sessions or preparation.
import { performance } from 'node:perf_hooks';
import type { Cancellation } from '../cancellation.js';
import { GatewayError, cancelledBy, deadlineExceeded } from '../errors.js';
import { LatencyModel } from './latency.js';
import { type BatchingConfig, type DispatchReason, decide } from './policy.js';
import { BoundedQueue, type QueueEntry } from './queue.js';

/** Runs one batch on one instance; must return exactly one result per item, in order. */
export type BatchRunner<I, R> = (items: readonly I[], instance: number) => Promise<readonly R[]>;

/** A request's answer plus where its time went. */
export interface Batched<R> {
  readonly result: R;
  /** Time from enqueue to the start of its batch, ms. */
  readonly queueMs: number;
  /** session time of the whole batch, ms. */
  readonly inferenceMs: number;
  readonly batchSize: number;
}

export interface SubmitOptions {
  /** Deadline in ms from `startedAtMs`; omitted = none. */
  readonly timeoutMs?: number;
  /** When the request arrived, on the batcher clock (work before submit counts against the deadline); default now. */
  readonly startedAtMs?: number;
  /** Aborting removes the request from the queue (client went away). */
  readonly signal?: Cancellation;
}

/** Observers for metrics; all optional, all synchronous and cheap. */
export interface BatcherHooks {
  onBatch?(batchSize: number, durationMs: number, reason: DispatchReason): void;
  /** A batch failed (runner threw or broke its contract); every waiter got `error`. */
  onBatchFailed?(batchSize: number, error: GatewayError): void;
  onQueued?(queueMs: number): void;
  onShed?(reason: 'deadline' | 'cancelled', count: number): void;
  onDepth?(queueLength: number, pending: number): void;
  /** Tracing: the submitting request's trace context, kept opaque with its queue entry. */
  traceOf?(): unknown;
  /** Tracing: a batch ran (or failed) from `startMs` to `endMs` with these requests' trace contexts. */
  onBatchTrace?(traces: readonly unknown[], startMs: number, endMs: number, failed: boolean): void;
}

/** Called for each request as its batch starts: batch start, arrival and enqueue times, ms. */
export type StartListener = (startMs: number, arrivedAtMs: number, enqueuedAtMs: number) => void;

export interface BatcherOptions<I = unknown> {
  /** Monotonic clock in ms; tests inject a fake one. */
  readonly clock?: () => number;
  readonly latency?: LatencyModel;
  readonly hooks?: BatcherHooks;
  /**
   * The group of an item: a batch holds items of one group only (the oldest viable item's), e.g.
   * tensors of one shape; the rest keep their places for the next batch. Absent = one group.
   */
  readonly groupOf?: (item: I) => string;
}

/** Dynamic batcher: queue + policy + driver for one model version. */
export class Batcher<I, R> {
  readonly latency: LatencyModel;
  /** Monotonic clock, ms; deadlines and `startedAtMs` are on it. */
  readonly clock: () => number;
  /** Requests being prepared upstream that will be submitted shortly; see `setIncoming`. */
  private incoming = 0;
  /** Requests waiting for a place to be prepared, behind `incoming`. */
  private backlog = 0;
  private readonly queue: BoundedQueue<I, Batched<R>>;
  private readonly startListeners: StartListener[] = [];
  private readonly hooks: BatcherHooks;
  private readonly groupOf: ((item: I) => string) | undefined;
  private readonly idleInstances: number[];
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Infinity;
  private scheduleQueued = false;
  private rescheduleQueued = false;
  private inFlight = 0;
  private closedBy: GatewayError | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly config: BatchingConfig,
    private readonly runner: BatchRunner<I, R>,
    options: BatcherOptions<I> = {},
  ) {
    this.queue = new BoundedQueue(config.maxQueueSize);
    this.clock = options.clock ?? (() => performance.now());
    this.latency = options.latency ?? new LatencyModel();
    this.hooks = options.hooks ?? {};
    this.groupOf = options.groupOf;
    this.idleInstances = Array.from({ length: Math.max(1, config.instances) }, (_, i) => i).reverse();
  }

  /** Requests queued or in a running batch. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  get queueLength(): number {
    return this.queue.length;
  }

  /** Why new work is refused, once `close` was called. */
  get closedReason(): GatewayError | undefined {
    return this.closedBy;
  }

  /**
   * Queues one item; resolves with its result once its batch ran. Rejects with QUEUE_FULL at
   * once when the queue is full, DEADLINE_EXCEEDED when it can no longer meet its deadline,
   * CANCELLED when its signal aborts first, or the batch's error.
   */
  submit(item: I, options: SubmitOptions = {}): Promise<Batched<R>> {
    if (this.closedBy) return Promise.reject(this.closedBy);
    if (options.signal?.aborted) {
      // Cancelled while it was being preprocessed: still a request dropped before inference.
      this.hooks.onShed?.('cancelled', 1);
      return Promise.reject(cancelledBy({ stage: 'before inference' }));
    }
    const nowMs = this.clock();
    const startedAtMs = options.startedAtMs ?? nowMs;
    const deadlineMs = options.timeoutMs === undefined ? Infinity : startedAtMs + options.timeoutMs;
    const runMs = this.predictedRunMs(1);
    if (deadlineMs <= nowMs + runMs) {
      this.hooks.onShed?.('deadline', 1);
      return Promise.reject(queueDeadline(options.timeoutMs ?? 0, nowMs - startedAtMs, runMs));
    }
    return new Promise<Batched<R>>((resolve, reject) => {
      const entry: QueueEntry<I, Batched<R>> = {
        item,
        enqueuedAtMs: nowMs,
        startedAtMs,
        deadlineMs,
        settled: false,
        trace: this.hooks.traceOf?.(),
        resolve: (value) => {
          if (entry.settled) return;
          entry.settled = true;
          entry.detach();
          resolve(value);
        },
        reject: (error) => {
          if (entry.settled) return;
          entry.settled = true;
          entry.detach();
          reject(error);
        },
        detach: () => {},
      };
      this.queue.push(entry); // throws QUEUE_FULL, which rejects this promise
      const signal = options.signal;
      if (signal) {
        const onAbort = (): void => {
          if (this.queue.remove(entry)) {
            this.hooks.onShed?.('cancelled', 1);
            this.reportDepth();
            this.maybeDrained();
          }
          entry.reject(cancelledBy({ stage: 'before inference' }));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        entry.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.reportDepth();
      this.scheduleSoon();
    });
  }

  /** Resolves once nothing is queued or running. */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Refuses new work with `reason`; with `rejectQueued`, also fails what is still queued. */
  close(reason: GatewayError, rejectQueued = false): void {
    this.closedBy = reason;
    if (rejectQueued) {
      for (const entry of this.queue.clear()) entry.reject(reason);
      this.reportDepth();
      this.maybeDrained();
    }
  }

  /**
   * Asks the policy once the current synchronous burst of submits is over (a request's prompts,
   * or several requests decoded in one tick, are queued together), not once per submit: the
   * adaptive policy would otherwise dispatch the first of a burst alone.
   */
  private scheduleSoon(): void {
    if (this.scheduleQueued) return;
    this.scheduleQueued = true;
    queueMicrotask(() => {
      this.scheduleQueued = false;
      this.schedule();
    });
  }

  /** Runs the policy until it says wait or idle, then re-arms the one timer. */
  private schedule(): void {
    for (;;) {
      const nowMs = this.clock();
      this.shedExpired(nowMs);
      const decision = decide(
        this.config,
        {
          queueLength: this.queue.length,
          oldestEnqueuedAtMs: this.queue.oldestEnqueuedAtMs(),
          earliestDeadlineMs: this.queue.earliestDeadlineMs(),
          idleInstances: this.idleInstances.length,
          incoming: this.incoming,
          backlog: this.backlog,
        },
        nowMs,
        (n) => this.latency.estimateMs(n),
      );
      if (decision.action === 'dispatch') {
        this.dispatch(decision.size, decision.reason, nowMs);
        continue;
      }
      let wakeMs = decision.action === 'wait' ? nowMs + decision.ms : Infinity;
      // While requests wait (even with every instance busy), wake when the first becomes hopeless.
      if (this.queue.length > 0) wakeMs = Math.min(wakeMs, this.queue.earliestDeadlineMs() - this.predictedRunMs(1));
      this.arm(wakeMs, nowMs);
      return;
    }
  }

  private arm(wakeMs: number, nowMs: number): void {
    if (wakeMs === this.timerAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = wakeMs;
    if (!Number.isFinite(wakeMs)) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAtMs = Infinity;
        this.schedule();
      },
      Math.max(0, wakeMs - nowMs),
    );
  }

  private shedExpired(nowMs: number): void {
    const estimate = this.predictedRunMs(1);
    const expired = this.queue.removeExpired(nowMs, estimate);
    if (expired.length === 0) return;
    this.hooks.onShed?.('deadline', expired.length);
    for (const entry of expired) {
      entry.reject(queueDeadline(entry.deadlineMs - entry.startedAtMs, nowMs - entry.startedAtMs, estimate));
    }
    this.reportDepth();
    this.maybeDrained();
  }

  /**
   * Sets how many requests are being prepared for this queue right now, and how many wait for a
   * place to be: the adaptive policy waits for the first instead of dispatching a batch without
   * them, longer while the second are there (admission.ts reports both).
   */
  setIncoming(count: number, backlog = 0): void {
    // Fewer on the way, or the line gone (the shorter delay bound applies again): ask the policy.
    const sooner = count < this.incoming || (backlog <= 0 && this.backlog > 0);
    this.incoming = Math.max(0, count);
    this.backlog = Math.max(0, backlog);
    if (sooner && this.queue.length > 0) this.scheduleAfterTurn();
  }

  /**
   * Asks the policy once this turn's promise continuations have run. A request whose decode just
   * ended is reported here before its own continuation submits it: asked in a microtask, the
   * policy would dispatch the waiting batch one request short of the one it was waiting for.
   */
  private scheduleAfterTurn(): void {
    if (this.rescheduleQueued) return;
    this.rescheduleQueued = true;
    setImmediate(() => {
      this.rescheduleQueued = false;
      this.schedule();
    });
  }

  /** Calls `listener` for each request as its batch starts (admission learns the waits from it). */
  onStart(listener: StartListener): void {
    this.startListeners.push(listener);
  }

  private dispatch(size: number, reason: DispatchReason, startMs: number): void {
    // Requests that would miss their deadline even if this batch started now are shed, not run.
    const estimate = this.predictedRunMs(size);
    const { batch: entries, hopeless } = this.queue.takeViable(size, startMs + estimate, this.groupOf);
    if (hopeless.length > 0) {
      this.hooks.onShed?.('deadline', hopeless.length);
      for (const entry of hopeless) entry.reject(queueDeadline(entry.deadlineMs - entry.startedAtMs, startMs - entry.startedAtMs, estimate));
      this.maybeDrained();
    }
    if (entries.length === 0) {
      this.reportDepth();
      return;
    }
    const instance = this.idleInstances.pop()!;
    this.inFlight += entries.length;
    this.reportDepth();
    for (const entry of entries) {
      this.hooks.onQueued?.(startMs - entry.enqueuedAtMs);
      for (const listener of this.startListeners) listener(startMs, entry.startedAtMs, entry.enqueuedAtMs);
    }

    const finish = (): void => {
      this.inFlight -= entries.length;
      this.idleInstances.push(instance);
      this.reportDepth();
      this.maybeDrained();
      this.schedule();
    };

    let run: Promise<readonly R[]>;
    try {
      run = this.runner(
        entries.map((e) => e.item),
        instance,
      );
    } catch (err) {
      run = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    run.then(
      (results) => {
        const durationMs = this.clock() - startMs;
        if (results.length !== entries.length) {
          const error = new GatewayError('INFERENCE_FAILED', `batch runner returned ${results.length} results for ${entries.length} requests`);
          for (const entry of entries) entry.reject(error);
          this.hooks.onBatchFailed?.(entries.length, error);
          this.hooks.onBatchTrace?.(entries.map((e) => e.trace), startMs, startMs + durationMs, true);
        } else {
          this.latency.observe(entries.length, durationMs);
          this.hooks.onBatch?.(entries.length, durationMs, reason);
          this.hooks.onBatchTrace?.(entries.map((e) => e.trace), startMs, startMs + durationMs, false);
          entries.forEach((entry, i) =>
            entry.resolve({ result: results[i]!, queueMs: startMs - entry.enqueuedAtMs, inferenceMs: durationMs, batchSize: entries.length }),
          );
        }
        finish();
      },
      (err: unknown) => {
        const error =
          err instanceof GatewayError
            ? err
            : new GatewayError('INFERENCE_FAILED', `inference failed for a batch of ${entries.length}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        for (const entry of entries) entry.reject(error);
        this.hooks.onBatchFailed?.(entries.length, error);
        this.hooks.onBatchTrace?.(entries.map((e) => e.trace), startMs, this.clock(), true);
        finish();
      },
    );
  }

  /**
   * Run time the shedding decisions assume for a batch of n: an optimistic estimate under the
   * adaptive policy (shed only the surely hopeless); 0 under the fixed one, which (like Triton's
   * queue timeout) drops only requests whose deadline has already passed.
   */
  predictedRunMs(n: number): number {
    return this.config.policy === 'adaptive' ? this.latency.optimisticMs(n) : 0;
  }

  private reportDepth(): void {
    this.hooks.onDepth?.(this.queue.length, this.pending);
  }

  private maybeDrained(): void {
    if (this.pending !== 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

/** DEADLINE_EXCEEDED for a request dropped from the queue: it cannot finish even if run now. */
function queueDeadline(timeoutMs: number, elapsedMs: number, runMs: number): GatewayError {
  return deadlineExceeded({ stage: 'queue', timeoutMs, elapsedMs, needMs: { inference: runMs } });
}
