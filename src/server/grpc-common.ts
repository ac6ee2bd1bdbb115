// What every gRPC feature shares, in one leaf module: the gateway.v1 proto and its loader options,
// the call context (request id, deadline, cancellation, credentials), the proto Timing message,
// and the translation of a GatewayError into the call's status (catalog code, message,
// `x-error-code` and `retry-after` trailers).
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CallCancellation } from '../cancellation.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Timing } from '../models/served.js';
import type { CallContext, Protocol } from './call.js';
import type { CallStatus } from './grpc-decode.js';
import { grpcTrace } from './trace-carrier.js';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/gateway/v1/gateway.proto', import.meta.url));
export const SERVICE_NAME = 'gateway.v1.InferenceGateway';

export const PROTO_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** Loads gateway.proto (shared by the server, tests and the benchmark client). */
export function loadGatewayProto(): { packageDefinition: protoLoader.PackageDefinition; grpcObject: grpc.GrpcObject } {
  const packageDefinition = protoLoader.loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS);
  return { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) };
}

/** A unary handler of one gateway.v1 method. */
export type Unary<Req> = (call: grpc.ServerUnaryCall<Req, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

/** The proto Timing message of any answer (text_ms only where a text tower ran). */
export function timingMsg(t: Timing): unknown {
  return { preprocess_ms: t.preprocessMs, queue_ms: t.queueMs, inference_ms: t.inferenceMs, text_ms: t.textMs ?? 0, total_ms: t.totalMs, cached: t.cached ?? false };
}

/** Translates a GatewayError into a gRPC error with status, message and retry hint. */
export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  return callStatus(err instanceof GatewayError ? err : toGatewayError(err));
}

/** The status of a failed call: catalog status, message, `x-error-code` and `retry-after` trailers. */
export function callStatus(error: GatewayError): CallStatus {
  const metadata = new grpc.Metadata();
  metadata.set('x-error-code', error.code);
  if (error.retryAfterSeconds !== undefined) metadata.set('retry-after', String(error.retryAfterSeconds));
  return { code: error.grpcStatus, details: error.message, metadata };
}

/** Time left before the call's deadline, ms; undefined without a deadline. */
export function timeoutMs(call: { getDeadline(): grpc.Deadline }): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return undefined;
  return at - Date.now();
}

/**
 * The context of one unary call: request id, deadline, cancellation and credentials. The call's
 * 'cancelled' event cancels it; grpc-js emits that event after the status of every call, not only
 * of cancelled ones, so it is a CallCancellation (a flag and a list), not an AbortController.
 */
export function unaryContext(call: grpc.ServerUnaryCall<unknown, unknown>, protocol: Protocol): CallContext {
  const cancellation = new CallCancellation();
  call.on('cancelled', () => cancellation.abort());
  return { protocol, requestId: requestId(call.metadata), timeoutMs: timeoutMs(call), signal: cancellation, authorization: authorization(call.metadata), trace: grpcTrace(call) };
}

export function authorization(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
}

export function requestId(metadata: grpc.Metadata): string {
  const given = metadata.get('x-request-id')[0];
  return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
}
