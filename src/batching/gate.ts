// A bounded number of places for the work in front of the batcher (image decoding), with a FIFO
// waiting line. Without it every admitted request starts decoding at once and waits in libuv's
// pool instead: under an open-loop overload that line grows without bound, each image is decoded
// after its deadline has passed, and goodput collapses to zero while the CPU stays busy. Here a
// waiting request is checked again when its turn comes (can it still make its deadline?), so a
// hopeless one is answered before any CPU is spent on it, and a cancelled one just leaves. The
// line's drain rate also predicts a newcomer's wait, so admission can refuse it at once instead.
import { performance } from 'node:perf_hooks';

/** Answers whether a request whose turn has come is still worth running (undefined) or why not. */
export type TurnCheck = () => Error | undefined;

interface Waiter {
  readonly check: TurnCheck;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  detach: () => void;
}

/** Grant intervals remembered for the wait estimate. */
const GRANT_HISTORY = 32;

export class ConcurrencyGate {
  private running = 0;
  private readonly line: Waiter[] = [];
  /**
   * The last GRANT_HISTORY intervals between two places given to waiters while the line never
   * emptied in between (ring buffer): how fast a busy line drains, idle time left out.
   */
  private readonly intervals: number[] = [];
  private nextInterval = 0;
  private intervalSum = 0;
  private lastGrantMs = -Infinity;
  /** The line still held waiters after the last grant (so the next interval is all service). */
  private busySinceGrant = false;

  constructor(
    readonly limit: number,
    private readonly clock: () => number = () => performance.now(),
  ) {
    if (!(limit >= 1)) throw new RangeError(`gate limit must be at least 1, got ${limit}`);
  }

  /** Requests holding a place. */
  get inside(): number {
    return this.running;
  }

  /** Requests waiting for a place. */
  get waiting(): number {
    return this.line.length;
  }

  /**
   * How long a request joining the line now would wait for a place, ms: the requests ahead of it
   * (plus itself) times the mean interval between grants of a busy line, from its last
   * GRANT_HISTORY; 0 with a free place, undefined while that interval is unknown or over a second
   * old.
   */
  expectedWaitMs(): number | undefined {
    if (this.line.length === 0 && this.running < this.limit) return 0;
    if (this.intervals.length < 8 || this.clock() - this.lastGrantMs > 1000) return undefined;
    return (this.line.length + 1) * (this.intervalSum / this.intervals.length);
  }

  /**
   * Resolves once the caller holds a place (it must call `leave` exactly once afterwards). `check`
   * runs when the place is granted; an error from it rejects the call and frees the place for the
   * next in line. Aborting `signal` while waiting rejects with `onAbort()`.
   */
  enter(check: TurnCheck, options: { readonly signal?: AbortSignal | undefined; readonly onAbort: () => Error }): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(options.onAbort());
    if (this.running < this.limit && this.line.length === 0) {
      const error = check();
      if (error) return Promise.reject(error);
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { check, resolve, reject, detach: () => {} };
      if (signal) {
        const onAbort = (): void => {
          const index = this.line.indexOf(waiter);
          if (index < 0) return;
          this.line.splice(index, 1);
          reject(options.onAbort());
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.line.push(waiter);
    });
  }

  /** Gives a place back; the next viable waiter takes it. */
  leave(): void {
    this.running--;
    this.grant();
  }

  private grant(): void {
    while (this.running < this.limit && this.line.length > 0) {
      const waiter = this.line.shift()!;
      waiter.detach();
      const error = waiter.check();
      if (error) {
        waiter.reject(error);
        continue;
      }
      this.running++;
      this.recordGrant();
      waiter.resolve();
    }
  }

  private recordGrant(): void {
    const nowMs = this.clock();
    if (this.busySinceGrant) {
      const interval = nowMs - this.lastGrantMs;
      if (this.intervals.length < GRANT_HISTORY) this.intervals.push(interval);
      else {
        this.intervalSum -= this.intervals[this.nextInterval]!;
        this.intervals[this.nextInterval] = interval;
        this.nextInterval = (this.nextInterval + 1) % GRANT_HISTORY;
      }
      this.intervalSum += interval;
    }
    this.lastGrantMs = nowMs;
    this.busySinceGrant = this.line.length > 0;
  }
}
