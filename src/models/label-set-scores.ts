// Scoring one image against a label set held as one row-normalized matrix: the similarities are
// one matrix-vector product (label-set-gemm.ts runs it in onnxruntime; matVec here is the JS
// reference and fallback), scores are softmax over the set
// or the calibrated per-label sigmoid (as for ad-hoc labels, clip-scores.ts), and the best top_k
// are picked with a k-sized min-heap, O(n log k), without sorting every label.
import type { MultiLabelCalibration } from './clip-scores.js';

/** A label set's text side: `rows` unit vectors of `width` floats, row-major. */
export interface LabelMatrix {
  readonly labels: readonly string[];
  readonly matrix: Float32Array;
  readonly width: number;
}

export interface ScoredIndex {
  readonly index: number;
  readonly score: number;
  readonly similarity: number;
}

/** similarities[i] = matrix row i . image (cosine: both sides are unit vectors). */
export function matVec(set: LabelMatrix, image: Float32Array, out = new Float32Array(set.labels.length)): Float32Array {
  const { matrix, width } = set;
  const rows = out.length;
  for (let r = 0, o = 0; r < rows; r++, o += width) {
    let sum = 0;
    for (let j = 0; j < width; j++) sum += matrix[o + j]! * image[j]!;
    out[r] = sum;
  }
  return out;
}

/** The top `k` labels of `set` for `image`, best first (ties: lower index first). */
export function scoreLabelSet(set: LabelMatrix, image: Float32Array, k: number, logitScale: number, multiLabel: boolean, calibration?: MultiLabelCalibration): ScoredIndex[] {
  return scoreSimilarities(matVec(set, image), k, logitScale, multiLabel, calibration);
}

/** The top `k` of a set's similarities to one image, scored, best first (ties: lower index first). */
export function scoreSimilarities(sims: Float32Array, k: number, logitScale: number, multiLabel: boolean, calibration?: MultiLabelCalibration): ScoredIndex[] {
  const top = topKIndices(sims, Math.min(k, sims.length));
  if (multiLabel) {
    const scale = calibration?.scale ?? logitScale;
    const bias = calibration?.bias ?? 0;
    return top.map((i) => ({ index: i, similarity: sims[i]!, score: 1 / (1 + Math.exp(-(sims[i]! * scale + bias))) }));
  }
  // Softmax needs the whole set's normalizer, but not its order.
  let max = -Infinity;
  for (let i = 0; i < sims.length; i++) if (sims[i]! > max) max = sims[i]!;
  let sum = 0;
  for (let i = 0; i < sims.length; i++) sum += Math.exp((sims[i]! - max) * logitScale);
  return top.map((i) => ({ index: i, similarity: sims[i]!, score: Math.exp((sims[i]! - max) * logitScale) / sum }));
}

/** Indices of the `k` largest values, largest first (ties: lower index first), via a k-sized min-heap. */
export function topKIndices(values: Float32Array | readonly number[], k: number): number[] {
  if (k <= 0) return [];
  // heap[0] is the worst kept entry; "worse" = smaller value, or equal value and higher index.
  const heap: number[] = [];
  const worse = (a: number, b: number): boolean => values[a]! < values[b]! || (values[a] === values[b] && a > b);
  const siftDown = (at: number): void => {
    for (;;) {
      const l = 2 * at + 1;
      const r = l + 1;
      let m = at;
      if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
      if (m === at) return;
      [heap[at], heap[m]] = [heap[m]!, heap[at]!];
      at = m;
    }
  };
  for (let i = 0; i < values.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0; ) {
        const p = (c - 1) >> 1;
        if (!worse(heap[c]!, heap[p]!)) break;
        [heap[c], heap[p]] = [heap[p]!, heap[c]!];
        c = p;
      }
    } else if (worse(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  // k entries only: sorting them is O(k log k).
  return heap.sort((a, b) => values[b]! - values[a]! || a - b);
}
