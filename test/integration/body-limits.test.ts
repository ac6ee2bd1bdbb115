// Body limits on every HTTP route that reads a body, against the real gateway: a body one byte
// over the limit of its route and content type gets the same 413 catalog answer (PAYLOAD_TOO_LARGE,
// "request body is larger than the limit of N bytes"), N being the limit derived from the
// configuration, in each route's own error shape (catalog, OpenAI, KServe v2).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { maxTextBytes } from '../../src/gateway.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, startTestGateway } from '../helpers/gateway.js';

const CONFIG = { maxImageBytes: 20_000, zeroShotMaxLabels: 8, zeroShotMaxLabelChars: 50, zeroShotMaxTemplates: 4, zeroShotMaxTemplateChars: 60, labelSetMaxLabels: 30, adminApi: true };
const IMAGE_JSON_BYTES = Math.ceil((CONFIG.maxImageBytes * 4) / 3) + 64 * 1024;
/** Each limit as the configuration documents it. */
const LIMITS = {
  raw: CONFIG.maxImageBytes,
  json: IMAGE_JSON_BYTES + maxTextBytes(CONFIG),
  v2: IMAGE_JSON_BYTES,
  labelSet: CONFIG.labelSetMaxLabels * (CONFIG.zeroShotMaxLabelChars * 4 + 8) + CONFIG.zeroShotMaxTemplates * (CONFIG.zeroShotMaxTemplateChars * 4 + 16) + 64 * 1024,
};
const MESSAGE = (limit: number): RegExp => new RegExp(`^request body is larger than the limit of ${limit} bytes$`);

describe('body limits', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'mnist-8') }]), CONFIG);
  });
  after(() => gw.stop());

  const post = async (path: string, contentType: string, bytes: number, method = 'POST'): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> => {
    // JSON bodies are a JSON string of the right length, so only their size is wrong.
    const body = contentType.startsWith('application/json') ? `"${'a'.repeat(bytes - 2)}"` : Buffer.alloc(bytes, 7);
    const res = await fetch(`${gw.http}${path}`, { method, headers: { 'content-type': contentType }, body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
  };
  const catalog = (json: Record<string, unknown>): { code: string; message: string } => json['error'] as { code: string; message: string };

  for (const [name, path, contentType, limit] of [
    ['/v1/classify, raw image bytes', '/v1/classify?model=mnist-8', 'image/png', LIMITS.raw],
    ['/v1/classify, JSON', '/v1/classify', 'application/json', LIMITS.json],
    ['/v1/zero-shot, JSON', '/v1/zero-shot', 'application/json', LIMITS.json],
    ['/v1/embed, JSON', '/v1/embed', 'application/json', LIMITS.json],
  ] as const) {
    it(`${name}: 413 naming the limit of ${limit} bytes, and a body at the limit is read`, async () => {
      const over = await post(path, contentType, limit + 1);
      assert.equal(over.status, 413);
      assert.equal(catalog(over.json).code, 'PAYLOAD_TOO_LARGE');
      assert.match(catalog(over.json).message, MESSAGE(limit));
      const at = await post(path, contentType, limit);
      assert.notEqual(at.status, 413, `a body of exactly ${limit} bytes was refused as too large`);
    });
  }

  it('PUT /v1/label-sets/:name (text and JSON): 413 naming the label-set limit', async () => {
    for (const contentType of ['text/plain', 'application/json']) {
      const over = await post('/v1/label-sets/big?model=mnist-8', contentType, LIMITS.labelSet + 1, 'PUT');
      assert.equal(over.status, 413, contentType);
      assert.equal(catalog(over.json).code, 'PAYLOAD_TOO_LARGE');
      assert.match(catalog(over.json).message, MESSAGE(LIMITS.labelSet));
    }
  });

  it('POST /v1/embeddings (OpenAI): 413 naming the JSON limit, in OpenAI error shape', async () => {
    const over = await post('/v1/embeddings', 'application/json', LIMITS.json + 1);
    assert.equal(over.status, 413);
    const error = over.json['error'] as { code: string; message: string; type: string };
    assert.equal(error.code, 'payload_too_large');
    assert.equal(error.type, 'invalid_request_error');
    assert.match(error.message, MESSAGE(LIMITS.json));
  });

  it('POST /v2/models/:name/infer (JSON and binary): 413 naming the v2 limit, in KServe error shape', async () => {
    for (const contentType of ['application/json', 'application/octet-stream']) {
      const over = await post('/v2/models/mnist-8/infer', contentType, LIMITS.v2 + 1);
      assert.equal(over.status, 413, contentType);
      assert.equal(over.headers.get('x-error-code'), 'PAYLOAD_TOO_LARGE');
      assert.match(over.json['error'] as string, MESSAGE(LIMITS.v2));
    }
  });

  it('a multipart image over the image limit: 413 naming it; a form field over the field limit: 413 naming it', async () => {
    const form = new FormData();
    form.set('model', 'mnist-8');
    form.set('image', new Blob([Buffer.alloc(LIMITS.raw + 1, 7)], { type: 'image/png' }), 'big.png');
    const res = await fetch(`${gw.http}/v1/classify`, { method: 'POST', body: form });
    assert.equal(res.status, 413);
    const error = catalog((await res.json()) as Record<string, unknown>);
    assert.equal(error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(error.message, new RegExp(`^multipart file "image" is larger than the limit of ${LIMITS.raw} bytes$`));

    const fieldBytes = Math.max(64 * 1024, maxTextBytes(CONFIG));
    const fields = new FormData();
    fields.set('model', 'mnist-8');
    fields.set('labels', 'a'.repeat(fieldBytes + 1));
    fields.set('image', new Blob([Buffer.alloc(100, 7)], { type: 'image/png' }), 'small.png');
    const long = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', body: fields });
    assert.equal(long.status, 413);
    const fieldError = catalog((await long.json()) as Record<string, unknown>);
    assert.equal(fieldError.code, 'PAYLOAD_TOO_LARGE');
    assert.match(fieldError.message, new RegExp(`^form field "labels" is larger than the limit of ${fieldBytes} bytes$`));
  });

  it('still serves after every refusal', async () => {
    assert.equal((await fetch(`${gw.http}/healthz`)).status, 200);
  });
});
