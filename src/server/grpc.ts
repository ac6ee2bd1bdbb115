// gRPC transport: a thin adapter from gateway.v1 (plus grpc.health.v1, reflection, and KServe v2
// from grpc-kserve.ts) to the domain calls in service.ts. Deadlines come from the call,
// cancellation from the call's 'cancelled' event; every GatewayError maps to its catalog status.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { TlsMaterial } from '../config.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { ModelStatus } from '../models/repository.js';
import type { CallContext, ClassifyResponse, GatewayService, Protocol } from './service.js';
import { type CallStatus, DecodeCheckedServer } from './grpc-decode.js';
import { KSERVE_SERVICE_NAME, addKServeService } from './grpc-kserve.js';
import { hostPort } from './host-port.js';
import { embedHandler, zeroShotHandler } from './grpc-zeroshot.js';
import { grpcTrace } from './trace-carrier.js';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/gateway/v1/gateway.proto', import.meta.url));
export const SERVICE_NAME = 'gateway.v1.InferenceGateway';

/** Requests of one ClassifyStream call being processed or waiting to be written, before reading stops. */
export const STREAM_MAX_IN_FLIGHT = 64;

export const PROTO_LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

interface ClassifyRequestMsg {
  model: string;
  version: string;
  image: Buffer;
  top_k: number;
}

interface StreamRequestMsg {
  id: string;
  request: ClassifyRequestMsg | null;
}

/** Loads gateway.proto (shared by the server, tests and the benchmark client). */
export function loadGatewayProto(): { packageDefinition: protoLoader.PackageDefinition; grpcObject: grpc.GrpcObject } {
  const packageDefinition = protoLoader.loadSync(PROTO_PATH, PROTO_LOADER_OPTIONS);
  return { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) };
}

export interface GrpcServerHandle {
  readonly server: grpc.Server;
  readonly port: number;
  readonly health: HealthImplementation;
  setServing(serving: boolean): void;
  /** Stops accepting calls, lets running ones finish (GOAWAY to clients), forces after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

export async function startGrpcServer(service: GatewayService, options: { host: string; port: number; maxMessageBytes: number; tls?: TlsMaterial | undefined }): Promise<GrpcServerHandle> {
  const { packageDefinition, grpcObject } = loadGatewayProto();
  const server = new DecodeCheckedServer(
    {
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      'grpc.keepalive_permit_without_calls': 1,
    },
    callStatus,
  );
  const pkg = (grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
  const definition = (pkg['InferenceGateway'] as grpc.ServiceClientConstructor).service;

  server.addService(definition, {
    Classify: (call: grpc.ServerUnaryCall<ClassifyRequestMsg, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const ctx = unaryContext(call, 'grpc');
      service.classify(toRequest(call.request), ctx).then(
        (response) => callback(null, toResponseMsg(response)),
        (err: unknown) => callback(toServiceError(err)),
      );
    },
    ClassifyStream: (call: grpc.ServerDuplexStream<StreamRequestMsg, unknown>) => {
      const abort = new AbortController();
      // Every request of the stream listens on this one signal (at most STREAM_MAX_IN_FLIGHT at a time).
      setMaxListeners(STREAM_MAX_IN_FLIGHT + 8, abort.signal);
      call.setMaxListeners(STREAM_MAX_IN_FLIGHT + 8); // one 'drain' waiter per answer not yet accepted
      const baseId = requestId(call.metadata);
      let inFlight = 0;
      let ended = false;
      let seq = 0;
      const maybeEnd = (): void => {
        if (ended && inFlight === 0 && !call.cancelled) call.end();
      };
      call.on('cancelled', () => abort.abort(CALL_CANCELLED));
      call.on('error', () => abort.abort(CALL_CANCELLED));
      call.on('end', () => {
        ended = true;
        maybeEnd();
      });
      call.on('data', (msg: StreamRequestMsg) => {
        inFlight++;
        // Flow control: a client that sends faster than it reads stops being read from, so its
        // answers cannot pile up without bound (HTTP/2 windows then push back on the client).
        if (inFlight >= STREAM_MAX_IN_FLIGHT) call.pause();
        const id = msg.id;
        const ctx = { protocol: 'grpc' as const, requestId: `${baseId}/${seq++}`, timeoutMs: timeoutMs(call), signal: abort.signal, authorization: authorization(call.metadata), trace: grpcTrace(call) };
        const request = msg.request ? toRequest(msg.request) : { model: '', image: new Uint8Array(), topK: 0 };
        void service.classify(request, ctx).then(
          (response) => ({ id, response: toResponseMsg(response) }),
          (err: unknown) => {
            const error = toGatewayError(err);
            return { id, error: { code: error.grpcStatus, reason: error.code, message: error.message } };
          },
        ).then((answer) => {
          const done = (): void => {
            inFlight--;
            if (inFlight < STREAM_MAX_IN_FLIGHT && call.isPaused()) call.resume();
            maybeEnd();
          };
          if (call.cancelled) return done();
          // An answer counts as in flight until the transport accepted it.
          if (call.write(answer)) done();
          else call.once('drain', done);
        });
      });
    },
    ZeroShotClassify: zeroShotHandler(service),
    Embed: embedHandler(service),
    ListModels: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      try {
        callback(null, { models: service.listModels({ authorization: authorization(call.metadata) }).map(toModelMsg) });
      } catch (err) {
        callback(toServiceError(err));
      }
    },
  });

  // KServe v2 / Open Inference Protocol on the same server and port.
  const kserveDefinition = addKServeService(server, service);

  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING', [KSERVE_SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  // Reflection lists what its package definition holds: health's proto is loaded into it too.
  new ReflectionService({ ...packageDefinition, ...kserveDefinition, ...loadHealthProto() }).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    const tls = options.tls;
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], Boolean(tls.clientCa))
      : grpc.ServerCredentials.createInsecure();
    server.bindAsync(hostPort(options.host, options.port), credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });

  return {
    server,
    port,
    health,
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      for (const name of ['', SERVICE_NAME, KSERVE_SERVICE_NAME]) health.setStatus(name, status);
    },
    close(graceMs) {
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

function toRequest(msg: ClassifyRequestMsg): { model: string; version: string; image: Uint8Array; topK: number } {
  return { model: msg.model ?? '', version: msg.version ?? '', image: msg.image ?? new Uint8Array(), topK: msg.top_k ?? 0 };
}

function toResponseMsg(r: ClassifyResponse): unknown {
  return {
    model: r.model,
    version: r.version,
    labels: r.labels,
    timing: timingMsg(r.timing),
    batch_size: r.batchSize,
    request_id: r.requestId,
  };
}

/** The proto Timing message of any answer (text_ms only where a text tower ran). */
export function timingMsg(t: { preprocessMs: number; queueMs: number; inferenceMs: number; totalMs: number; textMs?: number; cached?: boolean }): unknown {
  return { preprocess_ms: t.preprocessMs, queue_ms: t.queueMs, inference_ms: t.inferenceMs, text_ms: t.textMs ?? 0, total_ms: t.totalMs, cached: t.cached ?? false };
}

function toModelMsg(m: ModelStatus): unknown {
  return {
    name: m.name,
    kind: m.kind,
    description: m.description,
    state: m.state,
    reason: m.reason,
    default_version: m.defaultVersion,
    versions: m.versions.map((v) => ({
      version: v.version,
      state: v.state,
      reason: v.reason,
      execution_provider: v.info?.provider ?? '',
      provider_note: v.info?.providerNote ?? '',
      healthy: v.healthy,
      last_error: v.lastError,
      labels_count: v.info?.labelsCount ?? 0,
      inputs: v.info?.tensors?.inputs ?? [],
      outputs: v.info?.tensors?.outputs ?? [],
      batch_axis: v.info?.tensors?.batchAxis ?? '',
      batching: v.info
        ? {
            max_batch_size: v.info.batching.maxBatchSize,
            max_queue_delay_ms: v.info.batching.maxQueueDelayMs,
            preferred_batch_sizes: v.info.batching.preferredBatchSizes,
            max_queue_size: v.info.batching.maxQueueSize,
            instances: v.info.batching.instances,
            default_timeout_ms: v.info.batching.defaultTimeoutMs,
            policy: v.info.batching.policy,
          }
        : null,
    })),
  };
}

/** Translates a GatewayError into a gRPC error with status, message and retry hint. */
export function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  return callStatus(err instanceof GatewayError ? err : toGatewayError(err));
}

