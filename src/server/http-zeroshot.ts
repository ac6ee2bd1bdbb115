// HTTP routes of zero-shot classification and embeddings: POST /v1/zero-shot and POST /v1/embed,
// multipart or JSON. A thin adapter: it reads fields (repeated or comma-separated labels,
// repeatable templates), refuses unknown ones by name, and calls service.zeroShot.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import { addValue, clientGone, decodeBase64, headerTimeout } from './http.js';
import { type EmbedFields, FORM_SCHEMAS, ROUTE_SCHEMAS, type ZeroShotFields, toFlag, toInteger, toVersion } from './http-schemas.js';
import { validateFields } from './http-validation.js';
import type { GatewayService } from './service.js';
import type { EmbedResponse, ZeroShotResponse } from './zeroshot-service.js';
import { httpTrace } from './trace-carrier.js';

/** Multipart parts a zero-shot request may carry: labels and templates as repeated fields. */
const MULTIPART_MAX_FIELDS = 2048;

export function registerZeroShotRoutes(app: FastifyInstance, service: GatewayService, options: { maxImageBytes: number }): void {
  app.post('/v1/zero-shot', { schema: ROUTE_SCHEMAS.zeroShot }, async (request, reply) => {
    const { image, fields } = await readBody<ZeroShotFields>(request, options.maxImageBytes, FORM_SCHEMAS.zeroShot);
    if (!image) throw new GatewayError('INVALID_ARGUMENT', 'an "image" is required (a multipart file field, or base64 in JSON)');
    const response = await service.zeroShot.classify(
      {
        model: fields.model ?? '',
        version: toVersion(fields.version),
        image,
        labels: typeof fields.labels === 'string' ? fields.labels.split(',').map((l) => l.trim()) : (fields.labels ?? []),
        labelSet: fields.label_set,
        templates: [...list(fields.templates), ...list(fields.template)],
        topK: toInteger(fields.top_k),
        multiLabel: toFlag(fields.multi_label),
      },
      { protocol: 'http', requestId: request.id, timeoutMs: headerTimeout(request), signal: clientGone(reply), authorization: request.headers.authorization, trace: httpTrace(request) },
    );
    return zeroShotJson(response);
  });

  app.post('/v1/embed', { schema: ROUTE_SCHEMAS.embed }, async (request, reply) => {
    const { image, fields } = await readBody<EmbedFields>(request, options.maxImageBytes, FORM_SCHEMAS.embed);
    const response = await service.zeroShot.embed(
      { model: fields.model ?? '', version: toVersion(fields.version), image, texts: list(fields.texts) },
      { protocol: 'http', requestId: request.id, timeoutMs: headerTimeout(request), signal: clientGone(reply), authorization: request.headers.authorization, trace: httpTrace(request) },
    );
    return embedJson(response);
  });
}

function zeroShotJson(r: ZeroShotResponse): Record<string, unknown> {
  return {
    model: r.model,
    version: r.version,
    labels: r.labels.map((l) => ({ label: l.label, score: l.score })),
    ...(r.truncated.length > 0 ? { truncated: r.truncated } : {}),
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

/**
 * The image (if any) and the fields of the query string merged with the form fields or the JSON
 * object (the body wins). fastify's route schema checked the query and the JSON; form fields are
 * checked here against the same schema (a field given once is a string, given repeatedly an array).
 */
async function readBody<F extends { image?: string | undefined }>(request: FastifyRequest, maxImageBytes: number, formSchema: Record<string, unknown>): Promise<{ image: Uint8Array | undefined; fields: Omit<F, 'image'> }> {
  const query = request.query as Omit<F, 'image'>;
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    const form: Record<string, string | string[]> = {};
    let image: Buffer | undefined;
    try {
      for await (const part of request.parts({ limits: { fields: MULTIPART_MAX_FIELDS, parts: MULTIPART_MAX_FIELDS + 1, files: 1 } })) {
        if (part.type === 'file') {
          if (part.fieldname !== 'image') throw new GatewayError('INVALID_ARGUMENT', `unexpected file field "${part.fieldname.slice(0, 64)}"; send the image as "image"`);
          image = await part.toBuffer();
        } else if (typeof part.value === 'string') {
          form[part.fieldname] = addValue(form[part.fieldname], part.value);
        }
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (err instanceof GatewayError || code?.startsWith('FST_')) throw err;
      throw new GatewayError('INVALID_ARGUMENT', `malformed multipart body: ${(err as Error).message}`, { cause: err });
    }
    validateFields(request, formSchema, form);
    return { image, fields: { ...query, ...(form as Omit<F, 'image'>) } };
  }
  if (type.startsWith('application/json')) {
    const { image, ...body } = request.body as F;
    return { image: image === undefined ? undefined : decodeBase64(image, maxImageBytes), fields: { ...query, ...(body) } };
  }
  throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', `content type "${type || '(none)'}" is not accepted here; send multipart/form-data or JSON`);
}

/** A text list field: absent = none, a string = one item, an array = its items. */
function list(value: string | readonly string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : [...value];
}
