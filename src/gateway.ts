// Composition root: config -> metrics -> model repository -> gRPC and HTTP servers, and the
// graceful drain on shutdown. main.ts runs it as a process; tests start it in-process on
// ephemeral loopback ports.
import { type FSWatcher, readdirSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type GatewayConfig, readTls } from './config.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { configureOrtTelemetry } from './models/ort-telemetry.js';
import { PromptCache } from './models/prompt-cache.js';
import { ModelRepository } from './models/repository.js';
import { type GrpcServerHandle, startGrpcServer } from './server/grpc.js';
import { type HttpServerHandle, startHttpServer, startMetricsServer } from './server/http.js';
import { type Services, createServices } from './server/services.js';
import { startTracing, tracingSettings } from './tracing.js';

export interface Gateway {
  readonly config: GatewayConfig;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Port of the separate /metrics listener, or undefined when /metrics is on the API port. */
  readonly metricsPort: number | undefined;
  /** The feature services over one request scope (`services.scope.draining`, `.ready`). */
  readonly services: Services;
  readonly repository: ModelRepository;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Settles when every model finished loading (or failed). */
  readonly loaded: Promise<void>;
  /** Drains queued and in-flight requests (up to drainTimeoutMs), closes servers, releases sessions. */
  shutdown(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, options: { logger?: Logger; metrics?: Metrics } = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = options.metrics ?? new Metrics();
  // Before the models load: their batchers take tracing hooks only if it is on.
  const tracing = tracingSettings(config.otlpEndpoint, process.env);
  const stopTracing = tracing ? startTracing(tracing) : undefined;
  if (tracing) logger.info({ url: tracing.url, protocol: tracing.protocol, serviceName: tracing.serviceName }, 'tracing on (OTLP/HTTP)');
  // Before the first session opens: onnxruntime reads its telemetry switch then, once per process.
  const onnxruntimeTelemetry = configureOrtTelemetry(config.onnxruntimeTelemetry);
  const promptCache = new PromptCache({ maxEntries: config.promptCacheEntries, maxBytes: config.promptCacheBytes }, metrics);
  const repository = new ModelRepository(config.modelsDir, (modelName, modelDir) => ({
    modelName,
    modelDir,
    session: { provider: config.executionProvider, intraOpThreads: config.intraOpThreads, intraOpSpinning: config.intraOpSpinning, niceOffset: config.sessionNiceOffset },
    limits: { maxImageBytes: config.maxImageBytes, maxImagePixels: config.maxImagePixels },
    metrics,
    logger,
    warmup: config.warmup,
    promptCache,
  }));
  const services = createServices(repository, config, metrics, logger);
  const { scope } = services;
  metrics.ready.set(0);

  let grpcServer: GrpcServerHandle | undefined;
  let httpServer: HttpServerHandle | undefined;
  let metricsServer: HttpServerHandle | undefined;
  try {
    // The gRPC limit leaves room for the other fields of a request beside the image.
    const tls = readTls(config);
    const textBytes = maxTextBytes(config);
    grpcServer = await startGrpcServer(services, { host: config.host, port: config.grpcPort, maxMessageBytes: config.maxImageBytes + textBytes + 64 * 1024, adminApi: config.adminApi, flowControlWindowBytes: config.grpcFlowControlWindow, tls });
    httpServer = await startHttpServer(services, metrics, {
      host: config.host,
      port: config.httpPort,
      maxImageBytes: config.maxImageBytes,
      maxTextBytes: textBytes,
      maxTextFields: config.zeroShotMaxLabels + config.zeroShotMaxTemplates,
      requestTimeoutMs: config.httpRequestTimeoutMs,
      serveMetrics: config.metricsPort < 0,
      metricsRequireKey: config.metricsRequireKey,
      adminApi: config.adminApi,
      // A label per line (or a JSON string), each within the label limit, UTF-8 at most 4 bytes a character.
      labelSetBodyBytes: config.labelSetMaxLabels * (config.zeroShotMaxLabelChars * 4 + 8) + config.zeroShotMaxTemplates * (config.zeroShotMaxTemplateChars * 4 + 16) + 64 * 1024,
      apiDocs: config.apiDocs,
      apiDocsRequireKey: config.apiDocsRequireKey,
      tls,
    });
    if (config.metricsPort >= 0) metricsServer = await startMetricsServer(metrics, { host: config.host, port: config.metricsPort });
  } catch (err) {
    await grpcServer?.close(0);
    await httpServer?.close();
    throw err;
  }
  const grpc = grpcServer;
  const http = httpServer;
  if (grpc.windowProblem) logger.warn({ problem: grpc.windowProblem }, 'gRPC HTTP/2 receive windows not raised');
  logger.info({ host: config.host, grpcPort: grpc.port, httpPort: http.port, metricsPort: metricsServer?.port, apiKeys: config.apiKeys.length, tls: Boolean(config.tlsCert), mtls: Boolean(config.tlsClientCa), modelsDir: config.modelsDir, executionProvider: config.executionProvider, onnxruntimeTelemetry }, 'gateway listening');

  const loaded = repository.loadAll().then(
    () => {
      if (scope.draining) return;
      grpc.setServing(true);
      metrics.ready.set(1);
      const models = repository.list();
      logger.info({ ready: models.filter((m) => m.state === 'READY').map((m) => m.name), unavailable: models.filter((m) => m.state !== 'READY').map((m) => m.name) }, 'gateway ready');
    },
    (err: unknown) => {
      logger.error({ err: (err as Error).message }, 'model repository failed to load');
      throw err;
    },
  );

  const watcher = config.watchModels ? watchRepository(config.modelsDir, () => repository.reload(), logger) : undefined;

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      scope.draining = true;
      watcher?.close();
      grpc.setServing(false);
      // GOAWAY at once: gRPC clients stop sending here and re-resolve (a headless Service's DNS no
      // longer lists this pod), while calls already accepted finish on their streams. The listener
      // closes too, so new connections are refused (UNAVAILABLE) rather than queued behind the drain.
      const grpcClosed = grpc.close(config.drainTimeoutMs + 1000);
      metrics.ready.set(0);
      const pending = repository.pending;
      logger.info({ pending, drainTimeoutMs: config.drainTimeoutMs }, 'draining');
      const drained = repository.close();
      const timedOut = await Promise.race([drained.then(() => false), delay(config.drainTimeoutMs).then(() => true)]);
      if (timedOut) logger.warn({ pending: repository.pending }, 'drain timeout reached; closing with requests still pending');
      await Promise.all([timedOut ? grpc.close(0) : grpcClosed, http.close(), metricsServer?.close()]);
      // The label-set scoring session, once no request can be using it.
      if (!timedOut) await services.labelSets.registry.close();
      await stopTracing?.();
      logger.info('gateway stopped');
    })();
    return shuttingDown;
  };

  return { config, grpcPort: grpc.port, httpPort: http.port, metricsPort: metricsServer?.port, services, repository, metrics, logger, loaded, shutdown };
}

