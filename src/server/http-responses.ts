// The answer schemas of the HTTP API, one per route, written in zod like the request schemas of
// http-schemas.ts and turned into JSON Schema (2020-12, as OpenAPI 3.1 reads it) for the OpenAPI
// document. They describe what the handlers send; the routes do not serialize with them (a route
// whose answer grows a field keeps sending it), and test/integration/openapi.test.ts checks real
// answers against them. Each carries an example, shown by Swagger UI.
import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';

const requestId = z.string().meta({ description: 'the request id (the caller\'s x-request-id, else a UUID)' });
const version = z.string().meta({ description: 'the version that answered' });

/** Where a request's time went, ms. */
const timing = z.looseObject({
  preprocessMs: z.number().meta({ description: 'decoding and resizing the image, ms' }),
  queueMs: z.number().meta({ description: 'waiting in the batch queue, ms' }),
  inferenceMs: z.number().meta({ description: 'the model run of the whole batch this request rode in, ms' }),
  totalMs: z.number().meta({ description: 'the whole request, ms' }),
  cached: z.boolean().meta({ description: 'true when the model\'s response cache answered (no decode, queue or inference); absent otherwise' }).optional(),
});
const clipTiming = timing.extend({ textMs: z.number().meta({ description: 'getting every prompt embedding (0 when all were cached), ms' }) });

export const classifyAnswer = z
  .object({
    model: z.string(),
    version,
    labels: z.array(z.object({ label: z.string(), score: z.number(), index: z.int().min(0) })).meta({ description: 'best first' }),
    timing,
    batch_size: z.int().min(1).meta({ description: 'size of the batch this request ran in' }),
    request_id: requestId,
  })
  .meta({
    examples: [
      {
        model: 'shapes-mobilenetv3',
        version: '1',
        labels: [
          { label: 'red_cross', score: 0.92, index: 5 },
          { label: 'red_star', score: 0.005, index: 3 },
        ],
        timing: { preprocessMs: 3.9, queueMs: 0.3, inferenceMs: 2.3, totalMs: 7.7 },
        batch_size: 1,
        request_id: '672b4197-7dcf-49c6-9654-84df14b57121',
      },
    ],
  });

export const zeroShotAnswer = z
  .object({
    model: z.string(),
    version,
    labels: z
      .array(
        z.object({
          label: z.string(),
          score: z.number(),
          cosine_score: z.number().meta({ description: 'reranked answers: the cosine score of this label (softmax over every label)' }).optional(),
          rerank_logit: z.number().meta({ description: "reranked answers: the reranker's logit" }).optional(),
        }),
      )
      .meta({ description: "best first: softmax probabilities, or per-label sigmoid scores with multi_label; reranked: the reranker's softmax over the k candidates" }),
    truncated: z.array(z.string()).meta({ description: 'labels whose prompt was cut to the context length (absent when none)' }).optional(),
    reranked: z.literal(true).meta({ description: 'present when the cosine top-k was rescored by the reranker (then labels holds those k)' }).optional(),
    rerank: z
      .object({ top_k: z.int().min(1), batch_size: z.int().min(1), queue_ms: z.number(), inference_ms: z.number() })
      .meta({ description: 'reranked answers: candidates rescored, the reranker batch this request rode in and its time' })
      .optional(),
    timing: clipTiming,
    batch_size: z.int().min(1),
    cache: z.object({ hits: z.int().min(0), misses: z.int().min(0) }).meta({ description: 'prompt-embedding cache hits and misses of this request' }),
    request_id: requestId,
  })
  .meta({
    examples: [
      {
        model: 'miniclip-shapes',
        version: '1',
        labels: [
          { label: 'red circle', score: 0.55 },
          { label: 'blue square', score: 0.45 },
        ],
        timing: { preprocessMs: 3.1, queueMs: 0.1, inferenceMs: 1.8, textMs: 0, totalMs: 5.2 },
        batch_size: 1,
        cache: { hits: 2, misses: 0 },
        request_id: '95da42cf-6f40-4e95-9576-9c088ae348be',
      },
    ],
  });

export const embedAnswer = z
  .object({
    model: z.string(),
    version,
    dimensions: z.int().min(1),
    image_embedding: z.array(z.number()).meta({ description: 'L2-normalized (absent without an image)' }).optional(),
    text_embeddings: z.array(z.array(z.number())).meta({ description: 'L2-normalized, one per text, in order (absent without texts)' }).optional(),
    truncated: z.array(z.int().min(0)).meta({ description: 'indices of texts cut to the context length (absent when none)' }).optional(),
    timing: clipTiming,
    request_id: requestId,
  })
  .meta({
    examples: [
      {
        model: 'miniclip-shapes',
        version: '1',
        dimensions: 4,
        text_embeddings: [[-0.5, 0.5, 0.5, 0.5]],
        timing: { preprocessMs: 0, queueMs: 0, inferenceMs: 0, textMs: 12.5, totalMs: 12.9 },
        request_id: '0b6f4e8e-3c1e-4c55-9a57-2f3d1f0b6a11',
      },
    ],
  });

