// The zero-shot and embedding domain calls every transport adapts (gRPC ZeroShotClassify and
// Embed, HTTP /v1/zero-shot and /v1/embed): validate labels, templates and limits, resolve a
// clip model, run it, and record the request's metrics and log line exactly once.
import { performance } from 'node:perf_hooks';
import type { GatewayConfig } from '../config.js';
import { GatewayError } from '../errors.js';
import { ClipVersion, type EncodeOptions, type RerankInfo, type ZeroShotLabel, type ZeroShotResult } from '../models/clip.js';
import type { LabelSetRegistry } from '../models/label-sets.js';
import type { ModelRepository } from '../models/repository.js';
import type { Timing } from '../models/served.js';
import type { Call, CallContext, KindRequirement, RequestScope } from './call.js';

export interface ZeroShotRequest {
  /** Empty = the only clip model in the repository, if there is exactly one. */
  readonly model: string;
  readonly version?: string | undefined;
  readonly image: Uint8Array;
  /** Ad-hoc labels; empty when `labelSet` names a registered set. */
  readonly labels: readonly string[];
  /** A registered label set (see label-sets.ts) instead of `labels`. */
  readonly labelSet?: string | undefined;
  /** Prompt templates with `{}` for the label; empty = the model's default. */
  readonly templates?: readonly string[] | undefined;
  /** 0 or undefined = every label. */
  readonly topK?: number | undefined;
  readonly multiLabel?: boolean | undefined;
  /** Rescore the cosine top-k with the model's reranker; undefined = the manifest's default (clip.reranker.rerank). */
  readonly rerank?: boolean | undefined;
  /** Candidates to rerank, at most the manifest's maxTopK; 0 or undefined = the manifest's default. */
  readonly rerankTopK?: number | undefined;
}

export interface ZeroShotResponse {
  readonly model: string;
  readonly version: string;
  /** Best first: softmax probabilities, or per-label sigmoid scores in multi-label mode. */
  readonly labels: readonly ZeroShotLabel[];
  /** Present when the cosine top-k was reranked (then `labels` holds those k, reranked). */
  readonly rerank: RerankInfo | undefined;
  /** Labels whose prompt was longer than the context length and was truncated. */
  readonly truncated: readonly string[];
  readonly timing: Timing;
  readonly batchSize: number;
  readonly cache: { readonly hits: number; readonly misses: number };
  readonly requestId: string;
}

export interface EmbedRequest {
  readonly model: string;
  readonly version?: string | undefined;
  /** Empty or undefined = no image. */
  readonly image?: Uint8Array | undefined;
  readonly texts?: readonly string[] | undefined;
}

export interface EmbedResponse {
  readonly model: string;
  readonly version: string;
  /** L2-normalized; undefined when no image was sent. */
  readonly imageEmbedding: Float32Array | undefined;
  /** L2-normalized, one per text, in order. */
  readonly textEmbeddings: readonly Float32Array[];
  /** Indices of texts truncated to the context length. */
  readonly truncated: readonly number[];
  /** CLIP tokens the text tower read per text (start and end included, after truncation). */
  readonly textTokens: readonly number[];
  readonly dimensions: number;
  readonly timing: Timing;
  readonly requestId: string;
}

const CLIP: KindRequirement<ClipVersion> = {
  is: (served): served is ClipVersion => served instanceof ClipVersion,
  needs: 'zero-shot classification and embeddings need a clip model',
  hint: 'use Classify for image classifiers',
};

/** Zero-shot classification and embeddings over the clip models of the repository. */
export class ZeroShotService {
  private readonly config: GatewayConfig;

  constructor(
    private readonly scope: RequestScope,
    private readonly repository: ModelRepository,
    private readonly labelSets: LabelSetRegistry,
  ) {
    this.config = scope.config;
  }

