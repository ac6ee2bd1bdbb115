// What every HTTP route shares, in one leaf module: the one body reader (multipart, JSON with a
// base64 image, or raw image bytes; query string merged in), strict base64, JSON parse errors
// that never quote the body, the x-request-timeout-ms header, the client-gone signal, the call
// context, and the translation of fastify's and multipart's errors into the catalog.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, toGatewayError, tooLarge } from '../errors.js';
import { decodeBase64 } from './base64.js';
import type { CallContext, Protocol } from './call.js';
import { validateFields } from './http-validation.js';
import { httpTrace } from './trace-carrier.js';

/** Body limits of the /v1 routes, from the configuration. */
export interface BodyLimits {
  /** Largest image, bytes (decoded, whatever it arrived as). */
  readonly maxImageBytes: number;
}

/** How one route reads its body. */
export interface BodyRules {
  /** Schema of its form fields (multipart), the same as its query string's. */
  readonly formSchema: Record<string, unknown>;
  /** Whether raw image bytes (image/*, application/octet-stream) are accepted as the body. */
  readonly rawImage: boolean;
}

/**
 * The image (if any) and the fields of a /v1 request: the query string merged with the form fields
 * or the JSON object (the body wins). fastify's route schema checked the query and the JSON; form
 * fields are checked here against the same schema (a field given once is a string, given
 * repeatedly an array). Multipart limits (fields, parts, sizes) are the server's, from config.
 */
export async function readBody<F extends { image?: string | undefined }>(
  request: FastifyRequest,
  limits: BodyLimits,
  rules: BodyRules,
): Promise<{ image: Uint8Array | undefined; fields: Omit<F, 'image'> }> {
  const query = request.query as Omit<F, 'image'>;
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    const form: Record<string, string | string[]> = {};
    let image: Buffer | undefined;
    try {
      for await (const part of request.parts()) {
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
    validateFields(request, rules.formSchema, form);
    return { image, fields: { ...query, ...(form as Omit<F, 'image'>) } };
  }
  if (type.startsWith('application/json')) {
    const { image, ...body } = request.body as F;
    return { image: image === undefined ? undefined : decodeImageField(image, limits.maxImageBytes), fields: { ...query, ...body } };
  }
  if (rules.rawImage && Buffer.isBuffer(request.body)) return { image: request.body, fields: query };
  const accepted = rules.rawImage ? 'send image/* bytes, multipart/form-data with an "image" file, or JSON' : 'send multipart/form-data or JSON';
  throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', `content type "${type || '(none)'}" is not accepted${rules.rawImage ? '' : ' here'}; ${accepted}`);
}

/** A form field's values: a string when given once, an array when repeated (so the schema can refuse repeats of single-valued fields). */
export function addValue(previous: string | string[] | undefined, value: string): string | string[] {
  return previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
}

/** A text list field: absent = none, a string = one item, an array = its items. */
export function list(value: string | readonly string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : [...value];
}

/** The "image" field of a JSON body: strict base64, optionally a data: URL, at most `maxBytes` decoded. */
export function decodeImageField(text: string, maxBytes: number): Buffer {
  const payload = text.startsWith('data:') ? text.slice(text.indexOf(',') + 1) : text;
  const bytes = decodeBase64(payload, 'field "image"');
  if (bytes.length > maxBytes) throw tooLarge({ what: 'image', sizeBytes: bytes.length, limitBytes: maxBytes });
  return bytes;
}

/** Parses a JSON body; a syntax error says only where it broke (V8's message may quote the body). */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new GatewayError('INVALID_ARGUMENT', `request body is not valid JSON${position ? ` (at byte ${position})` : ''}`);
  }
}

/** The x-request-timeout-ms header, ms; undefined when absent. */
export function headerTimeout(request: FastifyRequest): number | undefined {
  const raw = request.headers['x-request-timeout-ms'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new GatewayError('INVALID_ARGUMENT', `x-request-timeout-ms must be a positive number of milliseconds, got "${String(raw).slice(0, 32)}"`);
  return n;
}

/** Aborts when the client closes the connection before the answer was written. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  return abort.signal;
}

/** The call context of one HTTP request; with `reply`, a client that goes away cancels it. */
export function httpContext(request: FastifyRequest, protocol: Protocol, reply?: FastifyReply): CallContext {
  return { protocol, requestId: request.id, timeoutMs: headerTimeout(request), signal: reply ? clientGone(reply) : undefined, authorization: request.headers.authorization, trace: httpTrace(request) };
}

/** `{"error": {code, message, request_id}}` with the catalog status, and Retry-After when it has one. */
export function sendError(reply: FastifyReply, error: GatewayError, requestId: string): FastifyReply {
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.httpStatus).send({ error: { code: error.code, message: error.message, request_id: requestId } });
}

/** fastify and multipart errors -> catalog errors; `bodyLimit` is the limit a too-large body broke, bytes. */
export function translateHttpError(err: unknown, bodyLimit: number, what = 'images are'): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new GatewayError('PAYLOAD_TOO_LARGE', `request body too large: ${what} limited to ${bodyLimit} bytes`, { cause: err });
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new GatewayError('PAYLOAD_TOO_LARGE', `${e.message ?? 'request body too large'}`, { cause: err });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('UNSUPPORTED_MEDIA_TYPE', `${e.message ?? 'unsupported content type'}; send image/* bytes, multipart/form-data with an "image" file, or JSON`, { cause: err });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new GatewayError('INVALID_ARGUMENT', e.message ?? 'malformed request', { cause: err });
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
    return new GatewayError('INVALID_ARGUMENT', `malformed request: ${e.message ?? ''}`, { cause: err });
  }
  return toGatewayError(err);
}
