// The playground page at GET /: static files (HTML, script, styles, sample images) served from
// src/server/static/ by @fastify/static, with no CDN, so it works offline. One route per file
// (no wildcard), so a GET of an unknown path still reaches each scope's not-found answer; the
// routes are hidden from the OpenAPI document (a page, not an API).
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** The page's folder: the same path from src/server/ and dist/server/. */
export const PLAYGROUND_ROOT = fileURLToPath(new URL('../../src/server/static/', import.meta.url));

/** Registers GET / (index.html) and each file under the page's folder. */
export async function registerPlayground(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, { root: PLAYGROUND_ROOT, prefix: '/', wildcard: false, index: 'index.html', schemaHide: true, cacheControl: true, maxAge: 0 });
}
