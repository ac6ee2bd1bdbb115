// The OpenAPI document of a real gateway: valid OpenAPI 3.1 (an independent validator), every
// route fastify registered is in it (an onRoute hook on every fastify instance, through fastify's
// diagnostics channel), a real answer of each route validates against the schema the document
// declares for it (Ajv, JSON Schema 2020-12), and the docs follow the API-key and on/off settings.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { hashApiKey } from '../../src/server/auth.js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, startTestGateway } from '../helpers/gateway.js';

type Json = Record<string, unknown>;
interface Operation {
  summary?: string;
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>;
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>>; components?: { securitySchemes?: Json } };

/** One real request per documented operation, keyed "METHOD /path/{param}" as the document writes it. */
type Sample = (http: string) => Promise<Response>;

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function samples(png: Buffer): Record<string, Sample> {
  const b64 = png.toString('base64');
  const v2Body = { id: 'sample', inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: [b64] }] };
  return {
    'POST /v1/classify': (h) => fetch(`${h}/v1/classify?model=tiny-dynamic&top_k=2`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(png) }),
    'POST /v1/zero-shot': (h) => fetch(`${h}/v1/zero-shot`, json({ model: 'tiny-clip', image: b64, labels: ['a red square', 'a blue circle'] })),
    'POST /v1/embed': (h) => fetch(`${h}/v1/embed`, json({ model: 'tiny-clip', image: b64, texts: ['a red square'] })),
    'POST /v1/embeddings': (h) => fetch(`${h}/v1/embeddings`, json({ model: 'tiny-clip', input: ['a red square', 'a blue circle'] })),
    'GET /v1/models': (h) => fetch(`${h}/v1/models`),
    'GET /v1/models/{name}': (h) => fetch(`${h}/v1/models/tiny-clip`),
    'POST /v1/admin/reload': (h) => fetch(`${h}/v1/admin/reload`, json({})),
    'PUT /v1/label-sets/{name}': (h) => fetch(`${h}/v1/label-sets/sample?model=tiny-clip`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'a red square\na blue circle\n' }),
    'GET /v1/label-sets': (h) => fetch(`${h}/v1/label-sets`),
    'GET /v1/label-sets/{name}': (h) => fetch(`${h}/v1/label-sets/sample?model=tiny-clip`),
    'DELETE /v1/label-sets/{name}': (h) => fetch(`${h}/v1/label-sets/sample?model=tiny-clip`, { method: 'DELETE' }),
    'GET /healthz': (h) => fetch(`${h}/healthz`),
    'GET /readyz': (h) => fetch(`${h}/readyz`),
    'GET /metrics': (h) => fetch(`${h}/metrics`),
    'GET /openapi.json': (h) => fetch(`${h}/openapi.json`),
    'GET /v2/': (h) => fetch(`${h}/v2`),
    'GET /v2/health/live': (h) => fetch(`${h}/v2/health/live`),
    'GET /v2/health/ready': (h) => fetch(`${h}/v2/health/ready`),
    'GET /v2/models/{name}': (h) => fetch(`${h}/v2/models/tiny-dynamic`),
    'GET /v2/models/{name}/versions/{version}': (h) => fetch(`${h}/v2/models/tiny-dynamic/versions/1`),
    'GET /v2/models/{name}/ready': (h) => fetch(`${h}/v2/models/tiny-dynamic/ready`),
    'GET /v2/models/{name}/versions/{version}/ready': (h) => fetch(`${h}/v2/models/tiny-dynamic/versions/1/ready`),
    'POST /v2/models/{name}/infer': (h) => fetch(`${h}/v2/models/tiny-dynamic/infer`, json(v2Body)),
    'POST /v2/models/{name}/versions/{version}/infer': (h) => fetch(`${h}/v2/models/tiny-dynamic/versions/1/infer`, json(v2Body)),
  };
}

/** "/v1/models/:name" -> "/v1/models/{name}", as OpenAPI writes a path. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** The declared schema of an answer, or a failure naming what is missing. */
function declaredSchema(doc: Document, key: string, status: number, contentType: string): Json {
  const [method, path] = key.split(' ') as [string, string];
  const operation = doc.paths[path]?.[method.toLowerCase()];
  assert.ok(operation, `${key} is not in the document`);
  const response = operation.responses[String(status)];
  assert.ok(response, `${key} answered ${status}, which the document does not declare (declared: ${Object.keys(operation.responses).join(', ')})`);
  const media = Object.entries(response.content ?? {}).find(([type]) => contentType.startsWith(type));
  assert.ok(media?.[1].schema, `${key} ${status}: no schema declared for ${contentType}`);
  return media[1].schema;
}