  /** Scores an image against text labels or a registered label set (top_k 0 = the configured default for a set); throws a GatewayError on any failure. */
  async classify(request: ZeroShotRequest, ctx: CallContext): Promise<ZeroShotResponse> {
    return this.call(request.model, request.version, ctx, async ({ served, timeoutMs, startedAtMs }) => {
      const labelSet = request.labelSet ?? '';
      const result = labelSet ? await this.classifyWithSet(served, labelSet, request, { timeoutMs, signal: ctx.signal }, startedAtMs) : await this.classifyAdHoc(served, request, { timeoutMs, signal: ctx.signal }, startedAtMs);
      return {
        model: served.info.model,
        version: served.info.version,
        labels: result.labels,
        rerank: result.rerank,
        truncated: result.truncated,
        timing: result.timing,
        batchSize: result.batchSize,
        cache: { hits: result.cacheHits, misses: result.cacheMisses },
        requestId: ctx.requestId,
      };
    });
  }

  private async classifyWithSet(served: ClipVersion, name: string, request: ZeroShotRequest, options: EncodeOptions, startedAtMs: number): Promise<ZeroShotResult> {
    if (request.labels.length > 0) throw new GatewayError('INVALID_ARGUMENT', 'give either labels or label_set, not both');
    if ((request.templates ?? []).length > 0) throw new GatewayError('INVALID_ARGUMENT', `templates cannot be given with label_set: label set "${name.slice(0, 128)}" was encoded with its own templates`);
    const rerank = rerankOption(served, request);
    const set = await this.labelSets.resolve(served, name);
    return served.zeroShotLabelSet(request.image, set, this.labelSets.similarities, { ...options, topK: this.scope.topK(request.topK), multiLabel: request.multiLabel ?? false, templates: [], rerank }, startedAtMs);
  }

  private async classifyAdHoc(served: ClipVersion, request: ZeroShotRequest, options: EncodeOptions, startedAtMs: number): Promise<ZeroShotResult> {
    this.checkTexts(request.labels, 'labels', 'label');
    const templates = this.checkTemplates(request.templates ?? []);
    const topK = request.topK === undefined || request.topK === 0 ? request.labels.length : this.scope.topK(request.topK);
    const rerank = rerankOption(served, request);
    return served.zeroShot(request.image, request.labels, { ...options, topK, multiLabel: request.multiLabel ?? false, templates, rerank }, startedAtMs);
  }

  /** Embeds an image and/or texts; throws a GatewayError on any failure. */
  async embed(request: EmbedRequest, ctx: CallContext): Promise<EmbedResponse> {
    return this.call(request.model, request.version, ctx, async ({ served, timeoutMs, startedAtMs }) => {
      const texts = request.texts ?? [];
      const image = request.image !== undefined && request.image.length > 0 ? request.image : undefined;
      if (!image && texts.length === 0) throw new GatewayError('INVALID_ARGUMENT', 'nothing to embed: send an image, texts, or both');
      if (texts.length > 0) this.checkTexts(texts, 'texts', 'text');
      const options = { timeoutMs, signal: ctx.signal };
      const [img, txt] = await Promise.all([
        image ? served.embedImage(image, options, startedAtMs) : undefined,
        texts.length > 0 ? served.embedTexts(texts, options, startedAtMs) : undefined,
      ]);
      return {
        model: served.info.model,
        version: served.info.version,
        imageEmbedding: img?.embedding,
        textEmbeddings: txt?.embeddings ?? [],
        truncated: (txt?.truncated ?? []).flatMap((t, i) => (t ? [i] : [])),
        textTokens: texts.map((t) => served.tokenizer.encode(t).length),
        dimensions: served.manifest.clip.embeddingSize,
        timing: { preprocessMs: img?.timing.preprocessMs ?? 0, queueMs: img?.timing.queueMs ?? 0, inferenceMs: img?.timing.inferenceMs ?? 0, textMs: txt?.textMs ?? 0, totalMs: performance.now() - startedAtMs },
        requestId: ctx.requestId,
      };
    });
  }

