// The OpenAPI 3.1 document of the HTTP API at GET /openapi.json and Swagger UI at GET /docs
// (@fastify/swagger and @fastify/swagger-ui, assets served from the package: no CDN). The
// document is generated from the routes as fastify registers them, with their own request
// schemas, plus what openapi-routes.ts says of each (answers, errors, bodies read in handlers).
// Register before any route: @fastify/swagger collects routes as they are added.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Authenticator } from './auth.js';
import { ROUTE_DOCS, type RouteDoc } from './openapi-routes.js';

export interface OpenApiOptions {
  /** API keys: with keys on, the document declares bearer auth and the docs routes need a key unless `requireKey` is false. */
  readonly auth: Authenticator;
  /** /openapi.json and /docs need an API key (when keys are configured). */
  readonly requireKey: boolean;
  /** /metrics needs an API key (when keys are configured): said in the document. */
  readonly metricsRequireKey: boolean;
  /** The gateway's version, for info.version. */
  readonly version: string;
}

export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PREFIX = '/docs';

const SECURITY_SCHEME = 'apiKey';

/** Registers the document generator, GET /openapi.json and Swagger UI at /docs. */
export async function registerOpenApi(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  const keysOn = options.auth.enabled;
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'inference-gateway',
        version: options.version,
        description:
          'HTTP API of the inference gateway: image classification, zero-shot classification and embeddings with clip models, the model list, ' +
          'KServe v2 (Open Inference Protocol) and health. The same calls are served over gRPC (proto/gateway/v1/gateway.proto). ' +
          'Every /v1 error answers {"error": {"code", "message", "request_id"}} with the HTTP status of its code; /v2 errors answer {"error": message}.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      tags: [
        { name: 'classification' },
        { name: 'zero-shot', description: 'clip models' },
        { name: 'models' },
        { name: 'KServe v2', description: 'Open Inference Protocol' },
        { name: 'health' },
        { name: 'admin' },
        { name: 'docs' },
      ],
      ...(keysOn
        ? {
            components: { securitySchemes: { [SECURITY_SCHEME]: { type: 'http', scheme: 'bearer', description: 'an API key, sent as "authorization: Bearer <key>"' } } },
            security: [{ [SECURITY_SCHEME]: [] }],
          }
        : {}),
    },
    transform: ({ schema, url, route }) => {
      const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method);
      const doc = ROUTE_DOCS[`${method} ${url}`];
      return { schema: withDoc(schema, doc, isPublic(url, doc, options)), url };
    },
  });

  // The docs routes: their own scope, so the key check covers them and nothing else.
  await app.register(async (docs) => {
    if (keysOn && options.requireKey) {
      docs.addHook('onRequest', async (request) => {
        options.auth.authenticate(request.headers.authorization);
      });
    }
    docs.get(OPENAPI_PATH, async () => app.swagger());
    await docs.register(swaggerUi, { routePrefix: DOCS_PREFIX, uiConfig: { deepLinking: true, tryItOutEnabled: false }, staticCSP: true, transformStaticCSP: sameOriginCsp });
  });
}

/**
 * Swagger UI's CSP kept to this origin: no https: sources or the online validator, and no
 * upgrade-insecure-requests (which would send a plain-HTTP gateway's assets to https and break
 * the page); inline styles allowed, as Swagger UI sets some.
 */
export function sameOriginCsp(header: string): string {
  return header
    .replace(/ https:/g, '')
    .replace(/ validator\.swagger\.io/g, '')
    .replace(/ ?upgrade-insecure-requests;?/g, '')
    .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';");
}

function isPublic(url: string, doc: RouteDoc | undefined, options: OpenApiOptions): boolean {
  if (url === '/metrics') return !options.metricsRequireKey;
  if (url === OPENAPI_PATH) return !options.requireKey;
  return doc?.public === true;
}

/** The route's own schema with the document's additions: its request schemas win, bodies read in the handler are added. */
function withDoc(schema: FastifySchema | undefined, doc: RouteDoc | undefined, publicRoute: boolean): FastifySchema {
  const own = (schema ?? {}) as Record<string, unknown>;
  if (!doc) return own;
  const ownBody = own['body'] as { content?: Record<string, unknown> } | undefined;
  const content = { ...(doc.bodyContent ?? {}), ...(ownBody?.content ?? {}) };
  return {
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: [...doc.tags],
    ...(doc.params ? { params: doc.params } : {}),
    ...(doc.headers ? { headers: doc.headers } : {}),
    ...own,
    ...(Object.keys(content).length > 0 ? { body: { content } } : {}),
    response: doc.response,
    ...(publicRoute ? { security: [] } : {}),
  };
}
