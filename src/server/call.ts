// The one request scope every feature service runs its calls in (classify, zero-shot and embed,
// KServe v2, tensors): refuse while draining, authenticate and authorize, validate the model
// name, resolve the model and check its kind, compute the deadline, then record the request's
// metrics and log its failure exactly once, whatever the outcome. A leaf: it knows the repository
// and the catalog, no feature and no transport.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Cancellation } from '../cancellation.js';
import type { GatewayConfig } from '../config.js';
import { GatewayError, toGatewayError, wrongKind } from '../errors.js';
import { type Metrics, UNKNOWN_MODEL } from '../metrics.js';
import type { ModelRepository } from '../models/repository.js';
import type { ServedVersion } from '../models/served.js';
import { type TraceCarrier, endRequestTrace, runTraced, startRequestTrace } from '../tracing.js';
import { Authenticator, type Principal } from './auth.js';

/** Transport of a request, as the `protocol` metric label shows it (`-v2`: the KServe v2 protocol). */
export type Protocol = 'grpc' | 'http' | 'grpc-v2' | 'http-v2';

/** Per-call facts the transport knows. */
export interface CallContext {
  readonly protocol: Protocol;
  readonly requestId: string;
  /** Client deadline, ms from now (gRPC deadline, x-request-timeout-ms). */
  readonly timeoutMs?: number | undefined;
  /** Aborts when the client goes away. */
  readonly signal?: Cancellation | undefined;
  /** The `authorization` header or metadata value, if any (never logged). */
  readonly authorization?: string | undefined;
  /** W3C trace context and operation name; set only while tracing is on. */
  readonly trace?: TraceCarrier | undefined;
}

/** The model kind a call needs: a type guard, and what to tell a caller who named another kind. */
export interface KindRequirement<V extends ServedVersion> {
  readonly is: (served: ServedVersion) => served is V;
  /** E.g. "Classify needs an image-classifier". */
  readonly needs: string;
  /** Where the other kinds are served, e.g. "use ZeroShotClassify for clip models". */
  readonly hint: string;
}

/** What a feature's work gets: the resolved version, its deadline and the request's arrival (ms, performance clock). */
export interface Call<V extends ServedVersion> {
  readonly served: V;
  readonly timeoutMs: number;
  readonly startedAtMs: number;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;

/** The request scope of one gateway: draining state, authentication, and the once-per-request wrapper. */
export class RequestScope {
  /** Set on SIGTERM: new requests are refused with SHUTTING_DOWN while queued ones finish. */
  draining = false;
  readonly auth: Authenticator;

  constructor(
    readonly repository: Pick<ModelRepository, 'ready' | 'has' | 'resolve'>,
    readonly config: GatewayConfig,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.auth = new Authenticator(config.apiKeys);
  }

  /** Ready = every model finished loading (or failed) and not draining. */
  get ready(): boolean {
    return this.repository.ready && !this.draining;
  }

  /**
   * Runs one request against `model` (at `version`, or its default) of the `kind` it needs: refuses
   * while draining, authorizes, validates the name, resolves the model, checks its kind, computes
   * the deadline (the caller's, else the model's default, capped by maxTimeoutMs), runs `work`, and
   * records metrics and the failure log line once. Throws a GatewayError on any failure.
   */
  async run<V extends ServedVersion, T>(ctx: CallContext, model: string, version: string | undefined, kind: KindRequirement<V>, work: (call: Call<V>) => Promise<T>): Promise<T> {
    const startedAtMs = performance.now();
    let modelLabel = this.repository.has(model) ? model : UNKNOWN_MODEL;
    let versionLabel = '';
    // Tracing off: ctx.trace is undefined and nothing below makes a span.
    const traced = ctx.trace === undefined ? undefined : startRequestTrace(ctx.trace, startedAtMs);
    let workStartMs = startedAtMs;
    try {
      this.refuseWhileDraining();
      this.authorize(ctx, model);
      validateName(model, version);
      const served = this.repository.resolve(model, version || undefined);
      if (!kind.is(served)) throw wrongKind({ model, kind: served.kind, needs: kind.needs, hint: kind.hint });
      modelLabel = served.info.model;
      versionLabel = served.info.version;
      const timeoutMs = Math.min(ctx.timeoutMs ?? served.info.batching.defaultTimeoutMs, this.config.maxTimeoutMs);
      if (traced !== undefined) workStartMs = performance.now();
      const result = traced === undefined ? await work({ served, timeoutMs, startedAtMs }) : await runTraced(traced, () => work({ served, timeoutMs, startedAtMs }));
      const workEndMs = performance.now();
      this.record(ctx, modelLabel, versionLabel, 'ok', startedAtMs);
      if (traced !== undefined) endTrace(traced, modelLabel, versionLabel, 'ok', startedAtMs, workStartMs, workEndMs, result);
      return result;
    } catch (err) {
      const error = toGatewayError(err);
      this.record(ctx, modelLabel, versionLabel, error.code, startedAtMs);
      if (traced !== undefined) endTrace(traced, modelLabel, versionLabel, error.code, startedAtMs, workStartMs, workStartMs === startedAtMs ? startedAtMs : performance.now(), undefined);
      this.logFailure(error, ctx, model);
      throw error;
    }
  }