  /** Runs `work` in the request scope on a clip model; an empty name means the only clip model. */
  private call<T>(model: string, version: string | undefined, ctx: CallContext, work: (call: Call<ClipVersion>) => Promise<T>): Promise<T> {
    return this.scope.run(ctx, model || this.defaultModel(), version, CLIP, work);
  }

  /** The model used when a request names none: the only clip model, else '' (refused by validateName). */
  private defaultModel(): string {
    const clips = this.repository.list().filter((m) => m.kind === 'clip');
    return clips.length === 1 ? clips[0]!.name : '';
  }

  private checkTexts(texts: readonly string[], field: string, item: string): void {
    const max = this.config.zeroShotMaxLabels;
    if (texts.length === 0) throw new GatewayError('INVALID_ARGUMENT', `${field} is required: give at least one ${item}`);
    if (texts.length > max) throw new GatewayError('INVALID_ARGUMENT', `too many ${field}: ${texts.length} given, the limit is ${max}`);
    texts.forEach((text, i) => {
      if (typeof text !== 'string' || text.trim().length === 0) throw new GatewayError('INVALID_ARGUMENT', `${item} ${i} is empty; every ${item} needs text`);
      if (text.length > this.config.zeroShotMaxLabelChars) {
        throw new GatewayError('INVALID_ARGUMENT', `${item} ${i} is ${text.length} characters long; the limit is ${this.config.zeroShotMaxLabelChars}`);
      }
    });
  }

  private checkTemplates(templates: readonly string[]): readonly string[] {
    const max = this.config.zeroShotMaxTemplates;
    if (templates.length > max) throw new GatewayError('INVALID_ARGUMENT', `too many templates: ${templates.length} given, the limit is ${max}`);
    templates.forEach((t, i) => {
      if (typeof t !== 'string' || !t.includes('{}')) throw new GatewayError('INVALID_ARGUMENT', `template ${i} ("${String(t).slice(0, 64)}") has no "{}" where the label goes, e.g. "a photo of a {}."`);
      if (t.length > this.config.zeroShotMaxTemplateChars) {
        throw new GatewayError('INVALID_ARGUMENT', `template ${i} is ${t.length} characters long; the limit is ${this.config.zeroShotMaxTemplateChars}`);
      }
    });
    return templates;
  }
}

/**
 * Whether and how deep a request is reranked: `rerank` as asked, else the manifest's default
 * (which never applies to multi-label requests); `rerank_top_k` bounded by the manifest's maxTopK.
 * Asking for what the model cannot do is INVALID_ARGUMENT naming the field and the limit.
 */
export function rerankOption(served: ClipVersion, request: Pick<ZeroShotRequest, 'rerank' | 'rerankTopK' | 'multiLabel'>): { topK: number } | undefined {
  const settings = served.reranker?.settings;
  const name = `model "${served.info.model}" version ${served.info.version}`;
  const kGiven = request.rerankTopK !== undefined && request.rerankTopK !== 0;
  if (request.rerank === true && !settings) throw new GatewayError('INVALID_ARGUMENT', `${name} has no reranker: rerank needs a clip model whose model.json names one (clip.reranker)`);
  if (request.rerank === true && request.multiLabel === true) throw new GatewayError('INVALID_ARGUMENT', 'rerank and multi_label cannot be combined: the reranker picks one label (a softmax over the candidates)');
  const on = request.rerank ?? (settings?.rerank.enabled === true && request.multiLabel !== true);
  if (!on || !settings) {
    if (kGiven) throw new GatewayError('INVALID_ARGUMENT', `rerank_top_k is only used when reranking: set rerank to true${settings ? '' : ` (and ${name} has no reranker)`}`);
    return undefined;
  }
  const topK = kGiven ? request.rerankTopK : settings.rerank.topK;
  if (topK > settings.maxTopK) throw new GatewayError('INVALID_ARGUMENT', `rerank_top_k ${topK} exceeds the limit of ${name}: at most ${settings.maxTopK} candidates (clip.reranker.maxTopK)`);
  return { topK };
}
