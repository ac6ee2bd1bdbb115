// Generated messages as plain JSON for output: proto field names (snake_case, as grpcurl and the
// REST API print them), zero values included so every line has the same keys.
import { type DescMessage, type MessageShape, toJson } from '@bufbuild/protobuf';
import type { GatewayClientError } from '../client/index.js';

export function plain<D extends DescMessage>(schema: D, message: MessageShape<D>): Record<string, unknown> {
  return toJson(schema, message, { useProtoFieldName: true, alwaysEmitImplicit: true }) as Record<string, unknown>;
}

/** How a failed call reads on stderr: gRPC status, catalog code, message. */
export function describeError(err: GatewayClientError): string {
  return `${err.grpcStatusName}${err.code !== err.grpcStatusName ? ` ${err.code}` : ''}: ${err.message}`;
}
