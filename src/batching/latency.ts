// Online model of batch inference time (BentoML's idea: duration ~ a*n + b), fitted by least
// squares over a window of recent batches, trimmed of outliers (GC pauses). The batcher dispatches
// before the earliest deadline would be missed on the fitted time, and sheds a request only when
// even an optimistic run time (the fastest tenth of recent batches relative to the fit) would
// finish too late: a wrong shed loses a request that would have made it, a late dispatch does not.

/** A fitted linear latency model over the last `windowSize` batches. */
export class LatencyModel {
  private readonly sizes: number[] = [];
  private readonly durationsMs: number[] = [];
  private next = 0;
  private slopeMs = 0;
  private interceptMs = 0;
  /** Low quantile of duration / fitted duration over the window (1 until there is a fit). */
  private fastRatio = 1;

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

  /** Optimistic run time of a batch of `batchSize` (fastest tenth of recent batches), ms. */
  optimisticMs(batchSize: number): number {
    return this.estimateMs(batchSize) * this.fastRatio;
  }

  /** Number of batches in the window. */
  get samples(): number {
    return this.sizes.length;
  }

  private fit(): void {
    const n = this.sizes.length;
    const all = Array.from({ length: n }, (_, i) => i);
    this.fitOn(all);
    if (n < 8) return;
    // A GC pause or a moment of CPU contention makes one batch take many times its usual time; one
    // such batch would lift the whole line and shed requests that could still make it. Refit
    // without the batches whose duration sits far above the first line (trimmed least squares).
    const residuals = all.map((i) => this.durationsMs[i]! - this.estimateMs(this.sizes[i]!));
    const spread = median(residuals.map(Math.abs));
    const kept = all.filter((i) => residuals[i]! <= OUTLIER_SPREADS * spread + 1e-9);
    if (kept.length >= Math.max(4, n / 2) && kept.length < n) this.fitOn(kept);
    const ratios = all.map((i) => this.durationsMs[i]! / Math.max(1e-6, this.estimateMs(this.sizes[i]!))).sort((a, b) => a - b);
    this.fastRatio = Math.min(1, Math.max(0, ratios[Math.floor(ratios.length * FAST_QUANTILE)]!));
  }

  private fitOn(points: readonly number[]): void {
    const n = points.length;
    let sx = 0;
    let sy = 0;
    for (const i of points) {
      sx += this.sizes[i]!;
      sy += this.durationsMs[i]!;
    }
    const mx = sx / n;
    const my = sy / n;
    let sxx = 0;
    let sxy = 0;
    for (const i of points) {
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

/** Quantile of duration / fit that optimisticMs() scales the fit by. */
const FAST_QUANTILE = 0.1;

/** Batches whose duration exceeds the fit by more than this many median absolute residuals are left out. */
const OUTLIER_SPREADS = 4;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
