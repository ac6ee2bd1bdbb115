// Every Prometheus metric of the gateway, declared in one place with fixed label sets. Names
// follow Prometheus conventions: base units (seconds), `_total` counters, no per-request labels.
// Model names are bounded by the repository; unknown names are folded into one value. Gauges of
// what a model version holds right now are read from its live counts when scraped (`trackLoad`),
// not set on every request.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Label value used for a model name that is not in the repository (keeps cardinality bounded). */
export const UNKNOWN_MODEL = '__unknown__';

export const MODEL_STATES = ['LOADING', 'READY', 'UNAVAILABLE', 'UNLOADING'] as const;
export type ModelState = (typeof MODEL_STATES)[number];

const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_SIZE_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256];

/**
 * What one served version holds right now, kept current by its batcher and admission hooks and
 * read by the gauges at scrape time. Several loads of one model version (a reload's old and new
 * instances) are summed.
 */
export interface VersionLoad {
  readonly model: string;
  readonly version: string;
  /** Requests waiting in the batch queue. */
  queueLength: number;
  /** Requests queued or in a running batch. */
  inBatcher: number;
  /** Requests decoding their image (holding a decode place). */
  decoding: number;
  /** Requests waiting for a decode place. */
  waiting: number;
}

/** The gateway's metrics; one instance per process (tests may create more, each with its own registry). */
export class Metrics {
  readonly registry = new Registry();
  private readonly loads = new Set<VersionLoad>();

