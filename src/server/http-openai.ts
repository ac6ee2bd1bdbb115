// OpenAI-compatible embeddings: POST /v1/embeddings, so the official OpenAI clients (and tools
// built on them) can use the gateway's clip models with only a baseURL. Texts, or images as data
// URIs with `modality: "image"` (as Infinity does), go through the same embed call as /v1/embed;
// answers and errors take OpenAI's shapes ({object: "list", data, model, usage} and
// {error: {message, type, param, code}}), errors on this route only.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type GatewayError, GatewayError as GatewayErrorClass } from '../errors.js';
import type { CallContext } from './call.js';
import { type BodyLimits, decodeImageField } from './http-body.js';
import { httpContext, translateHttpError } from './http-common.js';
import { type OpenAiEmbeddingsJson, ROUTE_SCHEMAS } from './http-schemas.js';
import type { ZeroShotService } from './zeroshot-service.js';

/** The route, in its own fastify scope so that its errors take OpenAI's shape. */
export function openAiRoutes(
  zeroShot: ZeroShotService,
  logOnce: (error: GatewayError, ctx: Pick<CallContext, 'protocol' | 'requestId'>) => void,
  limits: BodyLimits,
): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.setErrorHandler((err, request, reply) => {
      const error = translateHttpError(err, request, limits);
      logOnce(error, { protocol: 'http', requestId: request.id });
      return sendOpenAiError(reply, error);
    });

    app.post('/v1/embeddings', { schema: ROUTE_SCHEMAS.openAiEmbeddings }, async (request, reply) => {
      const body = request.body as OpenAiEmbeddingsJson;
      const inputs = typeof body.input === 'string' ? [body.input] : body.input;
      const ctx = httpContext(request, 'http', reply);
      let vectors: Float32Array[];
      let promptTokens = 0;
      let model: string;
      if (body.modality === 'image') {
        const images = inputs.map((text, i) => decodeImage(text, i, limits.maxImageBytes));
        // One embed call per image: concurrent calls meet in the model's image batcher.
        const answers = await Promise.all(images.map((image) => zeroShot.embed({ model: body.model, image }, ctx)));
        vectors = answers.map((a) => a.imageEmbedding!);
        model = answers[0]!.model;
      } else {
        inputs.forEach((text, i) => {
          if (text.trim() === '') throw new OpenAiParamError('input', `input ${i} is empty; every input needs text`);
        });
        const answer = await zeroShot.embed({ model: body.model, texts: inputs }, ctx);
        vectors = [...answer.textEmbeddings];
        promptTokens = answer.textTokens.reduce((sum, n) => sum + n, 0);
        model = answer.model;
      }
      const size = vectors[0]?.length ?? 0;
      if (body.dimensions !== undefined && body.dimensions > size) throw new OpenAiParamError('dimensions', `dimensions ${body.dimensions} exceeds the model's embedding size of ${size}`);
      const data = vectors.map((v, index) => ({ object: 'embedding' as const, index, embedding: encode(shorten(v, body.dimensions), body.encoding_format ?? 'float') }));
      return { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
    });
  };
}

/** A 400 that names the request field at fault (OpenAI's `param`). */
class OpenAiParamError extends GatewayErrorClass {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super('INVALID_ARGUMENT', message);
  }
}

/** An image input: a data URI (data:image/png;base64,...) or bare base64; URLs are not fetched. */
function decodeImage(text: string, index: number, maxImageBytes: number): Uint8Array {
  if (/^https?:\/\//i.test(text)) throw new OpenAiParamError('input', `input ${index} is a URL; the gateway fetches nothing, send the image as a data URI (data:image/png;base64,...)`);
  if (text.startsWith('data:') && !/^data:[^,]*;base64,/.test(text)) throw new OpenAiParamError('input', `input ${index} is a data URI without ";base64"; send the image base64-encoded`);
  try {
    return decodeImageField(text, maxImageBytes);
  } catch (err) {
    if (err instanceof GatewayErrorClass && err.code === 'INVALID_ARGUMENT') throw new OpenAiParamError('input', `input ${index} is not a base64 image or data URI`);
    throw err;
  }
}

/** OpenAI's shortening: the first `dimensions` values, L2-normalized again. */
function shorten(vector: Float32Array, dimensions: number | undefined): Float32Array {
  if (dimensions === undefined || dimensions >= vector.length) return vector;
  const cut = vector.slice(0, dimensions);
  let norm = 0;
  for (const v of cut) norm += v * v;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < cut.length; i++) cut[i]! /= norm;
  return cut;
}

/** "float": a JSON array; "base64": the float32 values' little-endian bytes, as OpenAI sends them. */
function encode(vector: Float32Array, format: 'float' | 'base64'): number[] | string {
  if (format === 'float') return Array.from(vector);
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

/** OpenAI's error `type` for a status. */
function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The request field a catalog message names (schema errors quote it), for `param`. */
function paramOf(error: GatewayError): string | null {
  if (error instanceof OpenAiParamError) return error.param;
  if (error.code === 'MODEL_NOT_FOUND' || error.code === 'VERSION_NOT_FOUND' || error.code === 'MODEL_UNAVAILABLE') return 'model';
  return /(?:field|parameter) "([^"/]+)/.exec(error.message)?.[1] ?? null;
}

/** `{error: {message, type, param, code}}` with the catalog status; the code is the catalog code in OpenAI's lower case (model_not_found). */
function sendOpenAiError(reply: FastifyReply, error: GatewayError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  const request: FastifyRequest = reply.request;
  void reply.header('x-request-id', request.id);
  return reply.code(error.httpStatus).send({ error: { message: error.message, type: errorType(error.httpStatus), param: paramOf(error), code: error.code.toLowerCase() } });
}
