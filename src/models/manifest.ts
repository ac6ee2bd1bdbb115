// The model manifest (model.json): one zod schema, normalized then validated at load, so a typo
// or a wrong value makes that model UNAVAILABLE with a reason instead of serving it wrongly.
// The contract is documented in docs/model-repository.md.
import { z } from 'zod';
import { DATATYPES } from './dtypes.js';

const positiveInt = z.number().int().positive();

const TensorSpecSchema = z
  .object({
    name: z.string().min(1),
    dtype: z.enum(['float32', 'int64', 'int32']).default('float32'),
    /** -1 (or a string) marks a dynamic axis. */
    shape: z.array(z.union([z.number().int(), z.string()])).optional(),
  })
  .strict();

export const PreprocessingSchema = z
  .object({
    /** [height, width] of the network input. */
    size: z.tuple([positiveInt, positiveInt]),
    resizeMode: z.enum(['shorter', 'stretch']).default('shorter'),
    cropFraction: z.number().gt(0).max(1).default(1),
    interpolation: z.enum(['bilinear', 'bicubic', 'nearest']).default('bilinear'),
    scale: z.number().positive().default(255),
    mean: z.array(z.number()).min(1).max(3).default([0, 0, 0]),
    std: z.array(z.number().positive()).min(1).max(3).default([1, 1, 1]),
    channelOrder: z.enum(['RGB', 'BGR', 'GRAY']).default('RGB'),
    layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
  })
  .strict()
  .superRefine((p, ctx) => {
    const channels = p.channelOrder === 'GRAY' ? 1 : 3;
    for (const key of ['mean', 'std'] as const) {
      if (p[key].length !== channels && p[key].length !== 1) {
        ctx.addIssue({ code: 'custom', path: [key], message: `needs ${channels} value(s) for channelOrder ${p.channelOrder}, got ${p[key].length}` });
      }
    }
  });

export type Preprocessing = z.infer<typeof PreprocessingSchema>;

export const BatchingSchema = z
  .object({
    /** `adaptive` (load- and deadline-aware) or `fixed` (Triton-style delay); see batching/policy.ts. */
    policy: z.enum(['adaptive', 'fixed']).default('adaptive'),
    maxBatchSize: positiveInt.max(1024).default(32),
    maxQueueDelayMs: z.number().min(0).max(10_000).default(2),
    /**
     * adaptive: the delay bound while requests wait in line for a decode place (batching/policy.ts);
     * never below maxQueueDelayMs (raised to it, so what is reported is what applies).
     */
    saturatedQueueDelayMs: z.number().min(0).max(10_000).default(20),
    preferredBatchSizes: z.array(positiveInt).default([]),
    maxQueueSize: positiveInt.max(1_000_000).default(256),
    instances: positiveInt.max(64).default(1),
    /** Deadline applied when the client sets none, ms. */
    defaultTimeoutMs: positiveInt.default(10_000),
  })
  .strict()
  .superRefine((b, ctx) => {
    const bad = b.preferredBatchSizes.filter((n) => n > b.maxBatchSize);
    if (bad.length > 0) ctx.addIssue({ code: 'custom', path: ['preferredBatchSizes'], message: `sizes ${bad.join(', ')} exceed maxBatchSize ${b.maxBatchSize}` });
  })
  .transform((b) => ({ ...b, saturatedQueueDelayMs: Math.max(b.saturatedQueueDelayMs, b.maxQueueDelayMs) }));

export type BatchingSettings = z.infer<typeof BatchingSchema>;

const EncoderSchema = z.object({ file: z.string().min(1), input: z.string().min(1), output: z.string().min(1) }).strict();

/**
 * The optional cross-modal reranker of a clip model: one graph in the version folder that scores
 * images [N, ...image tower input] against candidate prompts (token ids [K, contextLength], padding
 * after the end token masked by the graph) as logits [N, K]. It reads the image tower's
 * preprocessed input, and each candidate is `template` filled with the label as the caller wrote
 * it, tokenized with the model's tokenizer.json at its own context length.
 */
export const RerankerSchema = z
  .object({
    file: z.string().min(1),
    imageInput: z.string().min(1).default('pixel_values'),
    textInput: z.string().min(1).default('input_ids'),
    output: z.string().min(1).default('logits'),
    contextLength: positiveInt.max(1024),
    padTokenId: z.number().int().nonnegative().default(0),
    /** The prompt the reranker was trained with, "{}" = the label. */
    template: z.string().includes('{}', { message: 'needs "{}" where the label goes' }),
    /** The most candidates one request may rerank (`rerank_top_k`). */
    maxTopK: positiveInt.max(256).default(16),
    /** Images per reranker run: a batch of N images scores N x (their candidates summed) pairs. */
    maxBatchSize: positiveInt.max(256).default(8),
    /** What a request that says nothing about reranking gets. */
    rerank: z.object({ enabled: z.boolean().default(false), topK: positiveInt.default(5) }).strict().default({ enabled: false, topK: 5 }),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.rerank.topK > r.maxTopK) ctx.addIssue({ code: 'custom', path: ['rerank', 'topK'], message: `${r.rerank.topK} exceeds maxTopK ${r.maxTopK}` });
  });

