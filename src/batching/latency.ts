// Online model of batch inference time (BentoML's idea: duration ~ a*n + b), fitted by least
// squares over a window of recent batches. The batcher uses it to shed requests that cannot make
// their deadline and to dispatch before the earliest deadline would be missed.

/** A fitted linear latency model over the last `windowSize` batches. */
export class LatencyModel {
  private readonly sizes: number[] = [];
  private readonly durationsMs: number[] = [];
  private next = 0;
  private slopeMs = 0;
  private interceptMs = 0;

  constructor(private readonly windowSize = 64) {}

  /** Records one executed batch of `batchSize` requests that ran for `durationMs`. */
  observe(batchSize: number, durationMs: number): void {
    if (!(batchSize > 0) || !Number.isFinite(durationMs) || durationMs < 0) return;
    if (this.sizes.length < this.windowSize) {
      this.sizes.push(batchSize);
      this.durationsMs.push(durationMs);
    } else {
      this.sizes[this.next] = batchSize;
      this.durationsMs[this.next] = durationMs;
      this.next = (this.next + 1) % this.windowSize;
    }
    this.fit();
  }

  /** Predicted run time of a batch of `batchSize`, in ms; 0 before any observation. */
  estimateMs(batchSize: number): number {
    return Math.max(0, this.slopeMs * batchSize + this.interceptMs);
  }

  /** Number of batches in the window. */
  get samples(): number {
    return this.sizes.length;
  }

  private fit(): void {
    const n = this.sizes.length;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      sx += this.sizes[i]!;
      sy += this.durationsMs[i]!;
    }
    const mx = sx / n;
    const my = sy / n;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      const dx = this.sizes[i]! - mx;
      sxx += dx * dx;
      sxy += dx * (this.durationsMs[i]! - my);
    }
    if (sxx === 0) {
      // One batch size seen so far: assume time proportional to size (no fixed cost known).
      this.slopeMs = mx > 0 ? my / mx : 0;
      this.interceptMs = 0;
      return;
    }
    // A negative slope is noise (bigger batches are never cheaper in total); clamp it.
    this.slopeMs = Math.max(0, sxy / sxx);
    this.interceptMs = my - this.slopeMs * mx;
    if (this.interceptMs < 0) {
      this.interceptMs = 0;
      this.slopeMs = my / mx;
    }
  }
}
