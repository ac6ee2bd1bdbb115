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
  private readonly residuals: Float64Array;
  private readonly sorted: Float64Array;
  private readonly kept: Uint8Array;

  constructor(private readonly windowSize = 64) {
    this.residuals = new Float64Array(windowSize);
    this.sorted = new Float64Array(windowSize);
    this.kept = new Uint8Array(windowSize);
  }

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

  // Runs once per batch: scratch arrays sized to the window are reused, nothing is allocated.
  private fit(): void {
    const n = this.sizes.length;
    this.fitOn(n, undefined);
    if (n < 8) return;
    // A GC pause or a moment of CPU contention makes one batch take many times its usual time; one
    // such batch would lift the whole line and shed requests that could still make it. Refit
    // without the batches whose duration sits far above the first line (trimmed least squares).
    const residuals = this.residuals;
    const sorted = this.sorted;
    for (let i = 0; i < n; i++) {
      const r = this.durationsMs[i]! - this.estimateMs(this.sizes[i]!);
      residuals[i] = r;
      sorted[i] = Math.abs(r);
    }
    const spread = medianOfFirst(sorted, n);
    const kept = this.kept;
    let keptCount = 0;
    for (let i = 0; i < n; i++) {
      kept[i] = residuals[i]! <= OUTLIER_SPREADS * spread + 1e-9 ? 1 : 0;
      keptCount += kept[i]!;
    }
    if (keptCount >= Math.max(4, n / 2) && keptCount < n) this.fitOn(n, kept);
    for (let i = 0; i < n; i++) sorted[i] = this.durationsMs[i]! / Math.max(1e-6, this.estimateMs(this.sizes[i]!));
    const ratios = sorted.subarray(0, n).sort();
    this.fastRatio = Math.min(1, Math.max(0, ratios[Math.floor(n * FAST_QUANTILE)]!));
  }

  /** Least squares over the first `n` batches, or over those marked in `kept`. */
  private fitOn(n: number, kept: Uint8Array | undefined): void {
    let count = 0;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < n; i++) {
      if (kept !== undefined && kept[i] === 0) continue;
      count++;
      sx += this.sizes[i]!;
      sy += this.durationsMs[i]!;
    }
    const mx = sx / count;
    const my = sy / count;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < n; i++) {
      if (kept !== undefined && kept[i] === 0) continue;
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

/** Median of the first `n` values of `values`, which it sorts in place. */
function medianOfFirst(values: Float64Array, n: number): number {
  const sorted = values.subarray(0, n).sort();
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
