// A bounded number of places for the work in front of the batcher (image decoding), with a FIFO
// waiting line. Without it every admitted request starts decoding at once and waits in libuv's
// pool instead: under an open-loop overload that line grows without bound, each image is decoded
// after its deadline has passed, and goodput collapses to zero while the CPU stays busy. Here a
// waiting request is checked again when its turn comes (can it still make its deadline?), so a
// hopeless one is answered before any CPU is spent on it, and a cancelled one just leaves. The
// line's drain rate (places over their mean holding time) also predicts a newcomer's wait, so
// admission can refuse it at once instead.
import type { Cancellation } from '../cancellation.js';

/** Answers whether a request whose turn has come is still worth running (undefined) or why not. */
export type TurnCheck = () => Error | undefined;

interface Waiter {
  readonly check: TurnCheck;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  detach: () => void;
}

/** Place holding times remembered for the wait estimate. */
const HOLD_HISTORY = 64;

export class ConcurrencyGate {
  private running = 0;
  private readonly line: Waiter[] = [];
  /**
   * How long the last HOLD_HISTORY places were held (ring buffer). A busy line drains at
   * `limit / mean hold`. Every request's hold counts, not only those of moments when a line stood:
   * at moderate load a line forms mostly during a stall of the host, and a drain rate measured only
   * then stays pessimistic after the stall and refuses requests that would make their deadlines.
   */
  private readonly holds: number[] = [];
  private nextHold = 0;
  private holdSum = 0;

  constructor(readonly limit: number) {
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
   * (plus itself) over the drain rate of a busy line (`limit` places, each held for the mean of
   * the last HOLD_HISTORY holds); 0 with a free place, undefined before 8 holds were recorded.
   */
  expectedWaitMs(): number | undefined {
    if (this.line.length === 0 && this.running < this.limit) return 0;
    if (this.holds.length < 8) return undefined;
    return ((this.line.length + 1) * (this.holdSum / this.holds.length)) / this.limit;
  }

  /**
   * Resolves once the caller holds a place (it must call `leave` exactly once afterwards). `check`
   * runs when the place is granted; an error from it rejects the call and frees the place for the
   * next in line. Aborting `signal` while waiting rejects with `onAbort()`.
   */
  enter(check: TurnCheck, options: { readonly signal?: Cancellation | undefined; readonly onAbort: () => Error }): Promise<void> {
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

  /** Gives a place back, held for `heldMs` (recorded for the wait estimate when given); the next viable waiter takes it. */
  leave(heldMs?: number): void {
    this.running--;
    if (heldMs !== undefined && heldMs >= 0) this.recordHold(heldMs);
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
      waiter.resolve();
    }
  }

  private recordHold(ms: number): void {
    if (this.holds.length < HOLD_HISTORY) this.holds.push(ms);
    else {
      this.holdSum -= this.holds[this.nextHold]!;
      this.holds[this.nextHold] = ms;
      this.nextHold = (this.nextHold + 1) % HOLD_HISTORY;
    }
    this.holdSum += ms;
  }
}
