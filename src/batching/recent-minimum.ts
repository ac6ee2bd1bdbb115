// An online load signal for the adaptive policy, O(1) per event and read: the smallest value seen
// over the last window (CoDel's "standing queue" signal: if even the luckiest recent request
// waited this long, the wait is a queue, not a burst).

/** Minimum of the values recorded over roughly the last `windowMs` (two half-window buckets). */
export class RecentMinimum {
  private current = Infinity;
  private previous = Infinity;
  private bucketStartMs = -Infinity;

  constructor(private readonly windowMs = 100) {}

  record(nowMs: number, value: number): void {
    this.roll(nowMs);
    if (value < this.current) this.current = value;
  }

  /** The minimum over the last window; Infinity when nothing was recorded in it. */
  read(nowMs: number): number {
    this.roll(nowMs);
    return Math.min(this.current, this.previous);
  }

  private roll(nowMs: number): void {
    const half = this.windowMs / 2;
    if (nowMs - this.bucketStartMs < half) return;
    // One bucket later: the current becomes the previous; more than one: both are stale.
    this.previous = nowMs - this.bucketStartMs < 2 * half ? this.current : Infinity;
    this.current = Infinity;
    this.bucketStartMs = nowMs;
  }
}
