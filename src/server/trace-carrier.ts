// The W3C trace context a transport received (HTTP headers, gRPC metadata) and the operation's
// name, for the request scope's span. Undefined while tracing is off, so an untraced request
// allocates nothing for it. A leaf: both transports use it.
import type { Metadata } from '@grpc/grpc-js';
import type { FastifyRequest } from 'fastify';
import { type TraceCarrier, tracingOn } from '../tracing.js';

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/** An HTTP request's trace context; the operation is "METHOD /route" (the route pattern, not the URL). */
export function httpTrace(request: FastifyRequest): TraceCarrier | undefined {
  if (!tracingOn()) return undefined;
  return { traceparent: first(request.headers.traceparent), tracestate: first(request.headers.tracestate), operation: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}` };
}

/** A gRPC call's trace context; the operation is "package.Service/Method". */
export function grpcTrace(call: { readonly metadata: Metadata; getPath(): string }): TraceCarrier | undefined {
  if (!tracingOn()) return undefined;
  const text = (key: string): string | undefined => {
    const value = call.metadata.get(key)[0];
    return typeof value === 'string' ? value : undefined;
  };
  return { traceparent: text('traceparent'), tracestate: text('tracestate'), operation: call.getPath().replace(/^\//, '') };
}
