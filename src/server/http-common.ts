// What every HTTP route shares, in one leaf module: list fields, the x-request-timeout-ms header,
// the client-gone signal, the call context, the catalog error answer, and the translation of
// fastify's and multipart's errors into the catalog (body limits through http-body.ts, which
// reads every route's body).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CallCancellation, type Cancellation } from '../cancellation.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { CallContext, Protocol } from './call.js';
import { type BodyLimits, bodyLimitError } from './http-body.js';
import { httpTrace } from './trace-carrier.js';

/** A text list field: absent = none, a string = one item, an array = its items. */
export function list(value: string | readonly string[] | undefined): string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : [...value];
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
export function clientGone(reply: FastifyReply): Cancellation {
  const cancellation = new CallCancellation();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) cancellation.abort();
  });
  return cancellation;
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

/** fastify and multipart errors -> catalog errors; a broken body limit names the limit (http-body.ts). */
export function translateHttpError(err: unknown, request: FastifyRequest, limits: BodyLimits): GatewayError {
  if (err instanceof GatewayError) return err;
  const tooLarge = bodyLimitError(err, request, limits);
  if (tooLarge) return tooLarge;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
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
