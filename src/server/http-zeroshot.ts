// HTTP routes of zero-shot classification and embeddings: POST /v1/zero-shot and POST /v1/embed,
// multipart or JSON. A thin adapter: the one body reader (http-common.ts) reads the fields
// (repeated or comma-separated labels, repeatable templates) and refuses unknown ones by name;
// this file calls the zero-shot service.
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.js';
import { type BodyLimits, readBody } from './http-body.js';
import { httpContext, list } from './http-common.js';
import { type EmbedFields, FORM_SCHEMAS, ROUTE_SCHEMAS, type ZeroShotFields, toFlag, toInteger, toOptionalFlag, toVersion } from './http-schemas.js';
import type { EmbedResponse, ZeroShotResponse, ZeroShotService } from './zeroshot-service.js';

export function addZeroShotRoutes(app: FastifyInstance, zeroShot: ZeroShotService, limits: BodyLimits): void {
  app.post('/v1/zero-shot', { schema: ROUTE_SCHEMAS.zeroShot }, async (request, reply) => {
    const { image, fields } = await readBody<ZeroShotFields>(request, limits, { formSchema: FORM_SCHEMAS.zeroShot, rawImage: false });
    if (!image) throw new GatewayError('INVALID_ARGUMENT', 'an "image" is required (a multipart file field, or base64 in JSON)');
    const response = await zeroShot.classify(
      {
        model: fields.model ?? '',
        version: toVersion(fields.version),
        image,
        labels: typeof fields.labels === 'string' ? fields.labels.split(',').map((l) => l.trim()) : (fields.labels ?? []),
        labelSet: fields.label_set,
        templates: [...list(fields.templates), ...list(fields.template)],
        topK: toInteger(fields.top_k),
        multiLabel: toFlag(fields.multi_label),
        rerank: toOptionalFlag(fields.rerank),
        rerankTopK: toInteger(fields.rerank_top_k),
      },
      httpContext(request, 'http', reply),
    );
    return zeroShotJson(response);
  });

  app.post('/v1/embed', { schema: ROUTE_SCHEMAS.embed }, async (request, reply) => {
    const { image, fields } = await readBody<EmbedFields>(request, limits, { formSchema: FORM_SCHEMAS.embed, rawImage: false });
    const response = await zeroShot.embed(
      { model: fields.model ?? '', version: toVersion(fields.version), image, texts: list(fields.texts) },
      httpContext(request, 'http', reply),
    );
    return embedJson(response);
  });
}

function zeroShotJson(r: ZeroShotResponse): Record<string, unknown> {
  return {
    model: r.model,
    version: r.version,
    labels: r.labels.map((l) => ({ label: l.label, score: l.score, ...(l.cosineScore !== undefined ? { cosine_score: l.cosineScore, rerank_logit: l.rerankLogit } : {}) })),
    ...(r.truncated.length > 0 ? { truncated: r.truncated } : {}),
    ...(r.rerank ? { reranked: true, rerank: { top_k: r.rerank.topK, batch_size: r.rerank.batchSize, queue_ms: r.rerank.queueMs, inference_ms: r.rerank.inferenceMs } } : {}),
    timing: r.timing,
    batch_size: r.batchSize,
    cache: r.cache,
    request_id: r.requestId,
  };
}

function embedJson(r: EmbedResponse): Record<string, unknown> {
  return {
    model: r.model,
    version: r.version,
    dimensions: r.dimensions,
    ...(r.imageEmbedding ? { image_embedding: Array.from(r.imageEmbedding) } : {}),
    ...(r.textEmbeddings.length > 0 ? { text_embeddings: r.textEmbeddings.map((e) => Array.from(e)) } : {}),
    ...(r.truncated.length > 0 ? { truncated: r.truncated } : {}),
    timing: r.timing,
    request_id: r.requestId,
  };
}