/** The status of a failed call: catalog status, message, `x-error-code` and `retry-after` trailers. */
function callStatus(error: GatewayError): CallStatus {
  const metadata = new grpc.Metadata();
  metadata.set('x-error-code', error.code);
  if (error.retryAfterSeconds !== undefined) metadata.set('retry-after', String(error.retryAfterSeconds));
  return { code: error.grpcStatus, details: error.message, metadata };
}

/** grpc.health.v1's proto (from grpc-health-check), for server reflection. */
function loadHealthProto(): protoLoader.PackageDefinition {
  // Loaded by its path under the package's proto root, so reflection names the file health/v1/health.proto.
  const root = dirname(dirname(dirname(healthProtoPath)));
  return protoLoader.loadSync(relative(root, healthProtoPath), { ...PROTO_LOADER_OPTIONS, includeDirs: [root] });
}

/** Time left before the call's deadline, ms; undefined without a deadline. */
export function timeoutMs(call: { getDeadline(): grpc.Deadline }): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return undefined;
  return at - Date.now();
}

/**
 * The abort reason of every call's signal. grpc-js emits 'cancelled' after it has sent the status
 * of every call, not only of cancelled ones; abort() without a reason would build a DOMException
 * (a stack trace) each time, about 50 us of event-loop time per request for nothing.
 */
const CALL_CANCELLED = new GatewayError('CANCELLED', 'the call was cancelled or has ended');

/** The context of one unary call: request id, deadline, cancellation (the call's 'cancelled' event) and credentials. */
export function unaryContext(call: grpc.ServerUnaryCall<unknown, unknown>, protocol: Protocol): CallContext {
  const abort = new AbortController();
  call.on('cancelled', () => abort.abort(CALL_CANCELLED));
  return { protocol, requestId: requestId(call.metadata), timeoutMs: timeoutMs(call), signal: abort.signal, authorization: authorization(call.metadata), trace: grpcTrace(call) };
}

export function authorization(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
}

export function requestId(metadata: grpc.Metadata): string {
  const given = metadata.get('x-request-id')[0];
  return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
}
