// Online estimate of the arrival rate into one batch queue, for the adaptive policy: an
// exponentially decayed count of arrivals (time constant tauMs), O(1) per arrival and read. For
// Poisson arrivals at rate r it converges to r; after a burst it decays within a few tauMs.

export class ArrivalRate {
  private weight = 0;
  private lastMs = -Infinity;

  constructor(private readonly tauMs = 100) {}

  /** Counts one arrival at `nowMs` (a monotonic clock in ms). */
  record(nowMs: number): void {
    this.weight = this.decayedTo(nowMs) + 1;
    this.lastMs = Math.max(this.lastMs, nowMs);
  }

  /** Arrivals per ms around `nowMs`. */
  perMs(nowMs: number): number {
    return this.decayedTo(nowMs) / this.tauMs;
  }

  private decayedTo(nowMs: number): number {
    if (this.weight === 0) return 0;
    return this.weight * Math.exp(-Math.max(0, nowMs - this.lastMs) / this.tauMs);
  }
}
