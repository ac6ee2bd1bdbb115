// The one error catalog of the gateway (fastify lib/errors.js style): every failure a client can
// see has a code, a gRPC status and an HTTP status here. Errors of dependencies (sharp,
// onnxruntime, fastify, grpc-js) are translated into these where they enter, so transports only
// ever map a GatewayError.
import { status as GrpcStatus } from '@grpc/grpc-js';

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

/** A failure with a catalog code; `message` says what was wrong and, where one was hit, the limit. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (429/503), sent as Retry-After. */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, { cause: options.cause });
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
