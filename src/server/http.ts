// HTTP transport (fastify): a thin adapter from REST routes to the domain calls in service.ts,
// plus health, readiness and Prometheus metrics. Body limits, content types and fastify's own
// errors are translated into the error catalog here.
import { randomUUID } from 'node:crypto';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { TlsMaterial } from '../config.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { trackConnections } from './http-close.js';
import { kserveRoutes } from './http-kserve.js';
import { registerLabelSetRoutes } from './http-labelsets.js';
import { type ClassifyFields, FORM_SCHEMAS, ROUTE_SCHEMAS, toInteger, toVersion } from './http-schemas.js';
import { AJV_OPTIONS, schemaErrorFormatter, validateFields } from './http-validation.js';
import { openAiRoutes } from './http-openai.js';
import { registerZeroShotRoutes } from './http-zeroshot.js';
import { registerOpenApi } from './openapi.js';
import { registerPlayground } from './playground.js';
import type { GatewayService } from './service.js';
import { httpTrace } from './trace-carrier.js';

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

export async function startHttpServer(service: GatewayService, metrics: Metrics, options: HttpOptions): Promise<HttpServerHandle> {
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

  // Raw image bodies: any image/* type or octet-stream arrives as one Buffer, bounded by bodyLimit.
  const rawImage = (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => done(null, body);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: options.maxImageBytes }, rawImage);
  app.addContentTypeParser(/^image\/.*/, { parseAs: 'buffer', bodyLimit: options.maxImageBytes }, rawImage);
  // JSON bodies carry base64 images (4/3 larger) plus a few fields.
  // A base64 image plus some framing; zero-shot JSON also carries labels and templates at their limits.
  const imageJsonLimit = Math.ceil((options.maxImageBytes * 4) / 3) + 64 * 1024;
  const jsonBodyLimit = imageJsonLimit + options.maxTextBytes;
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: jsonBodyLimit }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      // V8's message may quote the body; say only where it broke.
      const position = /position (\d+)/.exec((err as Error).message)?.[1];
      done(new GatewayError('INVALID_ARGUMENT', `request body is not valid JSON${position ? ` (at byte ${position})` : ''}`), undefined);
    }
  });
  // Labels arrive repeated (one field each) or comma-separated (one long field): room for both at their limits.
  const fields = options.maxTextFields + 16;
  await app.register(multipart, { limits: { fileSize: options.maxImageBytes, files: 1, fields, fieldSize: Math.max(64 * 1024, options.maxTextBytes), parts: fields + 1 } });

  app.addHook('onSend', async (_request, reply) => {
    if (service.draining) void reply.header('connection', 'close');
  });

  app.setErrorHandler((err, request, reply) => {
    const error = translateHttpError(err, options.maxImageBytes);
    // Errors raised before a request reached the service (validation, body limits) are logged here, once.
    service.logOnce(error, { protocol: 'http', requestId: request.id });
    return sendError(reply, error, request.id);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, new GatewayError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request.id));

  // Before any route: the document generator collects routes as they are added.
  if (options.apiDocs) {
    await registerOpenApi(app, { auth: service.auth, requireKey: options.apiDocsRequireKey, metricsRequireKey: options.metricsRequireKey, version: service.kserve.serverMetadata().version });
  }

  app.post('/v1/classify', { schema: ROUTE_SCHEMAS.classify }, async (request, reply) => {
    const startedProtocol = { protocol: 'http' as const, requestId: request.id };
    const query = request.query as Omit<ClassifyFields, 'image'>;
    const { image, fields } = await readImage(request, options.maxImageBytes);
    const merged = { ...query, ...fields };
    const signal = clientGone(reply);
    const response = await service.classify(
      { model: merged.model ?? '', version: toVersion(merged.version), image, topK: toInteger(merged.top_k) },
      { ...startedProtocol, timeoutMs: headerTimeout(request), signal, authorization: request.headers.authorization, trace: httpTrace(request) },
    );
    return {
      model: response.model,
      version: response.version,
      labels: response.labels,
      timing: response.timing,
      batch_size: response.batchSize,
      request_id: response.requestId,
    };
  });

  registerZeroShotRoutes(app, service, { maxImageBytes: options.maxImageBytes });
  registerLabelSetRoutes(app, service, { adminApi: options.adminApi, bodyLimit: options.labelSetBodyBytes });
  await app.register(openAiRoutes(service, { maxImageBytes: options.maxImageBytes }));
  // KServe v2 / Open Inference Protocol: JSON tensors are verbose, so they get the JSON body limit.
  await app.register(kserveRoutes(service, { bodyLimit: imageJsonLimit }), { prefix: '/v2' });

  app.get('/v1/models', async (request) => ({ models: service.listModels({ authorization: request.headers.authorization }) }));
  app.get('/v1/models/:name', async (request) => {
    const { name } = request.params as { name: string };
    const model = service.listModels({ authorization: request.headers.authorization }).find((m) => m.name === name);
    if (!model) throw new GatewayError('MODEL_NOT_FOUND', `model "${name.slice(0, 64)}" not found`);
    return model;
  });

  if (options.adminApi) {
    app.post('/v1/admin/reload', { schema: ROUTE_SCHEMAS.adminReload }, async (request) => ({ models: await service.reload({ authorization: request.headers.authorization }) }));
  }

  await registerPlayground(app);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = service.ready;
    const body = { ready, draining: service.draining, models: service.listModels().map((m) => ({ name: m.name, state: m.state })) };
    return reply.code(ready ? 200 : 503).send(body);
  });
  if (options.serveMetrics) {
    app.get('/metrics', async (request, reply) => {
      if (options.metricsRequireKey) service.auth.authenticate(request.headers.authorization);
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
 * The listener closes once no connection arrived for 100 ms (clients and load balancers stopped
 * sending), at most 2 s after close() began; then an open connection is closed after 500 ms with
 * no request in flight (a client sends its request at once after connecting; a keep-alive
 * connection quiet that long is a pooled idle one), and any left after 10 s are destroyed.
 */
const CLOSE = Object.freeze({ quietMs: 100, maxLingerMs: 2000, idleMs: 500, timeoutMs: 10_000 });

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

/** The image and form fields of a classify request, whatever its content type. */
async function readImage(request: FastifyRequest, maxImageBytes: number): Promise<{ image: Uint8Array; fields: Omit<ClassifyFields, 'image'> }> {
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    const fields: Record<string, string | string[]> = {};
    let image: Buffer | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'image') throw new GatewayError('INVALID_ARGUMENT', `unexpected file field "${part.fieldname.slice(0, 64)}"; send the image as "image"`);
          image = await part.toBuffer();
        } else if (typeof part.value === 'string') {
          fields[part.fieldname] = addValue(fields[part.fieldname], part.value);
        }
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (err instanceof GatewayError || code?.startsWith('FST_')) throw err;
      throw new GatewayError('INVALID_ARGUMENT', `malformed multipart body: ${(err as Error).message}`, { cause: err });
    }
    if (!image) throw new GatewayError('INVALID_ARGUMENT', 'multipart body has no "image" file field');
    validateFields(request, FORM_SCHEMAS.classify, fields);
    return { image, fields: fields };
  }
  if (type.startsWith('application/json')) {
    // The route schema checked every field's type already.
    const { image, ...fields } = request.body as ClassifyFields;
    return { image: decodeBase64(image, maxImageBytes), fields };
  }
  if (Buffer.isBuffer(request.body)) return { image: request.body, fields: {} };
  throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', `content type "${type || '(none)'}" is not accepted; send image/* bytes, multipart/form-data with an "image" file, or JSON`);
}

