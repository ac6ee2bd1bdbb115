// Admission of one model version, in one place: whether a request may enter at all (queue places,
// counting requests still being prepared, and under the adaptive policy whether its deadline is
// still reachable), the bounded preparation gate in front of the queue (the turn check that refuses
// a hopeless request when its place comes), and the wait estimates both decisions read. Triton
// keeps its queue policy (scheduler_utils) apart from the batching decision in the same way.
//
// The decisions are pure functions of a snapshot and the clock (`admit`, `checkTurn`), tested
// table-driven; `Admission` gathers the snapshot, owns the gate and the estimates, and turns a
// refusal into the catalog's error. It knows what "preparing" costs, not what is prepared (images).
import type { Cancellation } from '../cancellation.js';
import type { GatewayError } from '../errors.js';
import { cancelledBy, deadlineExceeded, queueFull } from '../errors.js';
import { ConcurrencyGate } from './gate.js';
import type { BatchingConfig } from './policy.js';
import { RecentMinimum } from './recent-minimum.js';

/** A request's deadline: its arrival on the batcher clock and its timeout, ms. */
export interface Deadline {
  readonly startedAtMs: number;
  readonly timeoutMs: number;
}

/** What the arrival decision sees (all times in ms on the batcher clock). */
export interface AdmissionSnapshot {
  readonly policy: BatchingConfig['policy'];
  readonly maxQueueSize: number;
  readonly queueLength: number;
  /** Requests admitted but not yet queued: being prepared or waiting for a place to be. */
  readonly upstream: number;
  /** Requests (queue items) the newcomer brings. */
  readonly arriving: number;
  readonly deadline: Deadline | undefined;
  /** Shortest recent time from arrival to the start of a batch; Infinity when unknown. */
  readonly standingWaitMs: number;
  /** Predicted wait for a preparation place: 0 with one free, undefined before the gate has history. */
  readonly lineWaitMs: number | undefined;
  /** Shortest recent time from enqueue to the start of a batch; Infinity when unknown. */
  readonly queuedWaitMs: number;
  /** Shortest recent preparation time; 0 when unknown. */
  readonly prepareMs: number;
  /** Run time assumed for a batch of one: optimistic under the adaptive policy, 0 under the fixed one. */
  readonly runMs: number;
}

/** What the turn check sees when a preparation place is granted. */
export type TurnSnapshot = Pick<AdmissionSnapshot, 'policy' | 'deadline' | 'queuedWaitMs' | 'prepareMs' | 'runMs'>;

export type Refusal =
  | { readonly reason: 'queue-full'; readonly queued: number; readonly maxQueueSize: number }
  | {
      readonly reason: 'deadline';
      readonly stage: 'admission' | 'preprocess turn';
      readonly timeoutMs: number;
      readonly elapsedMs: number;
      /** Time still needed, by part, ms. */
      readonly needMs: Readonly<Record<string, number>>;
    };

export type AdmitDecision = { readonly action: 'admit' } | ({ readonly action: 'refuse' } & Refusal);

const ADMIT: AdmitDecision = { action: 'admit' };

/**
 * Decides whether a request may enter:
 *
 * - The queue cannot take it with everything already in front of it (queued or being prepared):
 *   queue full, at once, before any preparation is spent on it.
 * - fixed policy, or no deadline: admit (the queue sheds only what has expired).
 * - adaptive: even the luckiest request of the last window waited longer (standing wait + one
 *   inference) than this one has left: refuse; admitting it only adds to a queue that cannot serve
 *   it, and refusing early keeps an open-loop overload from collapsing goodput to zero.
 * - adaptive, a line stands for preparation: refuse when waiting in it, preparing and the shortest
 *   recent queue wait plus one inference end at or after the deadline.
 */
