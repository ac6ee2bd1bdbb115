// HTTP routes of zero-shot classification and embeddings: POST /v1/zero-shot and POST /v1/embed,
// multipart or JSON. A thin adapter: it reads fields (repeated or comma-separated labels,
// repeatable templates), refuses unknown ones by name, and calls service.zeroShot.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import { clientGone, decodeBase64, headerTimeout, parseTopK } from './http.js';
import type { GatewayService } from './service.js';
import type { EmbedResponse, ZeroShotResponse } from './zeroshot-service.js';

/** Form and query fields of POST /v1/zero-shot (JSON also accepts "templates" as an array). */
const ZERO_SHOT_FIELDS = new Set(['model', 'version', 'image', 'labels', 'template', 'templates', 'top_k', 'multi_label']);
const EMBED_FIELDS = new Set(['model', 'version', 'image', 'texts']);

/** Multipart parts a zero-shot request may carry: labels and templates as repeated fields. */
const MULTIPART_MAX_FIELDS = 2048;

/** Every value of each field, in order, from the query string and the body. */
type Fields = Map<string, string[]>;

export function registerZeroShotRoutes(app: FastifyInstance, service: GatewayService, options: { maxImageBytes: number }): void {
  app.post('/v1/zero-shot', async (request, reply) => {
    const { image, fields, json } = await readBody(request, options.maxImageBytes, ZERO_SHOT_FIELDS);
    if (!image) throw new GatewayError('INVALID_ARGUMENT', 'an "image" is required (a multipart file field, or base64 in JSON)');
    const labels = json ? (typeof json['labels'] === 'string' ? splitLabels([json['labels']]) : stringList(json['labels'] ?? [], 'labels')) : splitLabels(fields.get('labels') ?? []);
    const templates = json
      ? [...stringList(json['templates'] ?? [], 'templates'), ...(json['template'] === undefined ? [] : stringList([json['template']], 'template'))]
      : [...(fields.get('template') ?? []), ...(fields.get('templates') ?? [])];
    const response = await service.zeroShot.classify(
      {
        model: one(fields, json, 'model') ?? '',
        version: one(fields, json, 'version'),
        image,
        labels,
        templates,
        topK: parseTopK(json?.['top_k'] as number | string | undefined ?? one(fields, undefined, 'top_k')),
        multiLabel: parseBool(json?.['multi_label'] ?? one(fields, undefined, 'multi_label'), 'multi_label'),
      },
      { protocol: 'http', requestId: request.id, timeoutMs: headerTimeout(request), signal: clientGone(reply), authorization: request.headers.authorization },
    );
    return zeroShotJson(response);
  });

  app.post('/v1/embed', async (request, reply) => {
    const { image, fields, json } = await readBody(request, options.maxImageBytes, EMBED_FIELDS);
    const texts = json ? (json['texts'] === undefined ? [] : stringList(json['texts'], 'texts')) : (fields.get('texts') ?? []);
    const response = await service.zeroShot.embed(
      { model: one(fields, json, 'model') ?? '', version: one(fields, json, 'version'), image, texts },
      { protocol: 'http', requestId: request.id, timeoutMs: headerTimeout(request), signal: clientGone(reply), authorization: request.headers.authorization },
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

/** The image (if any), query + form fields, or the JSON object. Unknown names are refused. */
async function readBody(request: FastifyRequest, maxImageBytes: number, accepted: ReadonlySet<string>): Promise<{ image: Uint8Array | undefined; fields: Fields; json: Record<string, unknown> | undefined }> {
  const fields: Fields = new Map();
  const add = (name: string, value: string, where: string): void => {
    if (!accepted.has(name)) throw new GatewayError('INVALID_ARGUMENT', `unknown ${where} "${name.slice(0, 64)}"; accepted: ${[...accepted].join(', ')}`);
    fields.set(name, [...(fields.get(name) ?? []), value]);
  };
  for (const [name, value] of Object.entries(request.query as Record<string, string | string[]>)) {
    for (const v of Array.isArray(value) ? value : [value]) add(name, v, 'parameter');
  }
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    let image: Buffer | undefined;
    try {
      for await (const part of request.parts({ limits: { fields: MULTIPART_MAX_FIELDS, parts: MULTIPART_MAX_FIELDS + 1, files: 1 } })) {
        if (part.type === 'file') {
          if (part.fieldname !== 'image') throw new GatewayError('INVALID_ARGUMENT', `unexpected file field "${part.fieldname.slice(0, 64)}"; send the image as "image"`);
          image = await part.toBuffer();
        } else if (typeof part.value === 'string') {
          add(part.fieldname, part.value, 'field');
        }
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (err instanceof GatewayError || code?.startsWith('FST_')) throw err;
      throw new GatewayError('INVALID_ARGUMENT', `malformed multipart body: ${(err as Error).message}`, { cause: err });
    }
    return { image, fields, json: undefined };
  }
  if (type.startsWith('application/json')) {
    const body = request.body as Record<string, unknown> | null;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new GatewayError('INVALID_ARGUMENT', 'JSON body must be an object');
    const unknown = Object.keys(body).find((k) => !accepted.has(k));
    if (unknown !== undefined) throw new GatewayError('INVALID_ARGUMENT', `unknown field "${unknown.slice(0, 64)}"; accepted: ${[...accepted].join(', ')}`);
    let image: Buffer | undefined;
    if (body['image'] !== undefined) {
      if (typeof body['image'] !== 'string' || body['image'].length === 0) throw new GatewayError('INVALID_ARGUMENT', 'JSON field "image" must be a non-empty base64 string');
      image = decodeBase64(body['image'], maxImageBytes);
    }
    return { image, fields, json: body };
  }
  throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', `content type "${type || '(none)'}" is not accepted here; send multipart/form-data or JSON`);
}

/** One value of a field: JSON first, then query/form; a repeated single-valued field is refused. */
function one(fields: Fields, json: Record<string, unknown> | undefined, name: string): string | undefined {
  const v = json?.[name];
  if (v !== undefined) {
    if (typeof v !== 'string') throw new GatewayError('INVALID_ARGUMENT', `field "${name}" must be a string`);
    return v;
  }
  const values = fields.get(name);
  if (values && values.length > 1) throw new GatewayError('INVALID_ARGUMENT', `field "${name}" was given ${values.length} times; give it once`);
  return values?.[0];
}

/** `labels` given once is comma-separated ("cat, dog"); given repeatedly, each value is one label as is. */
function splitLabels(values: readonly string[]): string[] {
  if (values.length === 1) return values[0]!.split(',').map((l) => l.trim());
  return [...values];
}

function stringList(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new GatewayError('INVALID_ARGUMENT', `field "${name}" must be an array of strings`);
  return value as string[];
}

function parseBool(value: unknown, name: string): boolean {
  if (value === undefined || value === '') return false;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new GatewayError('INVALID_ARGUMENT', `${name} must be true or false, got ${JSON.stringify(value).slice(0, 32)}`);
}
