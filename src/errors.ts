// The one error catalog of the gateway (fastify lib/errors.js style): every failure a client can
// see has a code, a gRPC status and an HTTP status here, and the recurring ones a message factory,
// so the same failure reads the same wherever it is raised. Errors of dependencies (sharp,
// onnxruntime, fastify, grpc-js) are translated into these where they enter, so transports only
// ever map a GatewayError.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { redactPaths } from './redact.js';

interface ErrorSpec {
  readonly grpc: GrpcStatus;
  readonly http: number;
}

/** Error codes, stable across releases; they appear in responses, logs and metrics labels. */
export const ERRORS = Object.freeze({
  INVALID_ARGUMENT: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  INVALID_IMAGE: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  IMAGE_TOO_LARGE: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 413 },
  PAYLOAD_TOO_LARGE: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 413 },
  UNSUPPORTED_MEDIA_TYPE: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 415 },
  MODEL_NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, http: 404 },
  VERSION_NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, http: 404 },
  NOT_FOUND: { grpc: GrpcStatus.NOT_FOUND, http: 404 },
  MODEL_UNAVAILABLE: { grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  SHUTTING_DOWN: { grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  QUEUE_FULL: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429 },
  RATE_LIMITED: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429 },
  UNAUTHENTICATED: { grpc: GrpcStatus.UNAUTHENTICATED, http: 401 },
  PERMISSION_DENIED: { grpc: GrpcStatus.PERMISSION_DENIED, http: 403 },
  DEADLINE_EXCEEDED: { grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 504 },
  CANCELLED: { grpc: GrpcStatus.CANCELLED, http: 499 },
  INFERENCE_FAILED: { grpc: GrpcStatus.INTERNAL, http: 500 },
  INTERNAL: { grpc: GrpcStatus.INTERNAL, http: 500 },
} satisfies Record<string, ErrorSpec>);

export type ErrorCode = keyof typeof ERRORS;

/**
 * A failure with a catalog code; `message` says what was wrong and, where one was hit, the limit.
 * It is sent to clients, so server paths are taken out of it (redact.ts); `cause` keeps the
 * original error, with its full text, for the log.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (429/503), sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(redactPaths(message), { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get grpcStatus(): GrpcStatus {
    return ERRORS[this.code].grpc;
  }

  get httpStatus(): number {
    return ERRORS[this.code].http;
  }
}

/** Normalizes anything thrown into a GatewayError; unknown errors become INTERNAL. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new GatewayError('INTERNAL', `internal error: ${message}`, { cause: err });
}

/** Every code, for metrics that must pre-declare their label values. */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/**
 * Makes a message factory for one catalog code (fastify's createError): `format` turns the
 * factory's argument into the message, `retryAfterSeconds` (optional) says when to retry.
 */
export function createError<P>(code: ErrorCode, format: (p: P) => string, retryAfterSeconds?: (p: P) => number | undefined): (p: P, cause?: unknown) => GatewayError {
  return (p, cause) => new GatewayError(code, format(p), { cause, retryAfterSeconds: retryAfterSeconds?.(p) });
}

/** Where a request was found unable to meet its deadline. */
export type DeadlineStage = 'admission' | 'preprocess turn' | 'queue';

/** What a deadline refusal says: the stage, the deadline, time spent, and the time still needed (by part), all ms. */
export interface DeadlineTimes {
  readonly stage: DeadlineStage;
  readonly timeoutMs: number;
  readonly elapsedMs: number;
  /** Time the request still needs, by part (e.g. `{ 'standing wait': 80, inference: 4 }`), ms. */
  readonly needMs: Readonly<Record<string, number>>;
}

const roundMs = (ms: number): string => (ms >= 10 ? String(Math.round(ms)) : ms.toFixed(1));

/**
 * DEADLINE_EXCEEDED: the one message for every stage. Refusals before preprocessing suggest a retry
 * (the load may pass); a drop from the queue does not (the request already waited its time).
 */
export const deadlineExceeded = createError<DeadlineTimes>(
  'DEADLINE_EXCEEDED',
  ({ stage, timeoutMs, elapsedMs, needMs }) => {
    const parts = Object.entries(needMs).filter(([, ms]) => ms > 0);
    const totalMs = parts.reduce((sum, [, ms]) => sum + ms, 0);
    const detail = parts.length > 0 ? `: ${parts.map(([name, ms]) => `${roundMs(ms)} ms ${name}`).join(' + ')}` : '';
    const outcome = stage === 'queue' ? 'dropped before inference' : 'refused before preprocessing';
    return `deadline of ${Math.round(timeoutMs)} ms cannot be met at ${stage} (${Math.round(elapsedMs)} ms elapsed, about ${roundMs(totalMs)} ms still needed${detail}); ${outcome}`;
  },
  ({ stage }) => (stage === 'queue' ? undefined : 1),
);

/** QUEUE_FULL: `queued` requests in front (queued or preparing) against the limit. */
export const queueFull = createError<{ readonly queued: number; readonly maxQueueSize: number }>(
  'QUEUE_FULL',
  ({ queued, maxQueueSize }) => `queue full: ${queued} requests waiting (maxQueueSize ${maxQueueSize}); retry later`,
  () => 1,
);

/** CANCELLED: the client went away while its request was at `stage`. */
export const cancelledBy = createError<{ readonly stage: string }>('CANCELLED', ({ stage }) => `request cancelled by the client ${stage}`);

/** INVALID_ARGUMENT: a model of the wrong kind for the call; `hint` says where that kind is served. */
export const wrongKind = createError<{ readonly model: string; readonly kind: string; readonly needs: string; readonly hint: string }>(
  'INVALID_ARGUMENT',
  ({ model, kind, needs, hint }) => `model "${model}" is a ${kind} model; ${needs} (${hint})`,
);

/** INVALID_ARGUMENT: a field (or query `parameter`) the route does not know, `inside` an object at that path, with the ones it accepts. */
export const unknownField = createError<{ readonly field: string; readonly accepted: Iterable<string>; readonly what?: 'field' | 'parameter'; readonly inside?: string }>(
  'INVALID_ARGUMENT',
  ({ field, accepted, what = 'field', inside }) => `unknown ${what} "${field.slice(0, 64)}"${inside ? ` in "${inside}"` : ''}; accepted: ${[...accepted].join(', ') || 'none'}`,
);

/** INVALID_ARGUMENT: `where` is not base64; `hint` says what was expected there. */
export const invalidBase64 = createError<{ readonly where: string; readonly hint?: string }>(
  'INVALID_ARGUMENT',
  ({ where, hint }) => `${where} is not valid base64${hint ? ` (${hint})` : ''}`,
);

/** PAYLOAD_TOO_LARGE: `what` is `sizeBytes` (or more, when unknown) against `limitBytes`. */
export const tooLarge = createError<{ readonly what: string; readonly sizeBytes?: number; readonly limitBytes: number }>(
  'PAYLOAD_TOO_LARGE',
  ({ what, sizeBytes, limitBytes }) => (sizeBytes === undefined ? `${what} is larger than the limit of ${limitBytes} bytes` : `${what} is ${sizeBytes} bytes; the limit is ${limitBytes} bytes`),
);
