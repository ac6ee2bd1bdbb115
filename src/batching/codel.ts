// CoDel (Nichols & Jacobson, "Controlling Queue Delay", ACM Queue 2012; RFC 8289) for the decode
// line of the adaptive policy. Requests that wait in line longer than `targetMs` for a whole
// `intervalMs` mean a standing queue, not a burst: the queue is longer than the server needs to stay
// busy and only adds latency to everyone behind it. CoDel then refuses one request at the head, and
// more often (interval / sqrt(count)) until the wait falls below the target. A burst that drains
// within the interval is never touched. Pure state machine: the caller passes the times.

export class CoDel {
  /** When the sojourn first went above target, plus intervalMs; 0 while below. */
  private firstAboveMs = 0;
  private dropping = false;
  private dropNextMs = 0;
  private count = 0;
  private lastCount = 0;

  constructor(
    readonly targetMs = 5,
    readonly intervalMs = 100,
  ) {}

  /**
   * Called when a request leaves the line (its turn has come) after waiting `sojournMs`, with
   * `waiting` still behind it; returns true when it should be refused instead of served.
   */
  shouldDrop(nowMs: number, sojournMs: number, waiting: number): boolean {
    const okToDrop = this.aboveTarget(nowMs, sojournMs, waiting);
    if (this.dropping) {
      if (!okToDrop) {
        this.dropping = false;
        return false;
      }
      if (nowMs >= this.dropNextMs) {
        this.count++;
        this.dropNextMs = this.controlLaw(this.dropNextMs);
        return true;
      }
      return false;
    }
    if (okToDrop) {
      this.dropping = true;
      // Resume near the last drop rate if the standing queue came back soon after (RFC 8289 5.5).
      const delta = this.count - this.lastCount;
      this.count = delta > 1 && nowMs - this.dropNextMs < 16 * this.intervalMs ? delta : 1;
      this.lastCount = this.count;
      this.dropNextMs = this.controlLaw(nowMs);
      return true;
    }
    return false;
  }

  private aboveTarget(nowMs: number, sojournMs: number, waiting: number): boolean {
    // An empty line behind this request cannot be a standing queue.
    if (sojournMs < this.targetMs || waiting === 0) {
      this.firstAboveMs = 0;
      return false;
    }
    if (this.firstAboveMs === 0) {
      this.firstAboveMs = nowMs + this.intervalMs;
      return false;
    }
    return nowMs >= this.firstAboveMs;
  }

  private controlLaw(fromMs: number): number {
    return fromMs + this.intervalMs / Math.sqrt(this.count);
  }
}