/** A form field's values: a string when given once, an array when repeated (so the schema can refuse repeats of single-valued fields). */
export function addValue(previous: string | string[] | undefined, value: string): string | string[] {
  return previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
}

/** Strict base64 (standard or URL-safe alphabet, optional data: URL prefix). */
export function decodeBase64(text: string, maxBytes: number): Buffer {
  const payload = text.startsWith('data:') ? text.slice(text.indexOf(',') + 1) : text;
  const clean = payload.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new GatewayError('INVALID_ARGUMENT', 'field "image" is not valid base64');
  }
  const bytes = Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
  if (bytes.length > maxBytes) throw new GatewayError('PAYLOAD_TOO_LARGE', `image is ${bytes.length} bytes; the limit is ${maxBytes} bytes`);
  return bytes;
}

export function headerTimeout(request: FastifyRequest): number | undefined {
  const raw = request.headers['x-request-timeout-ms'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new GatewayError('INVALID_ARGUMENT', `x-request-timeout-ms must be a positive number of milliseconds, got "${String(raw).slice(0, 32)}"`);
  return n;
}

/** Aborts when the client closes the connection before the answer was written. */
export function clientGone(reply: FastifyReply): AbortSignal {
  const abort = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) abort.abort();
  });
  return abort.signal;
}

function sendError(reply: FastifyReply, error: GatewayError, requestId: string): FastifyReply {
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.httpStatus).send({ error: { code: error.code, message: error.message, request_id: requestId } });
}

/** fastify and multipart errors -> catalog errors. */
export function translateHttpError(err: unknown, maxImageBytes: number): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return new GatewayError('PAYLOAD_TOO_LARGE', `request body too large: images are limited to ${maxImageBytes} bytes`, { cause: err });
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new GatewayError('PAYLOAD_TOO_LARGE', `${e.message ?? 'request body too large'}`, { cause: err });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('UNSUPPORTED_MEDIA_TYPE', `${e.message ?? 'unsupported content type'}; send image/* bytes, multipart/form-data with an "image" file, or JSON`, { cause: err });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new GatewayError('INVALID_ARGUMENT', e.message ?? 'malformed request', { cause: err });
  }
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) {
    return new GatewayError('INVALID_ARGUMENT', `malformed request: ${e.message ?? ''}`, { cause: err });
  }
  return toGatewayError(err);
}
