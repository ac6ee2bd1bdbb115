// The arithmetic of zero-shot scoring, pure and allocation-light: L2 normalization, template
// ensembles (mean of normalized embeddings, renormalized, as CLIP's ImageNet evaluation does),
// cosine similarity against the image embedding, and softmax or per-label sigmoid scores.

/** Scales `v` in place to unit L2 norm (a zero vector stays zero); returns it. */
export function l2NormalizeInPlace(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

/** Mean of unit vectors, renormalized: one embedding per label from its template ensemble. */
export function ensemble(embeddings: readonly Float32Array[]): Float32Array {
  if (embeddings.length === 1) return embeddings[0]!;
  const out = new Float32Array(embeddings[0]!.length);
  for (const e of embeddings) for (let i = 0; i < out.length; i++) out[i]! += e[i]!;
  return l2NormalizeInPlace(out);
}

/** Dot product (cosine similarity of unit vectors). */
export function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** A multi-label calibration fitted on validation data, as SigLIP learns one: score = sigmoid(scale x cosine + bias). */
export interface MultiLabelCalibration {
  readonly scale: number;
  readonly bias: number;
}

/**
 * Scores of each label for one image: logits = logitScale x cosine, softmax over the label set.
 * `multiLabel` scores each label independently: sigmoid(scale x cosine + bias) with the model's
 * calibration, so 0.5 is a usable threshold; without one, sigmoid(logitScale x cosine).
 */
export function zeroShotScores(image: Float32Array, labels: readonly Float32Array[], logitScale: number, multiLabel: boolean, calibration?: MultiLabelCalibration): { scores: number[]; similarities: number[] } {
  const similarities = labels.map((l) => dot(image, l));
  if (multiLabel) {
    const scale = calibration?.scale ?? logitScale;
    const bias = calibration?.bias ?? 0;
    return { scores: similarities.map((s) => 1 / (1 + Math.exp(-(s * scale + bias)))), similarities };
  }
  const logits = similarities.map((s) => s * logitScale);
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return { scores: exps.map((e) => e / sum), similarities };
}
