// Scoring one image against a label set held as one row-normalized matrix: the similarities are
// one matrix-vector product (label-set-gemm.ts runs it in onnxruntime; matVec here is the JS
// reference and fallback), scores are softmax over the set
// or the calibrated per-label sigmoid (as for ad-hoc labels, clip-scores.ts), and the best top_k
// are picked with a k-sized min-heap, O(n log k), without sorting every label.
import type { MultiLabelCalibration } from './clip-scores.js';
import { topKIndices } from './top-k.js';

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