/** POST /v1/embeddings: OpenAI's embeddings answer. */
export const openAiEmbeddingsAnswer = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        object: z.literal('embedding'),
        index: z.int().min(0),
        embedding: z.union([z.array(z.number()), z.string()]).meta({ description: 'L2-normalized; with encoding_format "base64", the float32 values\' little-endian bytes in base64' }),
      }),
    ),
    model: z.string(),
    usage: z.object({
      prompt_tokens: z.int().min(0).meta({ description: 'CLIP tokens the text tower read (start and end tokens included); images count none' }),
      total_tokens: z.int().min(0),
    }),
  })
  .meta({ examples: [{ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [-0.5, 0.5, 0.5, 0.5] }], model: 'miniclip-shapes', usage: { prompt_tokens: 5, total_tokens: 5 } }] });

/** The error body of POST /v1/embeddings, as OpenAI's API writes it; `code` is the catalog code in lower case. */
export const openAiErrorAnswer = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().meta({ description: 'invalid_request_error, authentication_error, permission_error, not_found_error, rate_limit_error or server_error' }),
      param: z.string().nullable().meta({ description: 'the request field at fault, when one is' }),
      code: z.string().meta({ description: 'the gateway\'s error code in lower case, e.g. model_not_found' }),
    }),
  })
  .meta({ examples: [{ error: { message: 'model "nope" not found; available models: miniclip-shapes', type: 'not_found_error', param: 'model', code: 'model_not_found' } }] });

const modelState = z.string().meta({ description: 'READY, LOADING or UNAVAILABLE' });

/** A model's summary; loose, since a kind may add fields of its own. */
const modelStatus = z.looseObject({
  name: z.string(),
  kind: z.string().meta({ description: 'image-classifier, clip, ...' }),
  description: z.string(),
  state: modelState,
  reason: z.string().meta({ description: 'why the model is not READY ("" when it is)' }),
  defaultVersion: z.string().meta({ description: 'the version a request without one gets ("" when none is ready)' }),
  versions: z.array(
    z.looseObject({
      version: z.string(),
      state: modelState,
      reason: z.string(),
      info: z
        .looseObject({
          provider: z.string().meta({ description: 'execution provider in use (cpu, cuda)' }),
          providerNote: z.string().optional(),
          batching: z.looseObject({ maxBatchSize: z.int(), maxQueueDelayMs: z.number() }),
          inputs: z.array(z.string()),
          outputs: z.array(z.string()),
        })
        .meta({ description: 'serving settings of a loaded version (absent while not loaded)' })
        .optional(),
      healthy: z.boolean().meta({ description: 'false while the version fails batch after batch (it keeps serving)' }),
      lastError: z.string(),
    }),
  ),
});
const modelExample = {
  name: 'shapes-mobilenetv3',
  kind: 'image-classifier',
  description: 'MobileNetV3-small on 64 procedural shape classes',
  state: 'READY',
  reason: '',
  defaultVersion: '1',
  versions: [
    {
      version: '1',
      state: 'READY',
      reason: '',
      info: {
        model: 'shapes-mobilenetv3',
        version: '1',
        kind: 'image-classifier',
        provider: 'cpu',
        batching: { policy: 'adaptive', maxBatchSize: 32, maxQueueDelayMs: 2, saturatedQueueDelayMs: 20, preferredBatchSizes: [], maxQueueSize: 256, instances: 1, defaultTimeoutMs: 10000 },
        labelsCount: 64,
        inputs: ['input'],
        outputs: ['logits'],
      },
      healthy: true,
      lastError: '',
    },
  ],
};

export const modelAnswer = modelStatus.meta({ examples: [modelExample] });
export const modelsAnswer = z.object({ models: z.array(modelStatus) }).meta({ examples: [{ models: [modelExample] }] });

export const healthAnswer = z.object({ status: z.literal('ok') }).meta({ examples: [{ status: 'ok' }] });
export const readyAnswer = z
  .object({ ready: z.boolean(), draining: z.boolean(), models: z.array(z.object({ name: z.string(), state: modelState })) })
  .meta({ description: '200 when every model finished loading and the gateway is not draining, else 503', examples: [{ ready: true, draining: false, models: [{ name: 'shapes-mobilenetv3', state: 'READY' }] }] });

