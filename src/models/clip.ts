// One served version of a CLIP-style model: an image tower behind the version's Batcher (image
// items from concurrent requests batch together), a text tower behind its own Batcher (prompt
// encodes from concurrent requests batch together), the CLIP tokenizer, and the shared
// prompt-embedding cache. Zero-shot = one image encode + cached prompt embeddings + a dot product.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Cancellation } from '../cancellation.js';
import type { Deadline } from '../batching/admission.js';
import { Batcher } from '../batching/batcher.js';
import { effectiveMaxBatchSize } from '../batching/policy.js';
import { GatewayError } from '../errors.js';
import { ClipReranker, rerankOrder } from './clip-reranker.js';
import { ensemble, l2NormalizeInPlace, zeroShotScores } from './clip-scores.js';
import type { LabelSetDefinition } from './label-set-file.js';
import { type LabelMatrix, scoreSimilarities } from './label-set-scores.js';
import type { ClipManifest } from './manifest.js';
import { checkClipGraphs } from './kind-checks.js';
import { ImagePreprocessor } from './preprocess.js';
import { PromptCache, type PromptEmbedding, promptKey } from './prompt-cache.js';
import { ImageBatches, ImagePipeline } from './image-pipeline.js';
import { closeVersion, graphBatching, openInstances, releaseAll, validateIo, warmUp } from './instances.js';
import type { LoadContext, ServedVersion, Timing, VersionInfo } from './served.js';
import { ActiveRequests, VersionHealth, type VersionHooks, batcherHooks, stageBatcherHooks } from './served.js';
import type { ModelSession } from './session.js';
import { ClipTokenizer, type TokenizedPrompt, cleanText, fillTemplate } from './tokenizer.js';

/** Per-request deadline and cancellation. */
export interface EncodeOptions {
  readonly timeoutMs: number;
  readonly signal?: Cancellation | undefined;
}

export interface ZeroShotOptions extends EncodeOptions {
  /** Labels to answer, best first; at most the number of labels. */
  readonly topK: number;
  /** Sigmoid per label instead of a softmax over the set. */
  readonly multiLabel: boolean;
  /** Prompt templates with `{}` for the label; empty = the manifest's. */
  readonly templates: readonly string[];
  /** Rescore the cosine top `topK` with the version's reranker (single-label only); absent = cosine only. */
  readonly rerank?: { readonly topK: number } | undefined;
}

/** One answered label: `score` is the reranker's softmax over the candidates when reranked, else the cosine score. */
export interface ZeroShotLabel {
  readonly label: string;
  readonly score: number;
  readonly similarity: number;
  /** Reranked answers: the cosine path's score of this label (softmax over every label). */
  readonly cosineScore?: number | undefined;
  /** Reranked answers: the reranker's raw logit. */
  readonly rerankLogit?: number | undefined;
}

/** How a reranked answer was made: candidates rescored, the reranker batch it rode in, its time. */
export interface RerankInfo {
  readonly topK: number;
  readonly batchSize: number;
  readonly queueMs: number;
  readonly inferenceMs: number;
}

export interface ZeroShotResult {
  /** Best first; each distinct label once, spelled as the caller first gave it. */
  readonly labels: readonly ZeroShotLabel[];
  /** Present when the cosine top-k was reranked. */
  readonly rerank?: RerankInfo | undefined;
  /** Labels whose prompt was cut to the context length (for any template). */
  readonly truncated: readonly string[];
  readonly timing: Timing;
  readonly batchSize: number;
  readonly cacheHits: number;
  readonly cacheMisses: number;
}

/** A label set's embeddings for one served version. */
export interface EncodedLabelSet extends LabelMatrix {
  /** Rows whose prompt was cut to the context length (for any template). */
  readonly truncated: ReadonlySet<number>;
}

/** One prompt for the text batcher: padded ids and real length. */
type TextItem = TokenizedPrompt;

/** A loaded, warmed-up CLIP version. */
export class ClipVersion implements ServedVersion {
  readonly kind = 'clip';
  private readonly active = new ActiveRequests();
  private readonly images: ImagePipeline<Float32Array>;

  private constructor(
    readonly info: VersionInfo,
    readonly manifest: ClipManifest,
    private readonly sessions: readonly ModelSession[],
    preprocessor: ImagePreprocessor,
    readonly tokenizer: ClipTokenizer,
    readonly imageBatcher: Batcher<Float32Array, Float32Array>,
    readonly textBatcher: Batcher<TextItem, Float32Array>,
    private readonly cache: PromptCache,
    readonly health: VersionHealth,
    private readonly hooks: VersionHooks,
    /** The cross-modal reranker of the cosine top-k, when the manifest names one. */
    readonly reranker: ClipReranker | undefined,
  ) {
    this.images = new ImagePipeline(preprocessor, imageBatcher, hooks);
  }

