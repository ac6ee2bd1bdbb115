// OpenTelemetry tracing of requests and batches, off by default. On when an OTLP endpoint is
// configured (--otlp-endpoint, or the standard OTEL_EXPORTER_OTLP_ENDPOINT /
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), exporting OTLP/HTTP (protobuf, or JSON with
// OTEL_EXPORTER_OTLP_PROTOCOL=http/json) under OTEL_SERVICE_NAME, sampled as OTEL_TRACES_SAMPLER /
// OTEL_TRACES_SAMPLER_ARG say (the SDK reads them). A request continues the caller's W3C
// `traceparent`. Off, every entry point here is one check of a module variable: no span, context
// or closure is made on the hot path.
import { type Context, type Link, ROOT_CONTEXT, defaultTextMapGetter, type Span, SpanKind, SpanStatusCode, type SpanContext, type Tracer, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** The tracer while tracing is on; undefined = off (the only thing the hot path looks at). */
let tracer: Tracer | undefined;
const propagator = new W3CTraceContextPropagator();

/** Where spans go, from the gateway's setting and the standard OTEL_* variables. */
export interface TracingSettings {
  /** OTLP/HTTP traces URL (…/v1/traces). */
  readonly url: string;
  readonly protocol: 'http/protobuf' | 'http/json';
  readonly serviceName: string;
}

/**
 * The tracing settings, or undefined when tracing is off. `endpoint` (--otlp-endpoint) and
 * OTEL_EXPORTER_OTLP_ENDPOINT are base URLs that get /v1/traces appended, as the OTLP exporter
 * spec says; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as given. OTEL_SDK_DISABLED=true wins.
 */
export function tracingSettings(endpoint: string, env: NodeJS.ProcessEnv): TracingSettings | undefined {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return undefined;
  const signal = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  const base = endpoint.trim() || env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  const url = endpoint.trim() ? `${base!.replace(/\/+$/, '')}/v1/traces` : signal || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined);
  if (!url) return undefined;
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/protobuf').trim();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL "${protocol}" is not supported: use http/protobuf (the default) or http/json`);
  }
  return { url, protocol, serviceName: env['OTEL_SERVICE_NAME']?.trim() || 'inference-gateway' };
}

/** Starts tracing; resolves the returned shutdown to flush the spans still buffered and turn tracing off. */
export function startTracing(settings: TracingSettings): () => Promise<void> {
  const exporter = settings.protocol === 'http/json' ? new OtlpJsonExporter({ url: settings.url }) : new OtlpProtoExporter({ url: settings.url });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // The request's span follows its work through awaits into the batcher (traceOf below).
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  tracer = provider.getTracer('inference-gateway');
  return async () => {
    tracer = undefined;
    await provider.shutdown();
    context.disable();
  };
}

/** Whether spans are being made. */
export function tracingOn(): boolean {
  return tracer !== undefined;
}

/** One traced request: its span and the context its work runs in. */
export interface RequestTrace {
  readonly span: Span;
  readonly context: Context;
}

/** W3C trace context headers as a transport received them, and the operation (span name). */
export interface TraceCarrier {
  readonly traceparent?: string | undefined;
  readonly tracestate?: string | undefined;
  /** E.g. "POST /v1/classify" or "gateway.v1.InferenceGateway/Classify". */
  readonly operation: string;
}

/** Epoch ms of a performance.now() reading (spans take wall-clock times). */
const epochMs = (perfMs: number): number => performance.timeOrigin + perfMs;