export function admit(s: AdmissionSnapshot, nowMs: number): AdmitDecision {
  const queued = s.queueLength + s.upstream + s.arriving - 1;
  if (queued >= s.maxQueueSize) return { action: 'refuse', reason: 'queue-full', queued, maxQueueSize: s.maxQueueSize };
  const { deadline } = s;
  if (s.policy !== 'adaptive' || deadline === undefined) return ADMIT;
  const deadlineMs = deadline.startedAtMs + deadline.timeoutMs;
  const elapsedMs = nowMs - deadline.startedAtMs;
  if (Number.isFinite(s.standingWaitMs) && nowMs + s.standingWaitMs + s.runMs > deadlineMs) {
    return { action: 'refuse', reason: 'deadline', stage: 'admission', timeoutMs: deadline.timeoutMs, elapsedMs, needMs: { 'standing wait': s.standingWaitMs, inference: s.runMs } };
  }
  if (s.lineWaitMs === undefined || s.lineWaitMs === 0) return ADMIT;
  const queueMs = Number.isFinite(s.queuedWaitMs) ? s.queuedWaitMs : 0;
  if (nowMs + s.lineWaitMs + s.prepareMs + queueMs + s.runMs < deadlineMs) return ADMIT;
  return {
    action: 'refuse',
    reason: 'deadline',
    stage: 'admission',
    timeoutMs: deadline.timeoutMs,
    elapsedMs,
    needMs: { 'waiting to be prepared': s.lineWaitMs, preparing: s.prepareMs, queued: queueMs, inference: s.runMs },
  };
}

/**
 * Decides whether a request whose preparation place has come is still worth preparing. adaptive:
 * not when even the optimistic path (preparing, the shortest recent queue wait, one optimistic
 * inference) ends at or after the deadline. fixed: only once the deadline has passed (Triton's
 * queue timeout).
 */
export function checkTurn(s: TurnSnapshot, nowMs: number): AdmitDecision {
  const { deadline } = s;
  if (deadline === undefined) return ADMIT;
  const deadlineMs = deadline.startedAtMs + deadline.timeoutMs;
  const adaptive = s.policy === 'adaptive';
  const queuedMs = Number.isFinite(s.queuedWaitMs) ? s.queuedWaitMs : 0;
  // Runs for every request that gets a place: the parts are named only for a refusal.
  const finishMs = adaptive ? nowMs + (s.prepareMs + queuedMs + s.runMs) : nowMs;
  if (finishMs < deadlineMs) return ADMIT;
  const needMs: Record<string, number> = adaptive ? { preparing: s.prepareMs, queued: queuedMs, inference: s.runMs } : {};
  return { action: 'refuse', reason: 'deadline', stage: 'preprocess turn', timeoutMs: deadline.timeoutMs, elapsedMs: nowMs - deadline.startedAtMs, needMs };
}

/** What admission reads of, and tells, the version's batcher (`Batcher` has this shape). */
export interface AdmissionTarget {
  readonly config: BatchingConfig;
  readonly queueLength: number;
  /** Set once the batcher refuses new work. */
  readonly closedReason: GatewayError | undefined;
  /** The batcher's monotonic clock, ms; deadlines are on it. */
  readonly clock: () => number;
  /** Run time the shedding decisions assume for a batch of n, ms. */
  predictedRunMs(n: number): number;
  /** Requests being prepared that will be submitted shortly, and those waiting for a place to be (the adaptive policy waits for them). */
  setIncoming(count: number, backlog: number): void;
  /** Calls `listener` for each request when its batch starts (arrival and enqueue times, ms). */
  onStart(listener: (startMs: number, arrivedAtMs: number, enqueuedAtMs: number) => void): void;
}

/** Observers for metrics; all optional, synchronous and cheap. */
export interface AdmissionHooks {
  onShed?(reason: 'deadline' | 'cancelled', count: number): void;
  /** Requests in front of the queue changed: `preparing` hold a place, `waiting` wait for one. */
  onUpstream?(preparing: number, waiting: number): void;
}

/** Admission of one version's batcher: the arrival decision, the preparation gate, the wait estimates. */
export class Admission {
  private readonly gate: ConcurrencyGate;
  /** Time from arrival to the start of its batch, smallest over the last 100 ms. */
  private readonly standingWait = new RecentMinimum(100);
  /** Time from enqueue (after preparation) to the start of its batch, smallest over the last 100 ms. */
  private readonly queuedWait = new RecentMinimum(100);
  /** Shortest recent preparation, ms: the optimistic preparation time of the deadline checks. */
  private readonly prepareMs = new RecentMinimum(1000);
  private readonly clock: () => number;
  private readonly hooks: AdmissionHooks;

