// The optional reranking stage of a clip model's zero-shot: a cross-modal graph that rescores the
// cosine top-k labels of one image. Each request brings its preprocessed image (the image tower's
// input) and k prompts; the reranker's own Batcher gathers concurrent requests so one session.run
// scores every image of the batch against every candidate of the batch ([N, sum k] logits), and
// each request keeps its own block of that matrix.
import { join } from 'node:path';
import { type BatchRunner, Batcher, type BatcherHooks, type SubmitOptions } from '../batching/batcher.js';
import type { BatchingConfig } from '../batching/policy.js';
import { GatewayError } from '../errors.js';
import { softmaxInPlace } from './classifier.js';
import { graphBatching, openInstances, releaseAll, validateIo, warmUp } from './instances.js';
import { checkRerankerGraph } from './kind-checks.js';
import type { RerankerSettings } from './manifest.js';
import type { LoadContext } from './served.js';
import type { ModelSession } from './session.js';
import { ClipTokenizer, cleanText, fillTemplate } from './tokenizer.js';

/** One request's work: its image row and its candidates' token ids ([k, contextLength], row-major). */
interface RerankItem {
  readonly pixels: Float32Array;
  readonly ids: BigInt64Array;
  readonly candidates: number;
}

/** Reranker logits of one request's candidates, in the order given, and the batch it rode in. */
export interface RerankScores {
  readonly logits: Float32Array;
  readonly batchSize: number;
  readonly queueMs: number;
  readonly inferenceMs: number;
}

/** The loaded reranker graph of one clip version, behind its own batcher. */
export class ClipReranker {
  private constructor(
    readonly settings: RerankerSettings,
    private readonly tokenizer: ClipTokenizer,
    private readonly sessions: readonly ModelSession[],
    private readonly runner: BatchRunner<RerankItem, Float32Array>,
    readonly batcher: Batcher<RerankItem, Float32Array>,
    private readonly config: BatchingConfig,
  ) {}

  /**
   * Opens `settings.file` in `dir` (one session per instance), checks it against the contract
   * (kind-checks.ts), and builds its tokenizer from the clip model's tokenizer.json at the
   * reranker's context length. `itemDims` is the image tower's per-image input shape.
   */
  static async load(settings: RerankerSettings, dir: string, tokenizerPath: string, itemDims: readonly number[], batching: BatchingConfig, ctx: LoadContext, hooks: BatcherHooks): Promise<ClipReranker> {
    const tokenizer = await ClipTokenizer.load(tokenizerPath, { contextLength: settings.contextLength, padTokenId: settings.padTokenId });
    const sessions = await openInstances(join(dir, settings.file), batching.instances, ctx);
    try {
      const first = sessions[0]!;
      validateIo(first, [settings.imageInput, settings.textInput], [settings.output]);
      const { fixedBatchSize } = checkRerankerGraph(settings, first, itemDims);
      const config = graphBatching({ ...batching, maxBatchSize: Math.min(batching.maxBatchSize, settings.maxBatchSize), preferredBatchSizes: [] }, fixedBatchSize);
      const slot = itemDims.reduce((a, b) => a * b, 1);
      const L = settings.contextLength;
      const runner = async (items: readonly RerankItem[], instance: number): Promise<Float32Array[]> => {
        const rows = fixedBatchSize ?? items.length;
        const pixels = new Float32Array(rows * slot);
        const total = items.reduce((n, item) => n + item.candidates, 0);
        const ids = new BigInt64Array(total * L);
        let offset = 0;
        items.forEach((item, i) => {
          pixels.set(item.pixels, i * slot);
          ids.set(item.ids, offset * L);
          offset += item.candidates;
        });
        const feeds = { [settings.imageInput]: { data: pixels, dims: [rows, ...itemDims] }, [settings.textInput]: { data: ids, dims: [total, L] } };
        const out = (await sessions[instance]!.run(feeds, [settings.output]))[settings.output]!;
        if (out.dims.length !== 2 || out.dims[0] !== rows || out.dims[1] !== total) {
          throw new GatewayError('INFERENCE_FAILED', `reranker output "${settings.output}" has shape [${out.dims.join(', ')}] for ${rows} images and ${total} candidates; expected [${rows}, ${total}]`);
        }
        const logits = out.data;
        offset = 0;
        return items.map((item, i) => {
          const row = logits.slice(i * total + offset, i * total + offset + item.candidates);
          offset += item.candidates;
          return row;
        });
      };
      return new ClipReranker(settings, tokenizer, sessions, runner, new Batcher(config, runner, { hooks }), config);
    } catch (err) {
      await releaseAll(sessions);
      throw new Error(`reranker ${settings.file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Runs blank images against maxTopK blank prompts, batches of one and of the most images, before the version is ready. */
  async warmUp(slotSize: number): Promise<void> {
    const blank = this.tokenizer.encode('').ids.map((id) => BigInt(id));
    const ids = new BigInt64Array(this.settings.maxTopK * this.settings.contextLength);
    for (let i = 0; i < this.settings.maxTopK; i++) ids.set(blank, i * this.settings.contextLength);
    await warmUp(this.runner, this.config.instances, this.batcher.latency, this.config.maxBatchSize, () => ({ pixels: new Float32Array(slotSize), ids, candidates: this.settings.maxTopK }));
  }

  /** Logits of `labels` (each through the reranker's template) for one preprocessed image, through the batcher. */
  async score(pixels: Float32Array, labels: readonly string[], options: SubmitOptions): Promise<RerankScores> {
    const L = this.settings.contextLength;
    const ids = new BigInt64Array(labels.length * L);
    labels.forEach((label, i) => {
      const prompt = this.tokenizer.encode(fillTemplate(this.settings.template, cleanText(label)));
      for (let j = 0; j < L; j++) ids[i * L + j] = BigInt(prompt.ids[j]!);
    });
    const batched = await this.batcher.submit({ pixels, ids, candidates: labels.length }, options);
    return { logits: batched.result, batchSize: batched.batchSize, queueMs: batched.queueMs, inferenceMs: batched.inferenceMs };
  }

  /** Sessions to release when the version closes (after the batcher drained). */
  get allSessions(): readonly ModelSession[] {
    return this.sessions;
  }
}

/** Candidate order by reranker logit (best first, ties by cosine order) and the softmax over the candidates. */
export function rerankOrder(logits: Float32Array): { order: number[]; probabilities: Float32Array } {
  const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  return { order, probabilities: softmaxInPlace(logits.slice()) };
}