export type RerankerSettings = z.infer<typeof RerankerSchema>;

export const ClipSettingsSchema = z
  .object({
    imageEncoder: EncoderSchema,
    textEncoder: EncoderSchema,
    tokenizer: z.string().min(1).default('tokenizer.json'),
    contextLength: positiveInt.default(77),
    padTokenId: z.number().int().nonnegative().default(49407),
    logitScale: z.number().positive().max(1000).default(100),
    embeddingSize: positiveInt,
    templates: z.array(z.string().includes('{}')).min(1).default(['a photo of a {}.']),
    /** multi_label scores = sigmoid(scale x cosine + bias), fitted on validation data by training/. */
    multiLabel: z.object({ scale: z.number().positive().max(1000), bias: z.number().min(-1000).max(1000) }).strict().optional(),
    /** Optional cross-modal reranker of the cosine top-k (docs/zero-shot.md, "Reranking"). */
    reranker: RerankerSchema.optional(),
  })
  .strict();

/** Which version folders are served: all of them, or only the newest n that loaded. */
export const VersionPolicySchema = z.union([z.literal('all'), z.object({ latest: positiveInt }).strict()]).default('all');

/**
 * Opt-in response cache of a version (Triton's response cache): answers keyed by a hash of the
 * request's inputs and parameters, bounded by entries and bytes.
 */
export const ResponseCacheSchema = z
  .object({
    maxEntries: positiveInt.max(10_000_000),
    maxBytes: positiveInt.max(64 * 1024 ** 3),
  })
  .strict();

export type ResponseCacheSettings = z.infer<typeof ResponseCacheSchema>;

/** A `tensor` model's I/O as the manifest may narrow it: the graph says the rest. */
const TensorIoSchema = z
  .object({
    name: z.string().min(1),
    datatype: z.enum(DATATYPES).optional(),
    /** -1 marks a dynamic dimension; a number fixes one the graph leaves dynamic. */
    shape: z.array(z.number().int().min(-1)).optional(),
  })
  .strict();

const common = {
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/, 'letters, digits, ".", "_" or "-", at most 128'),
  description: z.string().default(''),
  versionPolicy: VersionPolicySchema,
  preprocessing: PreprocessingSchema,
  batching: BatchingSchema.default(BatchingSchema.parse({})),
};

export const ClassifierManifestSchema = z
  .object({
    ...common,
    kind: z.literal('image-classifier'),
    /** Graph file inside the version folder. */
    file: z.string().min(1).default('model.onnx'),
    inputs: z.array(TensorSpecSchema).length(1),
    outputs: z.array(TensorSpecSchema).min(1),
    postprocessing: z.enum(['softmax', 'none']).default('softmax'),
    labels: z.union([z.string().min(1), z.array(z.string())]).default('labels.txt'),
    responseCache: ResponseCacheSchema.optional(),
  })
  .strict();

export const ClipManifestSchema = z
  .object({
    ...common,
    kind: z.literal('clip'),
    clip: ClipSettingsSchema,
  })
  .strict();

/** Any ONNX graph, tensors in and out over KServe v2: the I/O is read from the graph. */
export const TensorManifestSchema = z
  .object({
    name: common.name,
    description: common.description,
    versionPolicy: common.versionPolicy,
    batching: common.batching,
    kind: z.literal('tensor'),
    file: z.string().min(1).default('model.onnx'),
    /** Narrows graph inputs (datatype checks, fixed dimensions); every graph input is still fed. */
    inputs: z.array(TensorIoSchema).min(1).optional(),
    /** The outputs served (a subset of the graph's); absent = all. */
    outputs: z.array(TensorIoSchema).min(1).optional(),
    /** `auto`: batch along the first axis when the graph has one; `none`: one request per session.run. */
    batchAxis: z.enum(['auto', 'none']).default('auto'),
    responseCache: ResponseCacheSchema.optional(),
  })
  .strict();

export const ManifestSchema = z.discriminatedUnion('kind', [ClassifierManifestSchema, ClipManifestSchema, TensorManifestSchema]);

export type Manifest = z.infer<typeof ManifestSchema>;
export type ClassifierManifest = z.infer<typeof ClassifierManifestSchema>;
export type ClipManifest = z.infer<typeof ClipManifestSchema>;
export type TensorManifest = z.infer<typeof TensorManifestSchema>;

/** Validates parsed JSON; throws an Error whose message lists every problem with its path. */
export function parseManifest(json: unknown, folderName?: string): Manifest {
  // The name defaults to the folder's (as in Triton), so `{"kind": "tensor"}` is a whole manifest.
  const named = folderName !== undefined && typeof json === 'object' && json !== null && !Array.isArray(json) && !('name' in json) ? { ...json, name: folderName } : json;
  const result = ManifestSchema.safeParse(named);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid model.json: ${issues}`);
  }
  if (folderName !== undefined && result.data.name !== folderName) {
    throw new Error(`invalid model.json: name "${result.data.name}" does not match folder "${folderName}"`);
  }
  return result.data;
}
