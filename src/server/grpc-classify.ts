// gRPC handlers of gateway.v1 Classify, ClassifyStream and ListModels: thin adapters from the proto
// messages to the classify and models services, with the call's deadline, cancellation and
// credentials. ClassifyStream answers each request in-band, tagged with its id, with flow control.
import type * as grpc from '@grpc/grpc-js';
import { CallCancellation } from '../cancellation.js';
import { toGatewayError } from '../errors.js';
import type { ModelStatus } from '../models/repository.js';
import type { ClassifyResponse, ClassifyService } from './classify-service.js';
import { authorization, requestId, timeoutMs, timingMsg, toServiceError, unaryContext } from './grpc-common.js';
import type { ModelsService } from './models-service.js';
import { grpcTrace } from './trace-carrier.js';

/** Requests of one ClassifyStream call being processed or waiting to be written, before reading stops. */
export const STREAM_MAX_IN_FLIGHT = 64;

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

/** The gateway.v1 handlers of classification and the model list. */
export function classifyHandlers(classify: ClassifyService, models: ModelsService): grpc.UntypedServiceImplementation {
  return {
    Classify: (call: grpc.ServerUnaryCall<ClassifyRequestMsg, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const ctx = unaryContext(call, 'grpc');
      classify.classify(toRequest(call.request), ctx).then(
        (response) => callback(null, toResponseMsg(response)),
        (err: unknown) => callback(toServiceError(err)),
      );
    },
    ClassifyStream: (call: grpc.ServerDuplexStream<StreamRequestMsg, unknown>) => {
      // Every request of the stream (at most STREAM_MAX_IN_FLIGHT at a time) listens on this one.
      const cancellation = new CallCancellation();
      call.setMaxListeners(STREAM_MAX_IN_FLIGHT + 8); // one 'drain' waiter per answer not yet accepted
      const baseId = requestId(call.metadata);
      let inFlight = 0;
      let ended = false;
      let seq = 0;
      const maybeEnd = (): void => {
        if (ended && inFlight === 0 && !call.cancelled) call.end();
      };
      call.on('cancelled', () => cancellation.abort());
      call.on('error', () => cancellation.abort());
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
        const ctx = { protocol: 'grpc' as const, requestId: `${baseId}/${seq++}`, timeoutMs: timeoutMs(call), signal: cancellation, authorization: authorization(call.metadata), trace: grpcTrace(call) };
        const request = msg.request ? toRequest(msg.request) : { model: '', image: new Uint8Array(), topK: 0 };
        void classify.classify(request, ctx).then(
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
    ListModels: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      try {
        callback(null, { models: models.list({ authorization: authorization(call.metadata) }).map(toModelMsg) });
      } catch (err) {
        callback(toServiceError(err));
      }
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
            saturated_queue_delay_ms: v.info.batching.saturatedQueueDelayMs ?? v.info.batching.maxQueueDelayMs, // the manifest raised it to at least maxQueueDelayMs
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