  static async load(manifest: ClipManifest, version: string, dir: string, ctx: LoadContext): Promise<ClipVersion> {
    const clip = manifest.clip;
    const tokenizer = await ClipTokenizer.load(join(dir, plainFile(clip.tokenizer)), { contextLength: clip.contextLength, padTokenId: clip.padTokenId });
    const instances = manifest.batching.instances;
    const imageSessions = await openInstances(join(dir, plainFile(clip.imageEncoder.file)), instances, ctx);
    let textSessions: ModelSession[] = [];
    let reranker: ClipReranker | undefined;
    let hooks: VersionHooks | undefined;
    try {
      textSessions = await openInstances(join(dir, plainFile(clip.textEncoder.file)), instances, ctx);
      const image = imageSessions[0]!;
      const text = textSessions[0]!;
      validateIo(image, [clip.imageEncoder.input], [clip.imageEncoder.output]);
      validateIo(text, [clip.textEncoder.input], [clip.textEncoder.output]);
      const preprocessor = new ImagePreprocessor(manifest.preprocessing, ctx.limits);
      const graphs = checkClipGraphs(clip, image, text, preprocessor.itemDims);
      // Hugging Face text towers also take an attention mask: 1 over real tokens, 0 over padding.
      const maskInput = text.inputNames.find((n) => n === 'attention_mask' && n !== clip.textEncoder.input);

      // A fixed batch axis caps batching at its size; smaller batches are padded up to it.
      const batching = graphBatching(manifest.batching, graphs.image.fixedBatchSize);
      const maxBatchSize = batching.maxBatchSize;
      const textFixed = graphs.text.fixedBatchSize;
      const textBatching = {
        policy: manifest.batching.policy,
        maxBatchSize: effectiveMaxBatchSize(Math.max(manifest.batching.maxBatchSize, 64), textFixed),
        maxQueueDelayMs: manifest.batching.maxQueueDelayMs,
        preferredBatchSizes: [],
        // One request may bring hundreds of prompts (labels x templates): the text queue is deep.
        maxQueueSize: 16_384,
        instances,
      };

      const slot = preprocessor.slotSize;
      const batches = new ImageBatches(preprocessor, maxBatchSize, imageSessions.length, graphs.image.fixedBatchSize);
      const imageRunner = async (items: readonly Float32Array[], instance: number): Promise<Float32Array[]> => {
        const n = items.length;
        const out = await batches.run(imageSessions[instance]!, clip.imageEncoder.input, clip.imageEncoder.output, items);
        return splitEmbeddings(out[clip.imageEncoder.output]!, n, batches.rows(n), clip.embeddingSize, clip.imageEncoder.output);
      };
      const L = clip.contextLength;
      const textRunner = async (items: readonly TextItem[], instance: number): Promise<Float32Array[]> => {
        const n = items.length;
        const rows = textFixed ?? n;
        // Padding rows are blank prompts (all pad ids, mask over nothing); their outputs are dropped.
        const ids = new BigInt64Array(rows * L).fill(BigInt(clip.padTokenId));
        const mask = maskInput ? new BigInt64Array(rows * L) : undefined;
        items.forEach((item, i) => {
          for (let j = 0; j < L; j++) ids[i * L + j] = BigInt(item.ids[j]!);
          if (mask) mask.fill(1n, i * L, i * L + item.length);
        });
        const feeds = { [clip.textEncoder.input]: { data: ids, dims: [rows, L] }, ...(mask && maskInput ? { [maskInput]: { data: mask, dims: [rows, L] } } : {}) };
        const out = await textSessions[instance]!.run(feeds, [clip.textEncoder.output]);
        return splitEmbeddings(out[clip.textEncoder.output]!, n, rows, clip.embeddingSize, clip.textEncoder.output);
      };

      const info: VersionInfo = {
        model: ctx.modelName,
        version,
        kind: 'clip',
        provider: image.provider,
        providerNote: image.fallbackReason,
        batching,
        labelsCount: 0,
        inputs: [clip.imageEncoder.input, clip.textEncoder.input],
        outputs: [clip.imageEncoder.output, clip.textEncoder.output],
      };
      const health = new VersionHealth(ctx.metrics, ctx.logger, ctx.modelName, version);
      hooks = batcherHooks(ctx.metrics, ctx.modelName, version, health);
      const imageBatcher = new Batcher(batching, imageRunner, { hooks });
      const textBatcher = new Batcher(textBatching, textRunner, { hooks: stageBatcherHooks(ctx.metrics.textBatchSize, ctx.metrics.textInferenceDuration, ctx.modelName, version, health) });
      const cache = ctx.promptCache ?? new PromptCache({ maxEntries: 10_000, maxBytes: 16 * 1024 * 1024 }, ctx.metrics);
      if (clip.reranker) {
        const rerankHooks = stageBatcherHooks(ctx.metrics.rerankBatchSize, ctx.metrics.rerankInferenceDuration, ctx.modelName, version, health);
        reranker = await ClipReranker.load({ ...clip.reranker, file: plainFile(clip.reranker.file) }, dir, join(dir, plainFile(clip.tokenizer)), preprocessor.itemDims, manifest.batching, ctx, rerankHooks);
      }
      const served = new ClipVersion(info, manifest, [...imageSessions, ...textSessions, ...(reranker?.allSessions ?? [])], preprocessor, tokenizer, imageBatcher, textBatcher, cache, health, hooks, reranker);
      if (ctx.warmup) {
        await warmUp(imageRunner, instances, imageBatcher.latency, maxBatchSize, () => new Float32Array(slot));
        const blank = tokenizer.encode('');
        await warmUp(textRunner, instances, textBatcher.latency, Math.min(textBatching.maxBatchSize, 16), () => blank);
        if (reranker) await reranker.warmUp(slot);
      }
      return served;
    } catch (err) {
      hooks?.release();
      await releaseAll([...imageSessions, ...textSessions, ...(reranker?.allSessions ?? [])]);
      throw err;
    }
  }

