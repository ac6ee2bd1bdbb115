// One served version of an image classifier: its sessions (instances), preprocessor, batcher,
// and the classify pipeline (preprocess per request -> batch -> session.run -> softmax/top-k
// per request). A batch tensor is assembled by copying each request's slot into it (no
// per-element work on the batch path) and is transferred to the instance's session thread.
import { performance } from 'node:perf_hooks';
import { type Cancellation, allOrCancel } from '../cancellation.js';
import { type Batched, Batcher } from '../batching/batcher.js';
import { GatewayError } from '../errors.js';
import type { ClassifierManifest } from './manifest.js';
import { checkClassifierGraph } from './kind-checks.js';
import { ImagePreprocessor } from './preprocess.js';
import { ImageBatches, ImagePipeline } from './image-pipeline.js';
import { closeVersion, graphBatching, openInstances, releaseAll, validateIo, warmUp } from './instances.js';
import { readLabels } from './labels.js';
import { ResponseCache } from './response-cache.js';
import { topKIndices } from './top-k.js';
import type { LoadContext, ServedVersion, Timing, VersionInfo } from './served.js';
import { ActiveRequests, VersionHealth, type VersionHooks, batcherHooks } from './served.js';
import type { ModelSession } from './session.js';

export interface ScoredLabel {
  readonly label: string;
  readonly score: number;
  readonly index: number;
}

export interface ClassifyOptions {
  readonly topK: number;
  readonly timeoutMs: number;
  readonly signal?: Cancellation;
}

export interface ClassifyResult {
  readonly labels: readonly ScoredLabel[];
  readonly timing: Timing;
  readonly batchSize: number;
}

/** The graph's tensors as the tensor-in/tensor-out (KServe v2) protocol sees them. */
export interface TensorIo {
  /** Input tensor: one row (request item) is `itemDims` float32 values in the manifest's layout. */
  readonly input: { readonly name: string; readonly itemDims: readonly number[]; readonly rowSize: number };
  /** Output tensor: `width` float32 values per row (the graph's raw output, before postprocessing). */
  readonly output: { readonly name: string; readonly width: number };
}

/** Raw output rows of a tensor request, in input row order. */
export interface TensorResult {
  readonly rows: readonly Float32Array[];
  /** Largest batch any row of the request ran in. */
  readonly batchSize: number;
  /** Decoding time of encoded-image rows (0 for tensor rows), ms; the other fields are the slowest row's. */
  readonly timing: Timing;
}

/** Options of a tensor request: one deadline and one cancellation signal for all its rows. */
export type TensorOptions = Omit<ClassifyOptions, 'topK'>;

/** A loaded, warmed-up classifier version. */
export class ClassifierVersion implements ServedVersion {
  readonly kind = 'image-classifier';
  private readonly active = new ActiveRequests();
  private readonly images: ImagePipeline<Float32Array>;
  private constructor(
    readonly info: VersionInfo,
    private readonly manifest: ClassifierManifest,
    private readonly sessions: readonly ModelSession[],
    preprocessor: ImagePreprocessor,
    readonly labels: readonly string[],
    readonly batcher: Batcher<Float32Array, Float32Array>,
    readonly health: VersionHealth,
    readonly io: TensorIo,
    private readonly hooks: VersionHooks,
    /** Top-k answers by image bytes and k, when the manifest opts in. */
    private readonly cache: ResponseCache<ClassifyResult> | undefined,
  ) {
    this.images = new ImagePipeline(preprocessor, batcher, hooks);
  }