  readonly requests = new Counter({
    name: 'gateway_requests_total',
    help: 'Requests answered, by model, version, protocol and outcome (ok or an error code).',
    labelNames: ['model', 'version', 'protocol', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'gateway_request_duration_seconds',
    help: 'End-to-end request time inside the gateway, from receipt to answer.',
    labelNames: ['model', 'protocol'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly queueDuration = new Histogram({
    name: 'gateway_queue_duration_seconds',
    help: 'Time a request waited in the batch queue before its batch started.',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly preprocessDuration = new Histogram({
    name: 'gateway_preprocess_duration_seconds',
    help: 'Image decode and preprocessing time per request.',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly inferenceDuration = new Histogram({
    name: 'gateway_inference_duration_seconds',
    help: 'onnxruntime session.run time per batch.',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'gateway_batch_size',
    help: 'Requests per executed batch.',
    labelNames: ['model', 'version'] as const,
    buckets: BATCH_SIZE_BUCKETS,
    registers: [this.registry],
  });

  readonly pendingRequests = new Gauge({
    name: 'gateway_pending_requests',
    help: 'Requests a model version holds: decoding or waiting to decode, queued, or in a running batch.',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
    collect: () => {
      for (const t of this.loadTotals()) this.pendingRequests.set({ model: t.model, version: t.version }, t.inBatcher + t.decoding + t.waiting);
    },
  });

  readonly preprocessing = new Gauge({
    name: 'gateway_preprocessing_requests',
    help: 'Requests in front of the batch queue, per model version: decoding their image (state="decoding", at most the decode places) or waiting for a decode place (state="waiting").',
    labelNames: ['model', 'version', 'state'] as const,
    registers: [this.registry],
    collect: () => {
      for (const t of this.loadTotals()) {
        this.preprocessing.set({ model: t.model, version: t.version, state: 'decoding' }, t.decoding);
        this.preprocessing.set({ model: t.model, version: t.version, state: 'waiting' }, t.waiting);
      }
    },
  });

  readonly queueLength = new Gauge({
    name: 'gateway_queue_length',
    help: 'Requests waiting in the batch queue, per model version.',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
    collect: () => {
      for (const t of this.loadTotals()) this.queueLength.set({ model: t.model, version: t.version }, t.queueLength);
    },
  });

  readonly shed = new Counter({
    name: 'gateway_shed_requests_total',
    help: 'Requests dropped before inference because they could no longer meet their deadline or were cancelled.',
    labelNames: ['model', 'version', 'reason'] as const,
    registers: [this.registry],
  });

  readonly modelState = new Gauge({
    name: 'gateway_model_state',
    help: '1 for the current state of each model version, 0 for the others.',
    labelNames: ['model', 'version', 'state'] as const,
    registers: [this.registry],
  });

  readonly modelInfo = new Gauge({
    name: 'gateway_model_info',
    help: 'Always 1; labels describe a loaded model version and the execution provider serving it.',
    labelNames: ['model', 'version', 'kind', 'provider'] as const,
    registers: [this.registry],
  });

  readonly modelHealthy = new Gauge({
    name: 'gateway_model_healthy',
    help: '0 while a loaded model version fails batch after batch (it keeps serving and recovers on the next success), else 1.',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });

  readonly batchFailures = new Counter({
    name: 'gateway_batch_failures_total',
    help: 'Batches whose inference failed (each of their requests got INTERNAL).',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });

  readonly promptCacheHits = new Counter({
    name: 'gateway_prompt_cache_hits_total',
    help: 'Zero-shot prompt embeddings found in the text-embedding cache, by model.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly promptCacheMisses = new Counter({
    name: 'gateway_prompt_cache_misses_total',
    help: 'Zero-shot prompt embeddings not in the cache (encoded by the text tower), by model.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly promptCacheEntries = new Gauge({
    name: 'gateway_prompt_cache_entries',
    help: 'Prompt embeddings held in the text-embedding cache (all models).',
    registers: [this.registry],
  });

  readonly promptCacheBytes = new Gauge({
    name: 'gateway_prompt_cache_bytes',
    help: 'Approximate bytes held by the text-embedding cache (embeddings plus keys).',
    registers: [this.registry],
  });

  readonly responseCacheHits = new Counter({
    name: 'gateway_response_cache_hits_total',
    help: 'Requests answered from a model version\'s response cache (no decode, queue or inference).',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });

  readonly responseCacheMisses = new Counter({
    name: 'gateway_response_cache_misses_total',
    help: 'Requests to a model version with a response cache that were not in it (computed, then cached).',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });

  readonly responseCacheEntries = new Gauge({
    name: 'gateway_response_cache_entries',
    help: 'Answers held in a model version\'s response cache.',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });

  readonly responseCacheBytes = new Gauge({
    name: 'gateway_response_cache_bytes',
    help: 'Approximate bytes held by a model version\'s response cache (answers plus keys).',
    labelNames: ['model', 'version'] as const,
    registers: [this.registry],
  });

  readonly textBatchSize = new Histogram({
    name: 'gateway_text_batch_size',
    help: 'Prompts per executed text-encoder batch (CLIP models).',
    labelNames: ['model', 'version'] as const,
    buckets: BATCH_SIZE_BUCKETS,
    registers: [this.registry],
  });

  readonly textInferenceDuration = new Histogram({
    name: 'gateway_text_inference_duration_seconds',
    help: 'onnxruntime session.run time per text-encoder batch (CLIP models).',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly rerankBatchSize = new Histogram({
    name: 'gateway_rerank_batch_size',
    help: 'Images per executed reranker batch (CLIP models with a cross-modal reranker); each scores its own top-k candidates.',
    labelNames: ['model', 'version'] as const,
    buckets: BATCH_SIZE_BUCKETS,
    registers: [this.registry],
  });

  readonly rerankInferenceDuration = new Histogram({
    name: 'gateway_rerank_inference_duration_seconds',
    help: 'onnxruntime session.run time per reranker batch (CLIP models with a cross-modal reranker).',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly ready = new Gauge({
    name: 'gateway_ready',
    help: '1 when every model finished loading (or failed) and the gateway is not draining.',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Sets the state gauge so exactly one state is 1 for this model version. */
  setModelState(model: string, version: string, state: ModelState): void {
    for (const s of MODEL_STATES) this.modelState.set({ model, version, state: s }, s === state ? 1 : 0);
  }

  /** Publishes `load` in the pending, queue-length and preprocessing gauges until `untrackLoad` or `forgetModelVersion`. */
  trackLoad(load: VersionLoad): void {
    this.loads.add(load);
  }

  /** Stops publishing `load`; the last load of a model version takes its series with it (a failed load leaves none behind). */
  untrackLoad(load: VersionLoad): void {
    if (!this.loads.delete(load)) return;
    for (const l of this.loads) if (l.model === load.model && l.version === load.version) return;
    this.removeLoadSeries(load.model, load.version);
  }

  private removeLoadSeries(model: string, version: string): void {
    const labels = { model, version };
    this.pendingRequests.remove(labels);
    this.queueLength.remove(labels);
    for (const state of ['decoding', 'waiting']) this.preprocessing.remove({ ...labels, state });
  }

  /** The tracked loads summed per model version. */
  private loadTotals(): VersionLoad[] {
    const totals = new Map<string, VersionLoad>();
    for (const l of this.loads) {
      const key = `${l.model}\0${l.version}`;
      const t = totals.get(key);
      if (t === undefined) totals.set(key, { ...l });
      else {
        t.queueLength += l.queueLength;
        t.inBatcher += l.inBatcher;
        t.decoding += l.decoding;
        t.waiting += l.waiting;
      }
    }
    return [...totals.values()];
  }

  /** Drops every series of a model version that was unloaded. */
  forgetModelVersion(model: string, version: string): void {
    for (const l of this.loads) if (l.model === model && l.version === version) this.loads.delete(l);
    for (const s of MODEL_STATES) this.modelState.remove({ model, version, state: s });
    this.removeLoadSeries(model, version);
    const labels = { model, version };
    this.modelHealthy.remove(labels);
    this.batchSize.remove(labels);
    this.inferenceDuration.remove(labels);
    this.queueDuration.remove(labels);
    this.textBatchSize.remove(labels);
    this.textInferenceDuration.remove(labels);
    this.rerankBatchSize.remove(labels);
    this.rerankInferenceDuration.remove(labels);
    this.responseCacheHits.remove(labels);
    this.responseCacheMisses.remove(labels);
    this.responseCacheEntries.remove(labels);
    this.responseCacheBytes.remove(labels);
  }
}