  /** Default templates of the model (manifest `clip.templates`). */
  get defaultTemplates(): readonly string[] {
    return this.manifest.clip.templates;
  }

  /** Scores `labels` for one image; each distinct label (after CLIP's text cleanup) is answered once. */
  async zeroShot(image: Uint8Array, labels: readonly string[], options: ZeroShotOptions, startedAtMs = performance.now()): Promise<ZeroShotResult> {
    return this.inside(deadlineOf(options, startedAtMs), async () => {
      const distinct = dedupe(labels);
      const templates = options.templates.length > 0 ? options.templates : this.defaultTemplates;
      const [img, prompts] = await Promise.all([this.encodeImageInside(image, options, startedAtMs, options.rerank !== undefined), this.labelEmbeddings(distinct, templates, options, startedAtMs)]);
      const { scores, similarities } = zeroShotScores(img.embedding, prompts.embeddings, this.manifest.clip.logitScale, options.multiLabel, this.manifest.clip.multiLabel);
      const order = distinct.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
      const ranked = order.map((i) => ({ label: distinct[i]!, score: scores[i]!, similarity: similarities[i]! }));
      const answer = img.input && options.rerank ? await this.rerankTop(img.input, ranked, options.rerank.topK, options, startedAtMs) : { labels: ranked, rerank: undefined };
      return {
        labels: answer.labels.slice(0, Math.min(options.topK, answer.labels.length)),
        rerank: answer.rerank,
        truncated: distinct.filter((_, i) => prompts.truncated[i]),
        batchSize: img.batchSize,
        cacheHits: prompts.hits,
        cacheMisses: prompts.misses,
        timing: { ...img.timing, textMs: prompts.textMs, totalMs: performance.now() - startedAtMs },
      };
    });
  }

  /** Scores one image against a registered label set's matrix (`similarities`: one matrix-vector product; top_k by a heap). */
  async zeroShotLabelSet(image: Uint8Array, set: EncodedLabelSet, similarities: (set: LabelMatrix, image: Float32Array) => Promise<Float32Array>, options: ZeroShotOptions, startedAtMs = performance.now()): Promise<ZeroShotResult> {
    return this.inside(deadlineOf(options, startedAtMs), async () => {
      const img = await this.encodeImageInside(image, options, startedAtMs, options.rerank !== undefined);
      const sims = await similarities(set, img.embedding);
      const top = scoreSimilarities(sims, Math.max(options.topK, options.rerank?.topK ?? 0), this.manifest.clip.logitScale, options.multiLabel, this.manifest.clip.multiLabel);
      const ranked = top.map((t) => ({ label: set.labels[t.index]!, score: t.score, similarity: t.similarity }));
      const answer = img.input && options.rerank ? await this.rerankTop(img.input, ranked, options.rerank.topK, options, startedAtMs) : { labels: ranked, rerank: undefined };
      const answered = answer.labels.slice(0, options.topK);
      const truncated = new Set(top.filter((t) => set.truncated.has(t.index)).map((t) => set.labels[t.index]!));
      return {
        labels: answered,
        rerank: answer.rerank,
        truncated: answered.filter((l) => truncated.has(l.label)).map((l) => l.label),
        batchSize: img.batchSize,
        cacheHits: 0,
        cacheMisses: 0,
        timing: { ...img.timing, textMs: 0, totalMs: performance.now() - startedAtMs },
      };
    });
  }