  static async load(manifest: ClassifierManifest, version: string, dir: string, ctx: LoadContext): Promise<ClassifierVersion> {
    const labels = await readLabels(manifest.labels, dir, ctx.modelDir);
    const sessions = await openInstances(`${dir}/${manifest.file}`, manifest.batching.instances, ctx);
    let hooks: VersionHooks | undefined;
    try {
      const first = sessions[0]!;
      const input = manifest.inputs[0]!;
      const output = manifest.outputs[0]!;
      validateIo(first, [input.name], manifest.outputs.map((o) => o.name));
      const preprocessor = new ImagePreprocessor(manifest.preprocessing, ctx.limits);

      const graph = checkClassifierGraph(manifest, first.inputs, first.outputs, preprocessor.itemDims, labels.length);
      const width = labels.length;
      const io: TensorIo = { input: { name: input.name, itemDims: preprocessor.itemDims, rowSize: preprocessor.slotSize }, output: { name: output.name, width } };

      // A fixed batch axis caps batching at its size; smaller batches are padded up to it.
      const batching = graphBatching(manifest.batching, graph.fixedBatchSize);
      const maxBatchSize = batching.maxBatchSize;
      const slot = preprocessor.slotSize;

      const batches = new ImageBatches(preprocessor, maxBatchSize, sessions.length, graph.fixedBatchSize);
      const runner = async (items: readonly Float32Array[], instance: number): Promise<Float32Array[]> => {
        const n = items.length;
        const rows = batches.rows(n);
        const outputs = await batches.run(sessions[instance]!, input.name, output.name, items);
        const logits = outputs[output.name]!;
        if (logits.dims[0] !== rows || logits.data.length !== rows * width) {
          throw new GatewayError('INFERENCE_FAILED', `output "${output.name}" has shape [${logits.dims.join(', ')}] for a batch of ${rows}; expected [${rows}, ${width}] (one score per label)`);
        }
        return Array.from({ length: n }, (_, i) => logits.data.slice(i * width, (i + 1) * width));
      };

      const info: VersionInfo = {
        model: ctx.modelName,
        version,
        kind: 'image-classifier',
        provider: first.provider,
        providerNote: first.fallbackReason,
        batching,
        labelsCount: labels.length,
        inputs: [input.name],
        outputs: [output.name],
      };
      const health = new VersionHealth(ctx.metrics, ctx.logger, ctx.modelName, version);
      hooks = batcherHooks(ctx.metrics, ctx.modelName, version, health);
      const batcher = new Batcher(batching, runner, { hooks });
      const sizeOf = (r: ClassifyResult): number => r.labels.reduce((n, l) => n + 32 + Buffer.byteLength(l.label), 64);
      const cache = manifest.responseCache ? new ResponseCache(manifest.responseCache, sizeOf, ctx.metrics, ctx.modelName, version) : undefined;
      const served = new ClassifierVersion(info, manifest, sessions, preprocessor, labels, batcher, health, io, hooks, cache);
      if (ctx.warmup) await warmUp(runner, sessions.length, batcher.latency, maxBatchSize, () => new Float32Array(slot));
      return served;
    } catch (err) {
      hooks?.release();
      await releaseAll(sessions);
      throw err;
    }
  }

  /** Decodes, batches and classifies one image; answers the top `topK` labels. */
  async classify(image: Uint8Array, options: ClassifyOptions, startedAtMs = performance.now()): Promise<ClassifyResult> {
    // The response cache (opt-in) answers a repeated image and top_k before any decoding.
    const key = this.cache?.key([image, 'top_k', options.topK]);
    const hit = key === undefined ? undefined : this.cache!.get(key);
    if (hit) return { labels: hit.labels, batchSize: 0, timing: { preprocessMs: 0, queueMs: 0, inferenceMs: 0, totalMs: performance.now() - startedAtMs, cached: true } };
    // Overload is refused before any decoding: requests still being preprocessed hold queue places.
    this.images.admit(1, { startedAtMs, timeoutMs: options.timeoutMs });
    this.active.enter();
    try {
      const result = await this.classifyInside(image, options, startedAtMs);
      if (key !== undefined) this.cache!.set(key, result);
      return result;
    } finally {
      this.active.exit();
    }
  }

