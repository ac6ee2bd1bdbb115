// HTTP transport (fastify): composes the server from the features' routes (http-classify.ts,
// http-models.ts, http-zeroshot.ts, http-labelsets.ts, and the OpenAI and KServe v2 plugins in
// http-openai.ts and http-kserve.ts), with the body parsers and limits from config (http-body.ts), the error
// handlers (catalog format, logged once), health, readiness, Prometheus metrics, the OpenAPI
// document and the playground, and owns its graceful close. Shared helpers live in
// http-common.ts; this file holds no feature route.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { TlsMaterial } from '../config.js';
import { GatewayError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { addClassifyRoutes } from './http-classify.js';
import { trackConnections } from './http-close.js';
import { bodyLimits, registerBodyParsers } from './http-body.js';
import { sendError, translateHttpError } from './http-common.js';
import { kserveRoutes } from './http-kserve.js';
import { addLabelSetRoutes } from './http-labelsets.js';
import { addModelRoutes } from './http-models.js';
import { openAiRoutes } from './http-openai.js';
import { AJV_OPTIONS, schemaErrorFormatter } from './http-validation.js';
import { addZeroShotRoutes } from './http-zeroshot.js';
import { registerOpenApi } from './openapi.js';
import { registerPlayground } from './playground.js';
import type { Services } from './services.js';

export interface HttpOptions {
  readonly host: string;
  readonly port: number;
  readonly maxImageBytes: number;
  /** Largest text a request may carry within its label and template limits (zero-shot), bytes; bodies are sized for an image and this much text. */
  readonly maxTextBytes: number;
  /** Most labels plus templates a zero-shot request may carry (multipart fields). */
  readonly maxTextFields: number;
  /** Whole-request time limit, ms (slow-loris bodies get 408). */
  readonly requestTimeoutMs: number;
  /** Serve /metrics here (false when it has its own port). */
  readonly serveMetrics: boolean;
  /** /metrics needs an API key (when keys are configured). */
  readonly metricsRequireKey: boolean;
  /** Serve POST /v1/admin/reload and PUT/DELETE /v1/label-sets/:name. */
  readonly adminApi: boolean;
  /** Largest body of PUT /v1/label-sets/:name, bytes. */
  readonly labelSetBodyBytes: number;
  /** Serve the OpenAPI document (/openapi.json) and Swagger UI (/docs). */
  readonly apiDocs: boolean;
  /** The docs need an API key (when keys are configured). */
  readonly apiDocsRequireKey: boolean;
  /** Serve HTTPS only (and require client certificates when a client CA is set). */
  readonly tls?: TlsMaterial | undefined;
}

export interface HttpServerHandle {
  readonly app: FastifyInstance;
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpServer(services: Services, metrics: Metrics, options: HttpOptions): Promise<HttpServerHandle> {
  const { scope } = services;
  const tls = options.tls;
  const app = Fastify({
    logger: false,
    ...(tls ? { https: { cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) } } : {}),
    bodyLimit: options.maxImageBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
    },
    requestTimeout: options.requestTimeoutMs,
    ajv: { customOptions: { ...AJV_OPTIONS } },
    schemaErrorFormatter,
    // Node only checks request timeouts every connectionsCheckingInterval (30 s by default):
    // check often enough that a slow-loris body is cut off close to the configured limit.
    http: {
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(options.requestTimeoutMs / 4))),
      headersTimeout: Math.min(options.requestTimeoutMs, 60_000),
    },
    // close() waits for open connections itself (http-close.ts): while draining every answer
    // carries Connection: close and the service answers SHUTTING_DOWN in the catalog's format.
    forceCloseConnections: false,
    return503OnClosing: false,
  });

  const limits = bodyLimits(options);
  await registerBodyParsers(app, limits);

  app.addHook('onSend', async (_request, reply) => {
    if (scope.draining) void reply.header('connection', 'close');
  });

  app.setErrorHandler((err, request, reply) => {
    const error = translateHttpError(err, request, limits);
    // Errors raised before a request reached the service (validation, body limits) are logged here, once.
    scope.logOnce(error, { protocol: 'http', requestId: request.id });
    return sendError(reply, error, request.id);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new GatewayError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request.id));

  // Before any route: the document generator collects routes as they are added.
  if (options.apiDocs) {
    await registerOpenApi(app, { auth: scope.auth, requireKey: options.apiDocsRequireKey, metricsRequireKey: options.metricsRequireKey, version: services.kserve.serverMetadata().version });
  }

  addClassifyRoutes(app, services.classify, limits);
  addZeroShotRoutes(app, services.zeroShot, limits);
  addLabelSetRoutes(app, services.labelSets, { adminApi: options.adminApi, bodyLimit: limits.labelSetBodyBytes });
  await app.register(openAiRoutes(services.zeroShot, (error, ctx) => scope.logOnce(error, ctx), limits));
  addModelRoutes(app, services.models, { adminApi: options.adminApi });
  await app.register(kserveRoutes(services.kserve, (error, ctx) => scope.logOnce(error, ctx), limits), { prefix: '/v2' });

  await registerPlayground(app);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = scope.ready;
    const body = { ready, draining: scope.draining, models: services.models.list().map((m) => ({ name: m.name, state: m.state })) };
    return reply.code(ready ? 200 : 503).send(body);
  });
  if (options.serveMetrics) {
    app.get('/metrics', async (request, reply) => {
      if (options.metricsRequireKey) scope.auth.authenticate(request.headers.authorization);
      return sendMetrics(metrics, reply);
    });
  }

  const closeConnections = trackConnections(app.server);
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const close = async (): Promise<void> => {
    await closeConnections(CLOSE);
    await app.close();
  };
  return { app, port, close };
}

/**
 * The listener closes once no connection arrived for 250 ms (clients and load balancers stopped
 * sending), at most 2 s after close() began; then an open connection is closed after 1 s with no
 * request in flight (a client sends its request at once after connecting; a keep-alive connection
 * quiet that long is a pooled idle one), and any left after 10 s are destroyed. The quiet spans
 * leave room for a client whose own process stalls between two connects, or between its connect
 * and its request, as a busy 2-core host does for 100 ms and more: either stall would otherwise
 * meet a closed listener or a destroyed socket, i.e. a reset.
 */
const CLOSE = Object.freeze({ quietMs: 250, maxLingerMs: 2000, idleMs: 1000, timeoutMs: 10_000 });

async function sendMetrics(metrics: Metrics, reply: FastifyReply): Promise<FastifyReply> {
  const text = await metrics.registry.metrics();
  return reply.header('content-type', metrics.registry.contentType).send(text);
}

/** A listener serving only /metrics (for a port that only Prometheus can reach). */
export async function startMetricsServer(metrics: Metrics, options: { host: string; port: number }): Promise<HttpServerHandle> {
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.get('/metrics', async (_request, reply) => sendMetrics(metrics, reply));
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { app, port, close: () => app.close() };
}
