// The domain calls every transport adapts (gRPC, HTTP): validate a request, resolve the model,
// run it, and record the request's metrics and log line exactly once, whatever the outcome.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { GatewayError, toGatewayError } from '../errors.js';
import { type Metrics, UNKNOWN_MODEL } from '../metrics.js';
import { ClassifierVersion, type ScoredLabel, type Timing } from '../models/classifier.js';
import type { ModelRepository, ModelStatus } from '../models/repository.js';
import { Authenticator, type Principal } from './auth.js';
import { KServeService } from './kserve-service.js';
import { ZeroShotService } from './zeroshot-service.js';

/** Transport of a request, as the `protocol` metric label shows it (`-v2`: the KServe v2 protocol). */
export type Protocol = 'grpc' | 'http' | 'grpc-v2' | 'http-v2';

export interface ClassifyRequest {
  readonly model: string;
  /** Empty or undefined = the model's default (highest ready) version. */
  readonly version?: string | undefined;
  readonly image: Uint8Array;
  /** 0 or undefined = the configured default. */
  readonly topK?: number | undefined;
}

/** Per-call facts the transport knows. */
export interface CallContext {
  readonly protocol: Protocol;
  readonly requestId: string;
  /** Client deadline, ms from now (gRPC deadline, x-request-timeout-ms). */
  readonly timeoutMs?: number | undefined;
  /** Aborts when the client goes away. */
  readonly signal?: AbortSignal | undefined;
  /** The `authorization` header or metadata value, if any (never logged). */
  readonly authorization?: string | undefined;
}

export interface ClassifyResponse {
  readonly model: string;
  readonly version: string;
  readonly labels: readonly ScoredLabel[];
  readonly timing: Timing;
  readonly batchSize: number;
  readonly requestId: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;

export class GatewayService {
  /** Set on SIGTERM: new requests are refused with SHUTTING_DOWN while queued ones finish. */
  draining = false;
  readonly auth: Authenticator;
  /** Zero-shot classification and embeddings (clip models). */
  readonly zeroShot: ZeroShotService;
  /** The KServe v2 / Open Inference Protocol calls (tensor in, tensor out). */
  readonly kserve: KServeService;

  constructor(
    readonly repository: ModelRepository,
    private readonly config: GatewayConfig,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.auth = new Authenticator(config.apiKeys);
    this.zeroShot = new ZeroShotService(this, repository, config);
    this.kserve = new KServeService(this, repository, config);
  }

  /** Ready = every model finished loading (or failed) and not draining. */
  get ready(): boolean {
    return this.repository.ready && !this.draining;
  }

  /** Every model the caller may see (all of them when authentication is off). */
  listModels(ctx?: Pick<CallContext, 'authorization'>): ModelStatus[] {
    const all = this.repository.list();
    if (!this.auth.enabled || !ctx) return all;
    const principal = this.auth.authenticate(ctx.authorization);
    return all.filter((m) => principal.models.includes('*') || principal.models.includes(m.name));
  }

  /** Reloads the model repository (admin API, SIGHUP, file watch); answers the new model list. */
  async reload(ctx: Pick<CallContext, 'authorization'>): Promise<ModelStatus[]> {
    this.auth.authenticate(ctx.authorization);
    await this.repository.reload();
    this.logger.info({ models: this.repository.list().map((m) => `${m.name}:${m.state}`) }, 'model repository reloaded');
    return this.repository.list();
  }

  /** Authenticates the caller and checks it may call `model`; throws UNAUTHENTICATED, PERMISSION_DENIED or RATE_LIMITED. */
  authorize(ctx: CallContext, model: string): Principal {
    const principal = this.auth.authenticate(ctx.authorization);
    this.auth.authorize(principal, model);
    return principal;
  }