  private async classifyInside(image: Uint8Array, options: ClassifyOptions, startedAtMs: number): Promise<ClassifyResult> {
    const { batched, preprocessMs } = await this.images.run(image, options, startedAtMs);
    const scores = this.manifest.postprocessing === 'softmax' ? softmaxInPlace(batched.result) : batched.result;
    return {
      labels: topK(scores, options.topK, this.labels),
      batchSize: batched.batchSize,
      timing: { preprocessMs, queueMs: batched.queueMs, inferenceMs: batched.inferenceMs, totalMs: performance.now() - startedAtMs },
    };
  }

  /**
   * Runs preprocessed input rows (each `io.input.rowSize` floats in the manifest's layout) through
   * the version's batcher, one queue item per row, so they share batches with every other request;
   * answers the raw output row of each (no softmax). Admission is all or nothing.
   */
  async inferTensors(rows: readonly Float32Array[], options: TensorOptions, startedAtMs = performance.now()): Promise<TensorResult> {
    for (const row of rows) if (row.length !== this.io.input.rowSize) throw new GatewayError('INVALID_ARGUMENT', `an input row has ${row.length} values; the model takes ${this.io.input.rowSize}`);
    this.images.admit(rows.length, { startedAtMs, timeoutMs: options.timeoutMs });
    this.active.enter();
    try {
      return await this.eachRow(rows.length, options, startedAtMs, (i, signal) => this.images.submit(rows[i]!, { ...options, signal }, startedAtMs).then((batched) => ({ batched, preprocessMs: 0 })));
    } finally {
      this.active.exit();
    }
  }

  /** Decodes each encoded image as /v1/classify does and runs it as one row; answers raw output rows. */
  async inferImages(images: readonly Uint8Array[], options: TensorOptions, startedAtMs = performance.now()): Promise<TensorResult> {
    this.images.admit(images.length, { startedAtMs, timeoutMs: options.timeoutMs });
    this.active.enter();
    try {
      return await this.eachRow(images.length, options, startedAtMs, (i, signal) => this.images.run(images[i]!, { ...options, signal }, startedAtMs));
    } finally {
      this.active.exit();
    }
  }

  /** Runs `count` rows concurrently; the first failure cancels the rest (they leave the queue) and is thrown. */
  private async eachRow(
    count: number,
    options: TensorOptions,
    startedAtMs: number,
    run: (index: number, signal: Cancellation) => Promise<{ batched: Batched<Float32Array>; preprocessMs: number }>,
  ): Promise<TensorResult> {
    const done = await allOrCancel(Array.from({ length: count }, (_, i) => i), run, options.signal);
    const max = (f: (d: (typeof done)[number]) => number): number => done.reduce((m, d) => Math.max(m, f(d)), 0);
    return {
      rows: done.map((d) => d.batched.result),
      batchSize: max((d) => d.batched.batchSize),
      timing: { preprocessMs: max((d) => d.preprocessMs), queueMs: max((d) => d.batched.queueMs), inferenceMs: max((d) => d.batched.inferenceMs), totalMs: performance.now() - startedAtMs },
    };
  }

  /** Requests inside this version, preprocessing included. */
  get pending(): number {
    return this.active.size;
  }

  /** Waits until no request is inside (queued, running or still preprocessing), then releases the sessions. */
  close(): Promise<void> {
    const forget = (): void => {
      this.hooks.release();
      this.cache?.clear();
    };
    return closeVersion({ active: this.active, batchers: [this.batcher], sessions: this.sessions, forget });
  }
}

/**
 * Numerically stable softmax, in place: `logits` is the request's own copy of its output row, so
 * no second array is needed. Returns `logits`.
 */
export function softmaxInPlace(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - max);
    logits[i] = e;
    sum += e;
  }
  for (let i = 0; i < logits.length; i++) logits[i]! /= sum;
  return logits;
}

/** The k highest scores with their label and index, best first (ties: lower index first). */
export function topK(scores: Float32Array, k: number, labels: readonly string[]): ScoredLabel[] {
  return topKIndices(scores, Math.min(k, scores.length)).map((index) => ({ label: labels[index] ?? String(index), score: scores[index]!, index }));
}
