// The one HTTP body reader, a leaf module: every limit a body can break (raw image bytes, JSON,
// multipart files, fields, field sizes and parts, KServe v2 bodies, label-set files) is derived
// here from the configured limits, the parsers are installed from them, and every route reads
// its body and translates a broken limit through the same functions, so a too-large body gets
// the same 413 catalog answer naming the limit it broke on every route.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import { GatewayError, tooLarge } from '../errors.js';
import { decodeBase64 } from './base64.js';
import { validateFields } from './http-validation.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's own body limit, bytes (routeBodyLimit), named by its 413 answer. */
    bodyLimitBytes?: number;
  }
}

/** The configured limits the body limits are derived from. */
export interface BodyConfig {
  /** Largest image, bytes (decoded, whatever it arrived as). */
  readonly maxImageBytes: number;
  /** Largest text a request may carry within its label and template limits, bytes. */
  readonly maxTextBytes: number;
  /** Most labels plus templates a request may carry (multipart fields). */
  readonly maxTextFields: number;
  /** Largest body of PUT /v1/label-sets/:name, bytes. */
  readonly labelSetBodyBytes: number;
}

/** Every body limit of the HTTP server, bytes or counts. */
export interface BodyLimits {
  /** Largest image: a raw body, a multipart file or a decoded base64 field, bytes. */
  readonly maxImageBytes: number;
  /** Largest JSON body: a base64 image, some framing, and text at its limits, bytes. */
  readonly jsonBodyBytes: number;
  /** Largest KServe v2 body (JSON tensors, or JSON header plus binary tensors), bytes. */
  readonly v2BodyBytes: number;
  /** Largest label-set file or JSON, bytes. */
  readonly labelSetBodyBytes: number;
  /** Most multipart text fields. */
  readonly multipartFields: number;
  /** Largest multipart text field, bytes. */
  readonly multipartFieldBytes: number;
  /** Most multipart parts (the fields and the one file). */
  readonly multipartParts: number;
}

/** The body limits of a configuration. */
export function bodyLimits(config: BodyConfig): BodyLimits {
  // A base64 image is 4/3 its size; 64 KiB leaves room for the other fields and the framing.
  const imageJsonBytes = Math.ceil((config.maxImageBytes * 4) / 3) + 64 * 1024;
  // Labels arrive repeated (one field each) or comma-separated (one long field): room for both at their limits.
  const multipartFields = config.maxTextFields + 16;
  return {
    maxImageBytes: config.maxImageBytes,
    jsonBodyBytes: imageJsonBytes + config.maxTextBytes,
    // JSON tensors are verbose, so v2 bodies get the image JSON limit.
    v2BodyBytes: imageJsonBytes,
    labelSetBodyBytes: config.labelSetBodyBytes,
    multipartFields,
    multipartFieldBytes: Math.max(64 * 1024, config.maxTextBytes),
    multipartParts: multipartFields + 1,
  };
}

/** Route options that give a route its own body limit, which the 413 answer then names. */
export function routeBodyLimit(bytes: number): { bodyLimit: number; config: { bodyLimitBytes: number } } {
  return { bodyLimit: bytes, config: { bodyLimitBytes: bytes } };
}

/** Installs the server's body parsers: raw image bytes, JSON and multipart, each with its limit. */
export async function registerBodyParsers(app: FastifyInstance, limits: BodyLimits): Promise<void> {
  const asIs = (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => done(null, body);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: limits.maxImageBytes }, asIs);
  app.addContentTypeParser(/^image\/.*/, { parseAs: 'buffer', bodyLimit: limits.maxImageBytes }, asIs);
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: limits.jsonBodyBytes }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  await app.register(multipart, {
    limits: { fileSize: limits.maxImageBytes, files: 1, fields: limits.multipartFields, fieldSize: limits.multipartFieldBytes, parts: limits.multipartParts },
  });
}

/** Installs the KServe v2 parser in its plugin: any body (JSON, octet-stream, or none named, as tritonclient sends) arrives as one Buffer. */
export function registerV2BodyParser(v2: FastifyInstance, limits: BodyLimits): void {
  v2.removeAllContentTypeParsers();
  v2.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: limits.v2BodyBytes }, (_req, body, done) => done(null, body));
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
 * repeatedly an array).
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
          // busboy cuts a field at the limit without an error; a cut field must not be read as the whole.
          if (part.valueTruncated) throw tooLarge({ what: `form field "${part.fieldname.slice(0, 64)}"`, limitBytes: limits.multipartFieldBytes });
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

/**
 * A binary-extension body (KServe v2, Triton): the JSON header, parsed, and the bytes after it.
 * `headerName` holds the header's byte length; without it the whole body is the JSON.
 */
export function readJsonHeaderBody(request: FastifyRequest, headerName: string): { json: unknown; binary: Buffer } {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const headerValue = request.headers[headerName];
  let headerLength = body.length;
  if (headerValue !== undefined) {
    headerLength = Number(headerValue);
    if (!Number.isSafeInteger(headerLength) || headerLength < 1 || headerLength > body.length) {
      throw new GatewayError('INVALID_ARGUMENT', `${headerName} is "${String(headerValue).slice(0, 32)}"; it must be the byte length of the JSON header, from 1 to the body length ${body.length}`);
    }
  }
  if (body.length === 0) throw new GatewayError('INVALID_ARGUMENT', 'request body is empty; send the inference request JSON object');
  return { json: parseJsonBody(body.subarray(0, headerLength).toString('utf8')), binary: body.subarray(headerLength) };
}

/** A form field's values: a string when given once, an array when repeated (so the schema can refuse repeats of single-valued fields). */
export function addValue(previous: string | string[] | undefined, value: string): string | string[] {
  return previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
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

/**
 * The body limit `request` broke, bytes: the route's own (routeBodyLimit), else the one of the
 * parser its content type went to.
 */
export function bodyLimitOf(request: FastifyRequest, limits: BodyLimits): number {
  const own = request.routeOptions.config?.bodyLimitBytes;
  if (own !== undefined) return own;
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  return type.startsWith('application/json') ? limits.jsonBodyBytes : limits.maxImageBytes;
}

/** A broken body limit (fastify's or multipart's error) as the catalog's 413 naming the limit; undefined for any other error. */
export function bodyLimitError(err: unknown, request: FastifyRequest, limits: BodyLimits): GatewayError | undefined {
  switch ((err as { code?: string }).code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge({ what: 'request body', limitBytes: bodyLimitOf(request, limits) }, err);
    case 'FST_REQ_FILE_TOO_LARGE':
      return tooLarge({ what: 'multipart file "image"', limitBytes: limits.maxImageBytes }, err);
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
      return new GatewayError('PAYLOAD_TOO_LARGE', `multipart body has more parts than the limit of ${limits.multipartParts} (one "image" file and at most ${limits.multipartFields} fields)`, { cause: err });
    case 'FST_FIELDS_LIMIT':
      return new GatewayError('PAYLOAD_TOO_LARGE', `multipart body has more fields than the limit of ${limits.multipartFields}`, { cause: err });
  }
  return undefined;
}
