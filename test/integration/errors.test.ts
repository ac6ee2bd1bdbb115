// Every error of the catalog a client can trigger, over gRPC and HTTP, against the real gateway:
// status codes, messages that name the problem or the limit, and the server still serving after.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import sharp from 'sharp';
import { digitPng, solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, grpcCode, makeRepository, metricValue, postImage, startTestGateway } from '../helpers/gateway.js';

const MAX_IMAGE_BYTES = 300_000;
const MAX_IMAGE_PIXELS = 4_000_000;

describe('errors', () => {
  let gw: TestGateway;
  let seven: Buffer;
  before(async () => {
    const root = await makeRepository([
      { from: join(FIXTURE_MODELS, 'mnist-8') },
      // Manifest names an output the graph does not have.
      { from: join(FIXTURE_MODELS, 'mnist-8'), as: 'wrong-io', patch: { outputs: [{ name: 'probabilities' }] } },
      // Graph bytes are garbage.
      { from: join(FIXTURE_MODELS, 'mnist-8'), as: 'corrupt-graph' },
    ]);
    await writeFile(join(root, 'corrupt-graph', '1', 'model.onnx'), 'this is not an onnx graph');
    // Manifest is not even JSON.
    await mkdir(join(root, 'bad-json', '1'), { recursive: true });
    await writeFile(join(root, 'bad-json', 'model.json'), '{ "name": "bad-json", ');
    gw = await startTestGateway(root, { maxImageBytes: MAX_IMAGE_BYTES, maxImagePixels: MAX_IMAGE_PIXELS, maxTopK: 10 });
    seven = await digitPng(7);
  });
  after(() => gw.stop());

  it('lists broken models as UNAVAILABLE with their reason, and serves the rest', async () => {
    const { models } = await gw.client.listModels();
    const byName = Object.fromEntries(models.map((m) => [m['name'], m])) as Record<string, { state: string; reason: string }>;
    assert.equal(byName['mnist-8']!.state, 'READY');
    assert.equal(byName['wrong-io']!.state, 'UNAVAILABLE');
    assert.match(byName['wrong-io']!.reason, /outputs probabilities not in graph outputs \[Plus214_Output_0\]/);
    assert.equal(byName['corrupt-graph']!.state, 'UNAVAILABLE');
    assert.match(byName['corrupt-graph']!.reason, /cannot open .*model\.onnx/);
    assert.equal(byName['bad-json']!.state, 'UNAVAILABLE');
    assert.match(byName['bad-json']!.reason, /not valid JSON/);
    const res = await fetch(`${gw.http}/readyz`);
    assert.equal(res.status, 200, 'ready once every model finished loading or failed');
  });

  it('unavailable model -> UNAVAILABLE / 503 with the reason, and no retry-after (a failed load is permanent)', async () => {
    await assert.rejects(gw.client.classify({ model: 'wrong-io', image: seven }), (err) => grpcCode(err) === status.UNAVAILABLE && /probabilities/.test(String(err)));
    const { status: code, json, headers } = await postImage(gw.http, 'model=corrupt-graph', seven);
    assert.equal(code, 503);
    assert.equal((json['error'] as { code: string }).code, 'MODEL_UNAVAILABLE');
    assert.equal(headers.get('retry-after'), null);
  });

  it('unknown model -> NOT_FOUND / 404 listing the models', async () => {
    await assert.rejects(gw.client.classify({ model: 'resnet-9000', image: seven }), (err) => grpcCode(err) === status.NOT_FOUND && /model "resnet-9000" not found; available models: .*mnist-8/.test(String(err)));
    const { status: code, json } = await postImage(gw.http, 'model=resnet-9000', seven);
    assert.equal(code, 404);
    assert.equal((json['error'] as { code: string }).code, 'MODEL_NOT_FOUND');
  });

  it('unknown version -> NOT_FOUND / 404 listing the versions', async () => {
    await assert.rejects(gw.client.classify({ model: 'mnist-8', version: '7', image: seven }), (err) => grpcCode(err) === status.NOT_FOUND && /no version "7"; versions: 1/.test(String(err)));
    const { status: code } = await postImage(gw.http, 'model=mnist-8&version=7', seven);
    assert.equal(code, 404);
  });

  it('named version 1 is served', async () => {
    const reply = await gw.client.classify({ model: 'mnist-8', version: '1', image: seven });
    assert.equal(reply.labels[0]!.label, '7');
  });

  it('missing or malformed model name -> INVALID_ARGUMENT / 400', async () => {
    await assert.rejects(gw.client.classify({ model: '', image: seven }), (err) => grpcCode(err) === status.INVALID_ARGUMENT && /model is required/.test(String(err)));
    const { status: code, json } = await postImage(gw.http, `model=${encodeURIComponent('../../etc')}`, seven);
    assert.equal(code, 400);
    assert.match((json['error'] as { message: string }).message, /model name "..\/..\/etc" is invalid/);
  });

  it('bad image bytes -> INVALID_ARGUMENT / 400 naming the problem', async () => {
    await assert.rejects(gw.client.classify({ model: 'mnist-8', image: Buffer.from('definitely not an image') }), (err) => grpcCode(err) === status.INVALID_ARGUMENT && /not an image/.test(String(err)));
    const truncated = (await solidImage(64, 64, 'jpeg')).subarray(0, 200);
    const { status: code, json } = await postImage(gw.http, 'model=mnist-8', truncated, 'image/jpeg');
    assert.equal(code, 400);
    assert.equal((json['error'] as { code: string }).code, 'INVALID_IMAGE');
    const empty = await postImage(gw.http, 'model=mnist-8', Buffer.alloc(0), 'application/octet-stream');
    assert.equal(empty.status, 400);
  });

  it('too many bytes -> 413 on HTTP, RESOURCE_EXHAUSTED on gRPC, naming the limit', async () => {
    const big = Buffer.alloc(MAX_IMAGE_BYTES + 1000, 1);
    const { status: code, json } = await postImage(gw.http, 'model=mnist-8', big, 'image/png');
    assert.equal(code, 413);
    assert.equal((json['error'] as { code: string }).code, 'PAYLOAD_TOO_LARGE');
    await assert.rejects(gw.client.classify({ model: 'mnist-8', image: Buffer.alloc(MAX_IMAGE_BYTES + 100_000, 1) }), (err) => grpcCode(err) === status.RESOURCE_EXHAUSTED);
  });

  it('too many pixels (decompression bomb) -> 413 / INVALID_ARGUMENT naming the pixel limit', async () => {
    const bomb = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#000' } }).png({ compressionLevel: 9 }).toBuffer();
    assert.ok(bomb.length < MAX_IMAGE_BYTES, 'the bomb must be small when encoded');
    const { status: code, json } = await postImage(gw.http, 'model=mnist-8', bomb);
    assert.equal(code, 413);
    assert.match((json['error'] as { message: string }).message, /16000000 pixels; the limit is 4000000 pixels/);
    await assert.rejects(gw.client.classify({ model: 'mnist-8', image: bomb }), (err) => grpcCode(err) === status.INVALID_ARGUMENT && /pixel/.test(String(err)));
  });

  it('bad top_k -> INVALID_ARGUMENT / 400 naming the limit', async () => {
    await assert.rejects(gw.client.classify({ model: 'mnist-8', image: seven, top_k: 11 }), (err) => grpcCode(err) === status.INVALID_ARGUMENT && /top_k 11 exceeds the limit of 10/.test(String(err)));
    for (const k of ['-1', 'abc', '2.5']) {
      const { status: code } = await postImage(gw.http, `model=mnist-8&top_k=${k}`, seven);
      assert.equal(code, 400, `top_k=${k}`);
    }
  });

  it('unsupported content type -> 415; malformed JSON -> 400', async () => {
    const { status: code } = await postImage(gw.http, 'model=mnist-8', 'hello', 'text/plain');
    assert.equal(code, 415);
    const bad = await postImage(gw.http, '', '{"model": "mnist-8", "image": ', 'application/json');
    assert.equal(bad.status, 400);
    const notBase64 = await postImage(gw.http, '', JSON.stringify({ model: 'mnist-8', image: '%%%not base64%%%' }), 'application/json');
    assert.equal(notBase64.status, 400);
    assert.match((notBase64.json['error'] as { message: string }).message, /not valid base64/);
  });

  it('JSON and multipart bodies work beside raw bytes', async () => {
    const viaJson = await postImage(gw.http, '', JSON.stringify({ model: 'mnist-8', image: seven.toString('base64'), top_k: 2 }), 'application/json');
    assert.equal(viaJson.status, 200);
    assert.equal((viaJson.json['labels'] as { label: string }[]).length, 2);
    const form = new FormData();
    form.set('model', 'mnist-8');
    form.set('top_k', '1');
    form.set('image', new Blob([new Uint8Array(seven)], { type: 'image/png' }), 'seven.png');
    const res = await fetch(`${gw.http}/v1/classify`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    const json = (await res.json()) as { labels: { label: string }[] };
    assert.equal(json.labels[0]!.label, '7');
  });

  it('serves the playground page at / and its script', async () => {
    const res = await fetch(`${gw.http}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /<script type="module" src="app.js">/);
    const script = await fetch(`${gw.http}/app.js`);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
  });

  it('never echoes the request body in an error', async () => {
    for (const body of ['hunter2 is my password', '{"model": "mnist-8", "image": "hunter2']) {
      const res = await postImage(gw.http, '', body, 'application/json');
      assert.equal(res.status, 400);
      assert.ok(!JSON.stringify(res.json).includes('hunter2'), JSON.stringify(res.json));
    }
  });

  it('unknown route -> 404 JSON', async () => {
    const res = await fetch(`${gw.http}/v2/nothing`);
    assert.equal(res.status, 404);
  });

  it('counts failures by outcome (error code) and still serves afterwards', async () => {
    const text = await gw.metrics();
    assert.ok(metricValue(text, 'gateway_requests_total', { outcome: 'INVALID_IMAGE' }) >= 3);
    assert.ok(metricValue(text, 'gateway_requests_total', { outcome: 'MODEL_NOT_FOUND', model: '__unknown__' }) >= 2);
    assert.ok(!/^gateway_request_failures_total/m.test(text), 'the failures-by-reason duplicate of gateway_requests_total is gone');
    const reply = await gw.client.classify({ model: 'mnist-8', image: seven });
    assert.equal(reply.labels[0]!.label, '7');
  });
});
