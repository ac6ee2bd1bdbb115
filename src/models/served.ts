// A served model version, whatever its kind: the load context the repository hands its loader,
// the description operators see (ListModels, /v1/models, logs), the interface every kind
// implements, its health (failure streak), the count of requests inside it, the one timing type
// of its answers, and the wiring of its batcher and admission to metrics and health.
import type { Logger } from 'pino';
import type { Histogram } from 'prom-client';
import type { AdmissionHooks } from '../batching/admission.js';
import type { BatcherHooks } from '../batching/batcher.js';
import type { BatchingConfig } from '../batching/policy.js';
import type { Metrics, VersionLoad } from '../metrics.js';
import type { ImageLimits } from './preprocess.js';
import type { PromptCache } from './prompt-cache.js';
import type { Provider, SessionOptions } from './session.js';
import { batchTraceHooks } from '../tracing.js';

/** Everything a loader needs besides the manifest and the version folder. */
export interface LoadContext {
  readonly modelName: string;
  readonly modelDir: string;
  readonly session: SessionOptions;
  readonly limits: ImageLimits;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly warmup: boolean;
  /** The gateway's text-embedding cache (CLIP models); a version makes its own when absent. */
  readonly promptCache?: PromptCache;
}

/** How a loaded version is described to operators (ListModels, /v1/models, logs). */
export interface VersionInfo {
  readonly model: string;
  readonly version: string;
  readonly kind: 'image-classifier' | 'clip' | 'tensor';
  /** Execution provider actually in use. */
  readonly provider: Provider;
  /** Why the provider differs from the configured one, if it does. */
  readonly providerNote: string | undefined;
  /** Effective batching (maxBatchSize capped by a fixed graph batch axis). */
  readonly batching: BatchingConfig & { readonly defaultTimeoutMs: number };
  readonly labelsCount: number;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** `tensor` models: every input and output with datatype and shape (-1 = dynamic), and how it batches. */
  readonly tensors?: {
    readonly inputs: readonly TensorMetadata[];
    readonly outputs: readonly TensorMetadata[];
    /** `dynamic`, `fixed N` (padded batches of N) or `none` (one request per session.run). */
    readonly batchAxis: string;
  };
}

/** A tensor as operators see it: -1 marks a dynamic dimension. */
export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

/** A loaded version of any kind. */
export interface ServedVersion {
  readonly kind: VersionInfo['kind'];
  readonly info: VersionInfo;
  readonly health: VersionHealth;
  /** Requests queued or running on this version. */
  readonly pending: number;
  /** Waits for queued and running work, then releases the sessions. */
  close(): Promise<void>;
}

/** Where a request's time went, ms: the same fields on every kind and transport. */
export interface Timing {
  /** Decoding and preprocessing (the slowest row's, for several rows); 0 for tensor rows. */
  readonly preprocessMs: number;
  /** From enqueue to the start of its batch. */
  readonly queueMs: number;
  /** session.run of the batch it rode in. */
  readonly inferenceMs: number;
  /** Getting every prompt embedding (clip models; 0 when all were cached); absent elsewhere. */
  readonly textMs?: number;
  /** From arrival to answer. */
  readonly totalMs: number;
  /** Answered from the model's response cache (no decode, queue or inference); absent otherwise. */
  readonly cached?: boolean;
}

/**
 * Failure streak of a version: after FAILURES_TO_UNHEALTHY failed batches in a row it is marked
 * unhealthy (metric, ListModels, log) but keeps serving, so the next success heals it.
 */