  /** Classifies one image; throws a GatewayError on any failure. */
  async classify(request: ClassifyRequest, ctx: CallContext): Promise<ClassifyResponse> {
    const startedAtMs = performance.now();
    let modelLabel = this.repository.has(request.model) ? request.model : UNKNOWN_MODEL;
    let versionLabel = '';
    try {
      this.admit();
      this.authorize(ctx, request.model);
      validateName(request.model, request.version);
      const topK = this.topK(request.topK);
      const served = this.repository.resolve(request.model, request.version || undefined);
      if (!(served instanceof ClassifierVersion)) {
        throw new GatewayError('INVALID_ARGUMENT', `model "${request.model}" is a ${served.kind} model; Classify needs an image-classifier (use ZeroShotClassify for clip models)`);
      }
      modelLabel = served.info.model;
      versionLabel = served.info.version;
      const timeoutMs = Math.min(ctx.timeoutMs ?? served.info.batching.defaultTimeoutMs, this.config.maxTimeoutMs);
      const result = await served.classify(request.image, { topK, timeoutMs, signal: ctx.signal }, startedAtMs);
      this.observePreprocess(modelLabel, result.timing.preprocessMs);
      this.record(ctx, modelLabel, versionLabel, 'ok', startedAtMs);
      return { model: modelLabel, version: versionLabel, labels: result.labels, timing: result.timing, batchSize: result.batchSize, requestId: ctx.requestId };
    } catch (err) {
      const error = toGatewayError(err);
      this.record(ctx, modelLabel, versionLabel, error.code, startedAtMs);
      this.logFailure(error, ctx, request.model);
      throw error;
    }
  }

  /** Refuses new work while draining. */
  admit(): void {
    if (this.draining) throw new GatewayError('SHUTTING_DOWN', 'gateway is shutting down; retry on another replica', { retryAfterSeconds: 1 });
  }

  topK(requested: number | undefined): number {
    if (requested === undefined || requested === 0) return this.config.defaultTopK;
    if (!Number.isInteger(requested) || requested < 0) throw new GatewayError('INVALID_ARGUMENT', `top_k must be a positive integer, got ${requested}`);
    if (requested > this.config.maxTopK) throw new GatewayError('INVALID_ARGUMENT', `top_k ${requested} exceeds the limit of ${this.config.maxTopK}`);
    return requested;
  }

  /** Records one request's image decoding time. */
  observePreprocess(model: string, preprocessMs: number): void {
    this.metrics.preprocessDuration.observe({ model }, preprocessMs / 1000);
  }

  record(ctx: CallContext, model: string, version: string, outcome: string, startedAtMs: number): void {
    this.metrics.requests.inc({ model, version, protocol: ctx.protocol, outcome });
    this.metrics.requestDuration.observe({ model, protocol: ctx.protocol }, (performance.now() - startedAtMs) / 1000);
  }

  logFailure(error: GatewayError, ctx: Pick<CallContext, 'protocol' | 'requestId'>, model: string): void {
    LOGGED.add(error);
    const fields = { requestId: ctx.requestId, protocol: ctx.protocol, model: model.slice(0, 128), code: error.code, err: error.message };
    // Overload and lifecycle answers (deadline shed, draining, model loading) are counted in the
    // metrics; logging each at error level would turn an overload into a log storm.
    if (error.httpStatus >= 500 && !EXPECTED_UNDER_LOAD.has(error.code)) this.logger.error({ ...fields, cause: error.cause instanceof Error ? error.cause.message : undefined }, 'request failed');
    else this.logger.debug(fields, 'request rejected');
  }

  /** Logs a failure a transport caught, unless the service logged it already: every failure is logged once. */
  logOnce(error: GatewayError, ctx: Pick<CallContext, 'protocol' | 'requestId'>, model = ''): void {
    if (!LOGGED.has(error)) this.logFailure(error, ctx, model);
  }
}

/** Failures already logged (by the service, before a transport saw them). */
const LOGGED = new WeakSet<GatewayError>();

const EXPECTED_UNDER_LOAD: ReadonlySet<string> = new Set(['SHUTTING_DOWN', 'MODEL_UNAVAILABLE', 'DEADLINE_EXCEEDED']);

/** Model and version names are looked up, never used as paths; still, refuse junk early and clearly. */
export function validateName(model: string, version: string | undefined): void {
  if (!model) throw new GatewayError('INVALID_ARGUMENT', 'model is required');
  if (!NAME.test(model)) {
    throw new GatewayError('INVALID_ARGUMENT', `model name "${model.slice(0, 64)}" is invalid: letters, digits, ".", "_" or "-", at most 128 characters`);
  }
  if (version && !VERSION.test(version)) throw new GatewayError('INVALID_ARGUMENT', `version "${version.slice(0, 32)}" is invalid: a positive integer`);
}