/** Starts the SERVER span of a request, continuing the caller's trace; undefined when tracing is off. */
export function startRequestTrace(carrier: TraceCarrier, startedAtMs: number): RequestTrace | undefined {
  if (tracer === undefined) return undefined;
  const parent = carrier.traceparent ? propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter) : ROOT_CONTEXT;
  const span = tracer.startSpan(carrier.operation, { kind: SpanKind.SERVER, startTime: epochMs(startedAtMs) }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Runs `work` inside the request's context (so the batcher can link the batch to it). */
export function runTraced<T>(requestTrace: RequestTrace | undefined, work: () => Promise<T>): Promise<T> {
  return requestTrace ? context.with(requestTrace.context, work) : work();
}

/** Where a request's time went, ms (the answers' timing). */
export interface StageTimes {
  readonly preprocessMs: number;
  readonly queueMs: number;
  readonly inferenceMs: number;
}

/** What the request scope knows when a request ends (performance.now() ms). */
export interface RequestEnd {
  readonly model: string;
  readonly version: string;
  /** 'ok' or the catalog error code. */
  readonly outcome: string;
  /** When the request scope began. */
  readonly startedAtMs: number;
  readonly workStartMs: number;
  readonly workEndMs: number;
  readonly endMs: number;
  readonly timing?: StageTimes | undefined;
  readonly batchSize?: number | undefined;
}

/**
 * Ends a request's span with its stages as child spans: receive (auth, model resolution),
 * admission, preprocess, queue wait, inference and answer. The stage times come from the
 * request's timing, laid back from the end of its work: inference ends when the work does, the
 * queue wait before it, preprocessing before that, and admission takes what is left.
 */
export function endRequestTrace(requestTrace: RequestTrace | undefined, end: RequestEnd): void {
  if (requestTrace === undefined || tracer === undefined) return;
  const { span, context: ctx } = requestTrace;
  const attributes = { 'gateway.model': end.model, 'gateway.model_version': end.version, 'gateway.outcome': end.outcome, ...(end.batchSize ? { 'gateway.batch_size': end.batchSize } : {}) };
  span.setAttributes(attributes);
  const stage = (name: string, fromMs: number, toMs: number): void => {
    if (toMs < fromMs) return;
    tracer!.startSpan(name, { startTime: epochMs(fromMs), attributes }, ctx).end(epochMs(toMs));
  };
  stage('receive', end.startedAtMs, end.workStartMs);
  if (end.timing) {
    const inferenceStart = end.workEndMs - end.timing.inferenceMs;
    const queueStart = inferenceStart - end.timing.queueMs;
    const preprocessStart = Math.max(end.workStartMs, queueStart - end.timing.preprocessMs);
    stage('admission', end.workStartMs, preprocessStart);
    stage('preprocess', preprocessStart, queueStart);
    stage('queue wait', queueStart, inferenceStart);
    stage('inference', inferenceStart, end.workEndMs);
  }
  stage('answer', end.workEndMs, end.endMs);
  if (end.outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: end.outcome });
  span.end(epochMs(end.endMs));
}

/** Batcher hooks that make a span per batch linked to the spans of its requests; empty when tracing is off. */
export function batchTraceHooks(model: string, version: string): { traceOf?: () => unknown; onBatchTrace?: (traces: readonly unknown[], startMs: number, endMs: number, failed: boolean) => void } {
  if (tracer === undefined) return {};
  return {
    traceOf: () => trace.getSpanContext(context.active()),
    onBatchTrace: (traces, startMs, endMs, failed) => {
      const active = tracer;
      if (active === undefined) return;
      const links: Link[] = traces.filter((t): t is SpanContext => t !== undefined).map((spanContext) => ({ context: spanContext }));
      const attributes = { 'gateway.model': model, 'gateway.model_version': version, 'gateway.batch_size': traces.length, 'gateway.outcome': failed ? 'INFERENCE_FAILED' : 'ok' };
      // A batch serves many traces: its own root span, linked to each request (OpenTelemetry's batching pattern).
      const batch = active.startSpan('batch', { kind: SpanKind.INTERNAL, startTime: epochMs(startMs), links, attributes }, ROOT_CONTEXT);
      active.startSpan('inference', { startTime: epochMs(startMs), attributes }, trace.setSpan(ROOT_CONTEXT, batch)).end(epochMs(endMs));
      if (failed) batch.setStatus({ code: SpanStatusCode.ERROR, message: 'batch failed' });
      batch.end(epochMs(endMs));
    },
  };
}