export class VersionHealth {
  static readonly FAILURES_TO_UNHEALTHY = 3;
  private failuresInARow = 0;
  /** Message of the failure that made the version unhealthy; '' while healthy. */
  lastError = '';

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly model: string,
    private readonly version: string,
  ) {
    metrics.modelHealthy.set({ model, version }, 1);
  }

  get healthy(): boolean {
    return this.failuresInARow < VersionHealth.FAILURES_TO_UNHEALTHY;
  }

  /** Called after every successful batch: touches the gauge only when the version was unhealthy (it is 1 otherwise). */
  succeeded(): void {
    if (!this.healthy) {
      this.logger.info({ model: this.model, version: this.version }, 'model version recovered');
      this.metrics.modelHealthy.set({ model: this.model, version: this.version }, 1);
    }
    this.failuresInARow = 0;
    this.lastError = '';
  }

  failed(error: Error): void {
    this.failuresInARow++;
    this.metrics.batchFailures.inc({ model: this.model, version: this.version });
    if (this.failuresInARow === VersionHealth.FAILURES_TO_UNHEALTHY) {
      this.lastError = error.message;
      this.metrics.modelHealthy.set({ model: this.model, version: this.version }, 0);
      this.logger.error({ model: this.model, version: this.version, failuresInARow: this.failuresInARow, err: error.message }, 'model version unhealthy');
    }
  }
}

/**
 * Counts requests inside a served version, from arrival (before preprocessing) to answer, so a
 * version being replaced or unloaded is released only once nothing uses it any more.
 */
export class ActiveRequests {
  private count = 0;
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.count;
  }

  enter(): void {
    this.count++;
  }

  exit(): void {
    this.count--;
    if (this.count === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves once no request is inside. */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** What a version's batcher and admission hooks add: `release` stops publishing its load (on close or a failed load). */
export interface VersionHooks extends BatcherHooks, AdmissionHooks {
  release(): void;
}

/**
 * Hooks for a CLIP side stage's batcher (text encoder, reranker): its own batch-size and
 * run-time histograms, label set bound once; failures count toward the version's health.
 */
export function stageBatcherHooks(batchSize: Histogram<'model' | 'version'>, runSeconds: Histogram<'model' | 'version'>,
  model: string, version: string, health: VersionHealth): BatcherHooks {
  const size = batchSize.labels(model, version);
  const seconds = runSeconds.labels(model, version);
  return {
    onBatch: (n, durationMs) => {
      size.observe(n);
      seconds.observe(durationMs / 1000);
    },
    onBatchFailed: (_size, error) => health.failed(error),
  };
}

/**
 * Metrics and health wiring for one version's batcher and its admission. The metric children are
 * bound once here; the counts a version holds (gateway_pending_requests, _queue_length,
 * _preprocessing_requests) are only stored on each change and published when scraped.
 */
export function batcherHooks(metrics: Metrics, model: string, version: string, health: VersionHealth): VersionHooks {
  // gateway_pending_requests counts every request the version holds: decoding or waiting to
  // (on a CPU host the standing queue forms there, in front of the batch queue), queued, running.
  const load: VersionLoad = { model, version, queueLength: 0, inBatcher: 0, decoding: 0, waiting: 0 };
  metrics.trackLoad(load);
  const batchSize = metrics.batchSize.labels(model, version);
  const inferenceSeconds = metrics.inferenceDuration.labels(model, version);
  const queueSeconds = metrics.queueDuration.labels(model, version);
  return {
    // Empty while tracing is off: the batcher then makes no trace calls at all.
    ...batchTraceHooks(model, version),
    onBatch: (size, durationMs) => {
      batchSize.observe(size);
      inferenceSeconds.observe(durationMs / 1000);
      health.succeeded();
    },
    onBatchFailed: (_size, error) => health.failed(error),
    onQueued: (queueMs) => queueSeconds.observe(queueMs / 1000),
    onShed: (reason, count) => metrics.shed.inc({ model, version, reason }, count),
    onDepth: (queueLength, pending) => {
      load.queueLength = queueLength;
      load.inBatcher = pending;
    },
    onUpstream: (decoding, waiting) => {
      load.decoding = decoding;
      load.waiting = waiting;
    },
    release: () => metrics.untrackLoad(load),
  };
}