describe('OpenAPI document', () => {
  let gw: TestGateway;
  let doc: Document;
  let png: Buffer;
  const registered: { method: string; url: string }[] = [];
  const onInit = (message: unknown): void => {
    (message as { fastify: FastifyInstance }).fastify.addHook('onRoute', (route: RouteOptions) => {
      if ((route.schema)?.hide === true) return;
      for (const method of [route.method].flat()) registered.push({ method, url: route.url });
    });
  };

  before(async () => {
    subscribe('fastify.initialization', onInit);
    try {
      const dir = await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }, { from: join(FIXTURE_MODELS, 'tiny-clip') }]);
      gw = await startTestGateway(dir, { adminApi: true });
    } finally {
      unsubscribe('fastify.initialization', onInit);
    }
    png = await solidImage(64, 64);
    const res = await fetch(`${gw.http}/openapi.json`);
    assert.equal(res.status, 200);
    doc = (await res.json()) as Document;
  });
  after(() => gw.stop());

  it('is valid OpenAPI 3.1 by an independent validator', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    assert.ok(result.valid, JSON.stringify(result.errors, null, 1)?.slice(0, 2000));
    assert.equal(validator.version, '3.1');
  });

  it('has every route fastify registered (HEAD routes are GET\'s twins)', () => {
    const routes = registered.filter((r) => r.method !== 'HEAD');
    assert.ok(routes.length >= 15, `only ${routes.length} routes seen: the onRoute hook missed the server`);
    const missing = routes.filter((r) => !doc.paths[openApiPath(r.url)]?.[r.method.toLowerCase()] && !doc.paths[`${openApiPath(r.url)}/`]?.[r.method.toLowerCase()]);
    assert.deepEqual(missing, [], 'routes missing from /openapi.json');
  });

  it('describes every operation: a summary, a 2xx answer, and a sample below', () => {
    const sampled = samples(png);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const key = `${method.toUpperCase()} ${path}`;
        assert.ok(op.summary, `${key} has no summary: describe it in src/server/openapi-routes.ts`);
        assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${key} declares no 2xx answer: add it in src/server/openapi-routes.ts`);
        assert.ok(sampled[key], `${key} has no sample request in test/integration/openapi.test.ts: add one`);
      }
    }
  });

  it('declares the errors, with examples', () => {
    const classify = doc.paths['/v1/classify']!['post']!;
    for (const status of ['400', '404', '413', '415', '429', '503', '504']) assert.ok(classify.responses[status], `classify does not declare ${status}`);
    const error = classify.responses['400']!.content!['application/json']!;
    assert.deepEqual(Object.keys((error.schema!['properties'] as Json)['error'] as Json).includes('properties'), true);
    assert.ok((error as Json)['example'], 'the error body has no example');
    assert.ok((classify.responses['200']!.content!['application/json'] as Json)['example'], 'the classify answer has no example');
    assert.ok(doc.paths['/v2/models/{name}/infer']!['post']!.responses['404'], 'v2 infer does not declare 404');
  });

  it('a real answer of every route validates against its declared schema', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    for (const [key, send] of Object.entries(samples(png))) {
      const res = await send(gw.http);
      const type = res.headers.get('content-type') ?? '';
      const text = await res.text();
      assert.ok(res.status < 300, `${key} answered ${res.status}: ${text.slice(0, 300)}`);
      if (text === '') {
        const [method, path] = key.split(' ') as [string, string];
        assert.ok(doc.paths[path]?.[method.toLowerCase()]?.responses[String(res.status)], `${key}: ${res.status} is not declared`);
        continue;
      }
      const schema = declaredSchema(doc, key, res.status, type);
      const body: unknown = type.startsWith('application/json') ? JSON.parse(text) : text;
      const validate = ajv.compile(schema);
      assert.ok(validate(body), `${key}: the answer does not match its schema: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 300)}`);
    }
  });

  it('error answers validate against the declared error schemas (/v1 and /v2 shapes)', async () => {
    const ajv = new Ajv2020({ strict: false });
    const cases: [string, Sample, number][] = [
      ['GET /v1/models/{name}', (h) => fetch(`${h}/v1/models/nope`), 404],
      ['POST /v1/embeddings', (h) => fetch(`${h}/v1/embeddings`, json({ model: 'nope', input: 'x' })), 404],
      ['POST /v1/classify', (h) => fetch(`${h}/v1/classify?model=tiny-dynamic`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'not an image' }), 400],
      ['POST /v1/classify', (h) => fetch(`${h}/v1/classify?model=tiny-dynamic`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }), 415],
      ['POST /v2/models/{name}/infer', (h) => fetch(`${h}/v2/models/nope/infer`, json({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: ['x'] }] })), 404],
      ['GET /v1/label-sets/{name}', (h) => fetch(`${h}/v1/label-sets/nope?model=tiny-clip`), 404],
      ['PUT /v1/label-sets/{name}', (h) => fetch(`${h}/v1/label-sets/bad?model=tiny-clip`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'a red square\n\n' }), 400],
      ['DELETE /v1/label-sets/{name}', (h) => fetch(`${h}/v1/label-sets/nope?model=tiny-clip`, { method: 'DELETE' }), 404],
    ];
    for (const [key, send, status] of cases) {
      const res = await send(gw.http);
      assert.equal(res.status, status, key);
      const body: unknown = await res.json();
      const validate = ajv.compile(declaredSchema(doc, key, status, res.headers.get('content-type') ?? ''));
      assert.ok(validate(body), `${key} ${status}: ${ajv.errorsText(validate.errors)} ${JSON.stringify(body)}`);
    }
  });

  it('describes the label-set routes: both PUT bodies with examples, the name parameter, answers with examples', () => {
    type Op = Operation & { parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, { schema?: Json; example?: unknown }> } };
    const put = doc.paths['/v1/label-sets/{name}']!['put'] as Op;
    const ajv = new Ajv2020({ strict: false });
    for (const type of ['application/json', 'text/plain']) {
      const media = put.requestBody?.content[type];
      assert.ok(media?.schema, `PUT /v1/label-sets/{name} declares no ${type} body`);
      assert.ok(media.example !== undefined, `the ${type} body has no example`);
      assert.ok(ajv.validate(media.schema, media.example), `the ${type} example does not match its schema: ${ajv.errorsText()}`);
    }
    for (const [path, method] of [['/v1/label-sets/{name}', 'get'], ['/v1/label-sets/{name}', 'put'], ['/v1/label-sets/{name}', 'delete']] as const) {
      const op = doc.paths[path]![method] as Op;
      assert.deepEqual(op.parameters?.filter((p) => p.in === 'path').map((p) => p.name), ['name'], `${method} ${path}`);
      assert.ok(op.parameters?.some((p) => p.in === 'query' && p.name === 'model'), `${method} ${path} has no model query parameter`);
      assert.ok((op.responses['200']!.content!['application/json'] as Json)['example'], `${method} ${path}: no example answer`);
      assert.ok(op.responses['404'], `${method} ${path} does not declare 404`);
    }
    assert.ok((doc.paths['/v1/label-sets']!['get']!.responses['200']!.content!['application/json'] as Json)['example']);
    for (const status of ['400', '403', '413', '504']) assert.ok(put.responses[status], `PUT does not declare ${status}`);
  });

  it('serves Swagger UI at /docs from the package (no CDN)', async () => {
    const page = await fetch(`${gw.http}/docs`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /swagger-ui/i);
    assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)[a-z]/i, 'the page loads something from another host');
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /https:|upgrade-insecure-requests|validator/, 'the page may load only from this origin, over the scheme it was served with');
    const bundle = await fetch(`${gw.http}/docs/static/swagger-ui-bundle.js`);
    assert.equal(bundle.status, 200);
    assert.ok((await bundle.arrayBuffer()).byteLength > 100_000);
    const spec = (await (await fetch(`${gw.http}/docs/json`)).json()) as Document;
    assert.deepEqual(Object.keys(spec.paths).sort(), Object.keys(doc.paths).sort());
  });
});

describe('OpenAPI document: settings', () => {
  const KEY = 'docs-test-key';
  const repository = (): Promise<string> => makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]);

  it('with API keys on, /openapi.json and /docs need a key and the document declares bearer auth', async () => {
    const gw = await startTestGateway(await repository(), { apiKeys: [{ name: 'docs', sha256: hashApiKey(KEY), models: ['*'], requestsPerSecond: 0, burst: 10 }] });
    try {
      for (const path of ['/openapi.json', '/docs', '/docs/json']) {
        const res = await fetch(`${gw.http}${path}`);
        assert.equal(res.status, 401, path);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
      }
      const res = await fetch(`${gw.http}/openapi.json`, { headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(res.status, 200);
      const doc = (await res.json()) as Document & { security?: unknown };
      assert.deepEqual(doc.components?.securitySchemes?.['apiKey'], { type: 'http', scheme: 'bearer', description: 'an API key, sent as "authorization: Bearer <key>"' });
      assert.deepEqual(doc.security, [{ apiKey: [] }]);
      assert.deepEqual((doc.paths['/healthz']!['get'] as unknown as { security: unknown }).security, [], 'health needs no key');
      assert.equal((doc.paths['/v1/classify']!['post'] as unknown as { security?: unknown }).security, undefined, 'classify needs the key');
    } finally {
      await gw.stop();
    }
  });

  it('apiDocsRequireKey=false serves the docs without a key while keys are on', async () => {
    const gw = await startTestGateway(await repository(), { apiDocsRequireKey: false, apiKeys: [{ name: 'docs', sha256: hashApiKey(KEY), models: ['*'], requestsPerSecond: 0, burst: 10 }] });
    try {
      assert.equal((await fetch(`${gw.http}/openapi.json`)).status, 200);
      assert.equal((await fetch(`${gw.http}/docs`)).status, 200);
      assert.equal((await fetch(`${gw.http}/v1/models`)).status, 401, 'the API itself still needs the key');
    } finally {
      await gw.stop();
    }
  });

  it('apiDocs=false serves neither', async () => {
    const gw = await startTestGateway(await repository(), { apiDocs: false });
    try {
      for (const path of ['/openapi.json', '/docs', '/docs/json']) assert.equal((await fetch(`${gw.http}${path}`)).status, 404, path);
      assert.equal((await fetch(`${gw.http}/healthz`)).status, 200);
    } finally {
      await gw.stop();
    }
  });
});