/** The error body of every /v1 route, health and metrics. */
export const errorAnswer = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES as [string, ...string[]]).meta({ description: 'the gateway\'s error code (stable; also the gRPC error detail)' }),
      message: z.string().meta({ description: 'what was wrong and, where one was hit, the limit' }),
      request_id: requestId,
    }),
  })
  .meta({ examples: [{ error: { code: 'INVALID_IMAGE', message: 'bytes are not an image in a supported format (jpeg, png, webp, gif, tiff)', request_id: '93a7a239-1467-44a3-a406-186e318d102f' } }] });

/** The error body of the /v2 routes, as the Open Inference Protocol says; the code is the x-error-code header. */
export const v2ErrorAnswer = z
  .object({ error: z.string() })
  .meta({ examples: [{ error: 'model "nope" not found; available models: shapes-mobilenetv3' }] });

export const v2ServerAnswer = z
  .object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) })
  .meta({ examples: [{ name: 'inference-gateway', version: '0.1.0', extensions: ['binary_tensor_data', 'classification'] }] });

const tensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.int()).meta({ description: '-1 marks a dynamic dimension' }) });
export const v2ModelAnswer = z
  .object({ name: z.string(), versions: z.array(z.string()), platform: z.string(), inputs: z.array(tensorMetadata), outputs: z.array(tensorMetadata) })
  .meta({
    examples: [
      {
        name: 'shapes-mobilenetv3',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 64, 64] }],
        outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 64] }],
      },
    ],
  });

export const v2InferAnswer = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string(),
    parameters: z.object({ cached: z.boolean() }).meta({ description: 'present when the model\'s response cache answered' }).optional(),
    outputs: z.array(
      z.looseObject({
        name: z.string(),
        datatype: z.string(),
        shape: z.array(z.int().min(0)),
        data: z.array(z.unknown()).meta({ description: 'row-major values (absent for a binary output)' }).optional(),
        parameters: z.looseObject({ binary_data_size: z.int().min(0).optional() }).optional(),
      }),
    ),
  })
  .meta({
    description: 'JSON; with binary outputs requested, application/octet-stream: this JSON (its length in inference-header-content-length) followed by the tensors\' bytes',
    examples: [{ model_name: 'shapes-mobilenetv3', model_version: '1', id: 'req-1', outputs: [{ name: 'logits', datatype: 'FP32', shape: [1, 2], data: [3.1, -0.4] }] }],
  });

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of an answer schema. */
export function answerSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output' }) as Record<string, unknown>;
  delete json['$schema'];
  return json;
}

const labelSetSummary = z.object({
  model: z.string(),
  name: z.string(),
  source: z.enum(['file', 'api']).meta({ description: 'a labelsets/<name>.txt file in the model folder, or PUT /v1/label-sets/:name' }),
  labels_count: z.int(),
  templates: z.array(z.string()).meta({ description: 'the set\'s templates; empty = the model\'s' }),
  hash: z.string().meta({ description: 'hex SHA-256 of templates and labels' }),
  registered_at: z.string(),
  encoded_at: z.record(z.string(), z.string()).meta({ description: 'when each served version\'s matrix was encoded, by version' }),
  matrix_bytes: z.int().meta({ description: 'bytes of one version\'s embedding matrix (labels x width x 4)' }),
});
const labelSetExample = {
  model: 'miniclip-shapes',
  name: 'shapes',
  source: 'api',
  labels_count: 3,
  templates: [],
  hash: '5c0d5d1f0f3b8e7f5a0d6a4a3c9e1d2b7f8e9a0b1c2d3e4f5a6b7c8d9e0f1a2b',
  registered_at: '2026-11-29T23:00:00.000Z',
  encoded_at: { '1': '2026-11-29T23:00:00.000Z' },
  matrix_bytes: 1536,
};
export const labelSetAnswer = labelSetSummary.extend({ labels: z.array(z.string()).optional() }).meta({ examples: [{ ...labelSetExample, labels: ['red circle', 'blue star', 'green square'] }] });
export const labelSetsAnswer = z
  .object({
    label_sets: z.array(labelSetSummary),
    errors: z.array(z.object({ model: z.string(), name: z.string(), error: z.string() })).meta({ description: 'label-set files that were refused (the previous set of that name keeps serving)' }),
  })
  .meta({ examples: [{ label_sets: [labelSetExample], errors: [{ model: 'miniclip-shapes', name: 'broken', error: 'labelsets/broken.txt: line 3 is empty; every line is a label, a "#template: ..." line or a "#" comment' }] }] });
export const labelSetDeletedAnswer = z.object({ deleted: z.literal(true) }).meta({ examples: [{ deleted: true }] });