  /** Throws SHUTTING_DOWN while draining. */
  refuseWhileDraining(): void {
    if (this.draining) throw new GatewayError('SHUTTING_DOWN', 'gateway is shutting down; retry on another replica', { retryAfterSeconds: 1 });
  }

  /** Authenticates the caller and checks it may call `model`; throws UNAUTHENTICATED, PERMISSION_DENIED or RATE_LIMITED. */
  authorize(ctx: Pick<CallContext, 'authorization'>, model: string): Principal {
    const principal = this.auth.authenticate(ctx.authorization);
    this.auth.authorize(principal, model);
    return principal;
  }

  /** The top_k to answer: the configured default for 0 or none; INVALID_ARGUMENT beyond maxTopK. */
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

  /** Logs a failure a transport caught, unless the scope logged it already: every failure is logged once. */
  logOnce(error: GatewayError, ctx: Pick<CallContext, 'protocol' | 'requestId'>, model = ''): void {
    if (!LOGGED.has(error)) this.logFailure(error, ctx, model);
  }

  private record(ctx: CallContext, model: string, version: string, outcome: string, startedAtMs: number): void {
    this.metrics.requests.inc({ model, version, protocol: ctx.protocol, outcome });
    this.metrics.requestDuration.observe({ model, protocol: ctx.protocol }, (performance.now() - startedAtMs) / 1000);
  }

  private logFailure(error: GatewayError, ctx: Pick<CallContext, 'protocol' | 'requestId'>, model: string): void {
    LOGGED.add(error);
    const fields = { requestId: ctx.requestId, protocol: ctx.protocol, model: model.slice(0, 128), code: error.code, err: error.message };
    // Overload and lifecycle answers (deadline shed, draining, model loading) are counted in the
    // metrics; logging each at error level would turn an overload into a log storm.
    if (error.httpStatus >= 500 && !EXPECTED_UNDER_LOAD.has(error.code)) this.logger.error({ ...fields, cause: error.cause instanceof Error ? error.cause.message : undefined }, 'request failed');
    else this.logger.debug(fields, 'request rejected');
  }
}

/** Ends a request's span with the timing and batch size its answer carries (classify, zero-shot, embed). */
function endTrace(traced: Parameters<typeof endRequestTrace>[0], model: string, version: string, outcome: string, startedAtMs: number, workStartMs: number, workEndMs: number, answer: unknown): void {
  const { timing, batchSize } = (answer ?? {}) as { timing?: { preprocessMs?: number; queueMs?: number; inferenceMs?: number }; batchSize?: number };
  const stages = timing && typeof timing.inferenceMs === 'number' ? { preprocessMs: timing.preprocessMs ?? 0, queueMs: timing.queueMs ?? 0, inferenceMs: timing.inferenceMs } : undefined;
  endRequestTrace(traced, { model, version, outcome, startedAtMs, workStartMs, workEndMs, endMs: performance.now(), timing: stages, batchSize });
}

/** Failures already logged (by the scope, before a transport saw them). */
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