  /** `places`: preparations that run at once; `clock` defaults to the batcher's. */
  constructor(
    private readonly target: AdmissionTarget,
    options: { readonly places: number; readonly clock?: () => number; readonly hooks?: AdmissionHooks },
  ) {
    this.gate = new ConcurrencyGate(options.places);
    this.clock = options.clock ?? target.clock;
    this.hooks = options.hooks ?? {};
    target.onStart((startMs, arrivedAtMs, enqueuedAtMs) => {
      this.standingWait.record(startMs, startMs - arrivedAtMs);
      this.queuedWait.record(startMs, startMs - enqueuedAtMs);
    });
  }

  /** The arrival snapshot of a request bringing `arriving` items with `deadline`. */
  snapshot(arriving: number, deadline: Deadline | undefined, nowMs = this.clock()): AdmissionSnapshot {
    return {
      policy: this.target.config.policy,
      maxQueueSize: this.target.config.maxQueueSize,
      queueLength: this.target.queueLength,
      upstream: this.gate.inside + this.gate.waiting,
      arriving,
      deadline,
      standingWaitMs: this.standingWait.read(nowMs),
      lineWaitMs: this.gate.expectedWaitMs(),
      queuedWaitMs: this.queuedWait.read(nowMs),
      prepareMs: this.prepareEstimateMs(nowMs),
      runMs: this.target.predictedRunMs(1),
    };
  }

  /**
   * Throws at once when a request bringing `count` items may not enter: the batcher's close reason,
   * QUEUE_FULL, or (adaptive) DEADLINE_EXCEEDED; see `admit`.
   */
  admit(count = 1, deadline?: Deadline): void {
    const closed = this.target.closedReason;
    if (closed) throw closed;
    const nowMs = this.clock();
    const decision = admit(this.snapshot(count, deadline, nowMs), nowMs);
    if (decision.action === 'refuse') throw this.refused(decision);
  }

  /**
   * Runs `work` (the preparation of one item) once a place is free and the turn check passes, then
   * gives the place back. While it waits for a place, aborting `signal` rejects with CANCELLED.
   */
  async prepare<T>(deadline: Deadline | undefined, signal: Cancellation | undefined, work: () => Promise<T>): Promise<T> {
    try {
      const place = this.gate.enter(() => this.turn(deadline), {
        signal,
        onAbort: () => {
          this.hooks.onShed?.('cancelled', 1);
          return cancelledBy({ stage: 'while waiting to be prepared' });
        },
      });
      // It holds a place or waits in line now. A waiter's grant is reported by the leave() that
      // gave it the place (the finally below, in the request that finished), so no second report.
      this.report();
      await place;
      const startMs = this.clock();
      try {
        return await work();
      } finally {
        const endMs = this.clock();
        this.prepareMs.record(endMs, endMs - startMs);
        this.gate.leave(endMs - startMs);
      }
    } finally {
      this.report();
    }
  }

  /** The turn check: the batcher's close reason, or DEADLINE_EXCEEDED when the request cannot make it. */
  private turn(deadline: Deadline | undefined): GatewayError | undefined {
    const closed = this.target.closedReason;
    if (closed) return closed;
    if (deadline === undefined) return undefined;
    const nowMs = this.clock();
    const decision = checkTurn(
      { policy: this.target.config.policy, deadline, queuedWaitMs: this.queuedWait.read(nowMs), prepareMs: this.prepareEstimateMs(nowMs), runMs: this.target.predictedRunMs(1) },
      nowMs,
    );
    return decision.action === 'refuse' ? this.refused(decision) : undefined;
  }

  private refused(refusal: Refusal): GatewayError {
    if (refusal.reason === 'queue-full') return queueFull(refusal);
    this.hooks.onShed?.('deadline', 1);
    return deadlineExceeded(refusal);
  }

  /** Tells the batcher (its policy) and the metrics how many requests are being prepared and waiting. */
  private report(): void {
    this.target.setIncoming(this.gate.inside, this.gate.waiting);
    this.hooks.onUpstream?.(this.gate.inside, this.gate.waiting);
  }

  private prepareEstimateMs(nowMs: number): number {
    const ms = this.prepareMs.read(nowMs);
    return Number.isFinite(ms) ? ms : 0;
  }
}