/**
 * Reloads the repository when anything under it changes (fs.watch events, debounced so a copy of
 * a whole version folder triggers one reload). Watches the root and each model folder.
 */
function watchRepository(root: string, reload: () => Promise<void>, logger: Logger): { close(): void } {
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  const trigger = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      reload().then(rewatch, (err: unknown) => logger.error({ err: (err as Error).message }, 'reload failed'));
    }, 500);
  };
  const watchDir = (dir: string): void => {
    if (watchers.has(dir)) return;
    try {
      watchers.set(dir, watch(dir, trigger));
    } catch {
      // The folder vanished between listing and watching: the next event on the root re-lists.
    }
  };
  const rewatch = (): void => {
    watchDir(root);
    for (const entry of readdirSync(root, { withFileTypes: true })) if (entry.isDirectory()) watchDir(join(root, entry.name));
  };
  rewatch();
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers.values()) w.close();
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Bytes the text of one request can take at its limits (labels and templates, each at its
 * longest, JSON-escaped at worst 6 bytes per character): transports size their body and message
 * limits for the largest image plus this, so a request within every documented limit is never
 * refused as too large.
 */
export function maxTextBytes(config: Pick<GatewayConfig, 'zeroShotMaxLabels' | 'zeroShotMaxLabelChars' | 'zeroShotMaxTemplates' | 'zeroShotMaxTemplateChars'>): number {
  return 6 * (config.zeroShotMaxLabels * (config.zeroShotMaxLabelChars + 4) + config.zeroShotMaxTemplates * (config.zeroShotMaxTemplateChars + 4));
}
