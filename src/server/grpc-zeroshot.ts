// gRPC handlers of gateway.v1 ZeroShotClassify and Embed: thin adapters from the proto messages
// to the zero-shot service, with the call's deadline, cancellation and authorization.
import type * as grpc from '@grpc/grpc-js';
import { type Unary, timingMsg, toServiceError, unaryContext } from './grpc-common.js';
import type { EmbedResponse, ZeroShotResponse, ZeroShotService } from './zeroshot-service.js';

interface ZeroShotRequestMsg {
  model: string;
  version: string;
  image: Buffer;
  labels: string[];
  templates: string[];
  top_k: number;
  multi_label: boolean;
  label_set: string;
  /** proto3 optional: `_rerank` names the field when the client set it (proto-loader's oneofs). */
  rerank?: boolean;
  _rerank?: string;
  rerank_top_k: number;
}

interface EmbedRequestMsg {
  model: string;
  version: string;
  image: Buffer;
  texts: string[];
}

/** The gateway.v1 handlers of zero-shot classification and embeddings. */
export function zeroShotHandlers(zeroShot: ZeroShotService): grpc.UntypedServiceImplementation {
  return { ZeroShotClassify: zeroShotHandler(zeroShot), Embed: embedHandler(zeroShot) };
}

function zeroShotHandler(zeroShot: ZeroShotService): Unary<ZeroShotRequestMsg> {
  return (call, callback) => {
    const m = call.request;
    const ctx = unaryContext(call, 'grpc');
    zeroShot
      .classify(
        { model: m.model ?? '', version: m.version ?? '', image: m.image ?? new Uint8Array(), labels: m.labels ?? [], templates: m.templates ?? [], topK: m.top_k ?? 0, multiLabel: m.multi_label ?? false, labelSet: m.label_set ?? '', rerank: m._rerank === 'rerank' ? m.rerank === true : undefined, rerankTopK: m.rerank_top_k ?? 0 },
        ctx,
      )
      .then(
        (r) => callback(null, zeroShotMsg(r)),
        (err: unknown) => callback(toServiceError(err)),
      );
  };
}

function embedHandler(zeroShot: ZeroShotService): Unary<EmbedRequestMsg> {
  return (call, callback) => {
    const m = call.request;
    const ctx = unaryContext(call, 'grpc');
    zeroShot.embed({ model: m.model ?? '', version: m.version ?? '', image: m.image, texts: m.texts ?? [] }, ctx).then(
      (r) => callback(null, embedMsg(r)),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
}

function zeroShotMsg(r: ZeroShotResponse): unknown {
  return {
    model: r.model,
    version: r.version,
    labels: r.labels.map((l) => ({ label: l.label, score: l.score, cosine_score: l.cosineScore ?? 0, rerank_logit: l.rerankLogit ?? 0 })),
    timing: timingMsg(r.timing),
    truncated: r.truncated,
    batch_size: r.batchSize,
    cache: r.cache,
    request_id: r.requestId,
    reranked: r.rerank !== undefined,
    rerank: r.rerank ? { top_k: r.rerank.topK, batch_size: r.rerank.batchSize, queue_ms: r.rerank.queueMs, inference_ms: r.rerank.inferenceMs } : null,
  };
}

function embedMsg(r: EmbedResponse): unknown {
  return {
    model: r.model,
    version: r.version,
    image_embedding: r.imageEmbedding ? { values: Array.from(r.imageEmbedding) } : null,
    text_embeddings: r.textEmbeddings.map((e) => ({ values: Array.from(e) })),
    dimensions: r.dimensions,
    truncated: r.truncated,
    timing: timingMsg(r.timing),
    request_id: r.requestId,
  };
}