  /**
   * Encodes a label set's prompts (labels x templates, the model's templates when it has none) in
   * chunks through the text batcher, bypassing the prompt cache, into one row-normalized matrix:
   * row i is label i's template ensemble, exactly as ad-hoc labels are scored.
   */
  async encodeLabelSet(definition: LabelSetDefinition, options: { chunkSize: number; deadline?: { startedAtMs: number; timeoutMs: number } | undefined; onProgress?: (done: number, total: number) => void }): Promise<EncodedLabelSet> {
    const { labels } = definition;
    const templates = definition.templates.length > 0 ? definition.templates : this.defaultTemplates;
    const width = this.manifest.clip.embeddingSize;
    const matrix = new Float32Array(labels.length * width);
    const truncated = new Set<number>();
    const chunk = Math.max(1, Math.floor(options.chunkSize / templates.length));
    for (let start = 0; start < labels.length; start += chunk) {
      const end = Math.min(labels.length, start + chunk);
      const rows = await Promise.all(
        labels.slice(start, end).map(async (label, offset) => {
          const normalized = cleanText(label);
          const got = await Promise.all(
            templates.map(async (t) => {
              const prompt = this.tokenizer.encode(fillTemplate(t, normalized));
              if (prompt.truncated) truncated.add(start + offset);
              return (await this.textBatcher.submit(prompt, options.deadline ?? {})).result;
            }),
          );
          return ensemble(got);
        }),
      );
      rows.forEach((row, offset) => matrix.set(row, (start + offset) * width));
      options.onProgress?.(end, labels.length);
    }
    return { labels, matrix, width, truncated };
  }

  /** L2-normalized image embedding of one image. */
  async embedImage(image: Uint8Array, options: EncodeOptions, startedAtMs = performance.now()): Promise<{ embedding: Float32Array; batchSize: number; timing: Omit<Timing, 'textMs' | 'totalMs'> }> {
    return this.inside(deadlineOf(options, startedAtMs), () => this.encodeImageInside(image, options, startedAtMs));
  }

  /** L2-normalized embeddings of raw texts (no template), cached like prompts. */
  async embedTexts(texts: readonly string[], options: EncodeOptions, startedAtMs = performance.now()): Promise<{ embeddings: Float32Array[]; truncated: boolean[]; textMs: number }> {
    // Text only: the image line's waits say nothing about it, so it is admitted on queue places alone.
    return this.inside(undefined, async () => {
      const t0 = performance.now();
      const got = await Promise.all(texts.map((t) => this.promptEmbedding('{}', t, options, startedAtMs)));
      return { embeddings: got.map((g) => g.value.embedding), truncated: got.map((g) => g.value.truncated), textMs: performance.now() - t0 };
    });
  }

  /** Admits one request (refused at once under overload, or when `deadline` cannot be met) and counts it inside while `work` runs. */
  private async inside<T>(deadline: Deadline | undefined, work: () => Promise<T>): Promise<T> {
    this.images.admit(1, deadline);
    this.active.enter();
    try {
      return await work();
    } finally {
      this.active.exit();
    }
  }

  private async encodeImageInside(image: Uint8Array, options: EncodeOptions, startedAtMs: number, keepInput = false): Promise<{ embedding: Float32Array; batchSize: number; timing: Omit<Timing, 'textMs' | 'totalMs'>; input?: Float32Array | undefined }> {
    const { batched, preprocessMs, input } = await this.images.run(image, { ...options, keepInput }, startedAtMs);
    return { embedding: batched.result, batchSize: batched.batchSize, timing: { preprocessMs, queueMs: batched.queueMs, inferenceMs: batched.inferenceMs }, input };
  }

