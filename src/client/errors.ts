// The client's one error type: every failed call, over gRPC or HTTP, rejects with a
// GatewayClientError carrying the gateway's catalog code (src/errors.ts), so callers branch on
// `err.code === 'QUEUE_FULL'` whatever the transport. Failures that never reached the gateway get
// UNREACHABLE (no connection) or DEADLINE_EXCEEDED (the client's own deadline passed).
import { ERRORS, type ErrorCode } from '../errors.js';

/** A catalog code, or UNREACHABLE when no gateway answered (connection refused, DNS, TLS handshake). */
export type ClientErrorCode = ErrorCode | 'UNREACHABLE';

/** gRPC status numbers (google.rpc.Code) by name, for the codes the client maps. */
const GRPC_STATUS_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'OK',
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
});

export interface ClientErrorFields {
  readonly code: ClientErrorCode;
  readonly message: string;
  /** The gRPC status (number); for HTTP calls, the catalog's gRPC status of `code`. */
  readonly grpcStatus: number;
  /** The HTTP status; for gRPC calls, the catalog's HTTP status of `code` (0 when unreachable). */
  readonly httpStatus: number;
  /** Seconds the gateway asked to wait before retrying (`retry-after`). */
  readonly retryAfterSeconds?: number | undefined;
  /** The gateway's request id, when it answered one (HTTP error bodies). */
  readonly requestId?: string | undefined;
  readonly cause?: unknown;
}

/** A failed call. `code` is the gateway's catalog code; `message` is the gateway's (or the transport's) text. */
export class GatewayClientError extends Error {
  override readonly name = 'GatewayClientError';
  readonly code: ClientErrorCode;
  readonly grpcStatus: number;
  readonly httpStatus: number;
  readonly retryAfterSeconds: number | undefined;
  readonly requestId: string | undefined;

  constructor(fields: ClientErrorFields) {
    super(fields.message, { cause: fields.cause });
    this.code = fields.code;
    this.grpcStatus = fields.grpcStatus;
    this.httpStatus = fields.httpStatus;
    this.retryAfterSeconds = fields.retryAfterSeconds;
    this.requestId = fields.requestId;
  }

  /** The gRPC status name, e.g. NOT_FOUND. */
  get grpcStatusName(): string {
    return GRPC_STATUS_NAMES[this.grpcStatus] ?? String(this.grpcStatus);
  }
}

/** Whether `code` is one of the catalog's codes. */
export function isCatalogCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** The catalog code for a gRPC status that came without one (the failure was not the gateway's answer). */
export function codeOfGrpcStatus(status: number): ClientErrorCode {
  switch (GRPC_STATUS_NAMES[status]) {
    case 'UNAVAILABLE':
      return 'UNREACHABLE';
    case 'DEADLINE_EXCEEDED':
      return 'DEADLINE_EXCEEDED';
    case 'CANCELLED':
      return 'CANCELLED';
    // UNIMPLEMENTED: a method the gateway does not serve (e.g. PutLabelSet without the admin API);
    // over HTTP the same call finds no route, 404 NOT_FOUND.
    case 'NOT_FOUND':
    case 'UNIMPLEMENTED':
      return 'NOT_FOUND';
    case 'UNAUTHENTICATED':
      return 'UNAUTHENTICATED';
    case 'PERMISSION_DENIED':
      return 'PERMISSION_DENIED';
    case 'INVALID_ARGUMENT':
      return 'INVALID_ARGUMENT';
    default:
      return 'INTERNAL';
  }
}

/** The catalog's statuses of a code; UNREACHABLE is gRPC UNAVAILABLE and no HTTP status at all. */
export function statusesOf(code: ClientErrorCode): { grpcStatus: number; httpStatus: number } {
  if (code === 'UNREACHABLE') return { grpcStatus: 14, httpStatus: 0 };
  return { grpcStatus: ERRORS[code].grpc, httpStatus: ERRORS[code].http };
}

/** A positive number of seconds from a retry-after value (delta-seconds; HTTP dates are not sent by the gateway). */
export function parseRetryAfter(value: unknown): number | undefined {
  const seconds = Number(value);
  return typeof value === 'string' && value !== '' && Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}
