// Request messages that cannot be decoded, answered as the client's error: grpc-js deserializes a
// message before any handler runs and answers a failure with INTERNAL ("Error deserializing
// request"), which blames the server and carries no catalog code. Here every service added to the
// server gets deserializers that turn a decoding failure into an UndecodableMessage value, answered
// with INVALID_ARGUMENT and `x-error-code` before the service's own handler sees it: by a guard
// around each unary handler, and by a server interceptor on streaming calls only (an interceptor
// wraps every call it sees in one more intercepting layer, a cost on each unary request for
// nothing). Health and reflection, added by their own packages, are covered the same way.
import * as grpc from '@grpc/grpc-js';
import { GatewayError } from '../errors.js';

/** The status that ends a call: code, details, and trailers (`x-error-code`). */
export interface CallStatus {
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata: grpc.Metadata;
}

/** Stands in for a request message whose bytes did not decode. */
export class UndecodableMessage {
  constructor(readonly error: GatewayError) {}
}

/** A copy of `definition` whose request deserializers return an UndecodableMessage instead of throwing. */
export function withTypedDecodeErrors(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const guarded: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition as Record<string, grpc.MethodDefinition<unknown, unknown>>)) {
    const decode = method.requestDeserialize;
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return decode(bytes);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          return new UndecodableMessage(new GatewayError('INVALID_ARGUMENT', `the request message of ${method.path} could not be decoded as protobuf (${bytes.length} bytes): ${reason}`, { cause: err }));
        }
      },
    };
  }
  return guarded;
}

/**
 * Ends a streaming call whose message did not decode with the catalog error, `details` and an
 * `x-error-code` trailer, instead of handing the stand-in to the handler. Unary calls pass through
 * untouched: their handlers are guarded instead (`guardUnary`).
 */
export function rejectUndecodable(status: (error: GatewayError) => CallStatus): grpc.ServerInterceptor {
  return (method, call) => {
    // grpc-js chains interceptors over ServerInterceptingCallInterface (server-interceptors.js,
    // getServerInterceptingCall); its type names the class only because interceptors usually wrap.
    if (!method.requestStream && !method.responseStream) return call as grpc.ServerInterceptingCall;
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message: unknown, forward: (message: unknown) => void) => {
            if (message instanceof UndecodableMessage) intercepting.sendStatus(status(message.error));
            else forward(message);
          },
        }),
    });
    return intercepting;
  };
}

/** A grpc-js server whose every service (ours, health, reflection) reports undecodable messages as INVALID_ARGUMENT. */
export class DecodeCheckedServer extends grpc.Server {
  constructor(
    options: grpc.ServerOptions,
    private readonly status: (error: GatewayError) => CallStatus,
  ) {
    super({ ...options, interceptors: [rejectUndecodable(status), ...(options.interceptors ?? [])] });
  }

  override addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    super.addService(withTypedDecodeErrors(service), guardUnary(service, implementation, this.status));
  }
}

/** A copy of `implementation` whose unary handlers answer an UndecodableMessage with its status instead of running. */
export function guardUnary(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation, status: (error: GatewayError) => CallStatus): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = { ...implementation };
  for (const [name, method] of Object.entries(service as Record<string, grpc.MethodDefinition<unknown, unknown>>)) {
    if (method.requestStream || method.responseStream) continue;
    // grpc-js finds a handler by the method's name or, failing that, its original (lower camel) name.
    const key = implementation[name] === undefined && typeof method.originalName === 'string' ? method.originalName : name;
    const handler = implementation[key] as grpc.handleUnaryCall<unknown, unknown> | undefined;
    if (handler === undefined) continue;
    guarded[key] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const request = call.request;
      if (request instanceof UndecodableMessage) callback(status(request.error));
      else handler.call(implementation, call, callback); // grpc-js binds handlers to their implementation
    };
  }
  return guarded;
}