  /**
   * Rescores the first `k` of `ranked` (cosine order) with the reranker in one batched run: they
   * come back in reranker order with its softmax over the k as `score`, the cosine score kept as
   * `cosineScore`; the labels beyond k are not part of a reranked answer.
   */
  private async rerankTop(input: Float32Array, ranked: readonly ZeroShotLabel[], k: number, options: EncodeOptions, startedAtMs: number): Promise<{ labels: ZeroShotLabel[]; rerank: RerankInfo }> {
    if (!this.reranker) throw new GatewayError('INVALID_ARGUMENT', `model "${this.info.model}" version ${this.info.version} has no reranker`);
    const candidates = ranked.slice(0, k);
    const scored = await this.reranker.score(input, candidates.map((c) => c.label), { timeoutMs: options.timeoutMs, startedAtMs, signal: options.signal });
    const { order, probabilities } = rerankOrder(scored.logits);
    const labels = order.map((i) => ({ label: candidates[i]!.label, score: probabilities[i]!, similarity: candidates[i]!.similarity, cosineScore: candidates[i]!.score, rerankLogit: scored.logits[i]! }));
    return { labels, rerank: { topK: candidates.length, batchSize: scored.batchSize, queueMs: scored.queueMs, inferenceMs: scored.inferenceMs } };
  }

  /** One embedding per label: its templates' prompt embeddings, ensembled. */
  private async labelEmbeddings(labels: readonly string[], templates: readonly string[], options: EncodeOptions, startedAtMs: number): Promise<{ embeddings: Float32Array[]; truncated: boolean[]; hits: number; misses: number; textMs: number }> {
    const t0 = performance.now();
    let hits = 0;
    let misses = 0;
    const perLabel = await Promise.all(
      labels.map(async (label) => {
        const got = await Promise.all(templates.map((t) => this.promptEmbedding(t, label, options, startedAtMs)));
        for (const g of got) if (g.hit) hits++;
        else misses++;
        return { embedding: ensemble(got.map((g) => g.value.embedding)), truncated: got.some((g) => g.value.truncated) };
      }),
    );
    const textMs = misses > 0 ? performance.now() - t0 : 0;
    return { embeddings: perLabel.map((p) => p.embedding), truncated: perLabel.map((p) => p.truncated), hits, misses, textMs };
  }

  /** The cached (or freshly encoded) embedding of `template` filled with `label`. */
  private promptEmbedding(template: string, label: string, options: EncodeOptions, startedAtMs: number): Promise<{ value: PromptEmbedding; hit: boolean }> {
    const normalized = cleanText(label);
    const key = promptKey(this.info.model, this.info.version, template, normalized);
    return this.cache.get(this.info.model, key, async () => {
      const prompt = this.tokenizer.encode(fillTemplate(template, normalized));
      // No cancellation signal: other requests may be waiting on this same encode.
      const batched = await this.textBatcher.submit(prompt, { timeoutMs: options.timeoutMs, startedAtMs });
      return { embedding: batched.result, truncated: prompt.truncated };
    });
  }

  /** Requests inside this version, preprocessing included. */
  get pending(): number {
    return this.active.size;
  }

  /** Waits for queued and running work, releases both towers and forgets the cached prompts. */
  close(): Promise<void> {
    const forget = (): void => {
      this.hooks.release();
      this.cache.forget(this.info.model, this.info.version);
    };
    const batchers = [this.imageBatcher, this.textBatcher, ...(this.reranker ? [this.reranker.batcher] : [])];
    return closeVersion({ active: this.active, batchers, sessions: this.sessions, forget });
  }
}

/** A request's deadline on the batcher clock; none for an infinite timeout. */
function deadlineOf(options: EncodeOptions, startedAtMs: number): Deadline | undefined {
  return Number.isFinite(options.timeoutMs) ? { startedAtMs, timeoutMs: options.timeoutMs } : undefined;
}

/** Distinct labels in first-seen order; labels equal after CLIP's text cleanup count once. */
function dedupe(labels: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const label of labels) {
    const key = cleanText(label);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(label);
  }
  return out;
}

/** Splits the first n rows of a [rows, embeddingSize] output (rows > n: padding) into L2-normalized rows; checks the shape. */
function splitEmbeddings(out: { data: Float32Array; dims: readonly number[] }, n: number, rows: number, embeddingSize: number, name: string): Float32Array[] {
  if (out.dims.length !== 2 || out.dims[0] !== rows || out.dims[1] !== embeddingSize) {
    throw new GatewayError('INFERENCE_FAILED', `output "${name}" has shape [${out.dims.join(', ')}] for a batch of ${rows}; expected [${rows}, ${embeddingSize}]`);
  }
  return Array.from({ length: n }, (_, i) => l2NormalizeInPlace(out.data.slice(i * embeddingSize, (i + 1) * embeddingSize)));
}


/** Manifest file names are plain names inside the version folder (or onnx/ for HF exports). */
function plainFile(file: string): string {
  if (file.startsWith('/') || file.split(/[\\/]/).some((part) => part === '..' || part === '')) throw new Error(`file "${file}" must be a relative path inside the version folder`);
  return file;
}
