// Models checked against their declared kind on the real gateway: a detector-shaped graph
// declared as an image-classifier, wrong label counts and clip towers that do not fit are refused
// (UNAVAILABLE, a reason naming the tensor and its shape, no retry-after) while the rest of the
// zoo serves; a classifier with a fixed batch of 16 and clip towers with a fixed batch of 4 are
// served by padding partial batches, with answers equal to the unpadded ones.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, postImage, startTestGateway } from '../helpers/gateway.js';

type Json = Record<string, unknown>;

interface ModelMsg {
  name: string;
  state: string;
  reason: string;
  versions: { version: string; state: string; reason: string; batching: { max_batch_size: number } | null }[];
}

async function postJson(http: string, path: string, body: unknown): Promise<{ status: number; json: Json; headers: Headers }> {
  const res = await fetch(`${http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Json, headers: res.headers };
}

const clipPatch = (clip: Json): Json => ({
  clip: {
    imageEncoder: { file: 'image_encoder.onnx', input: 'pixel_values', output: 'image_embeds' },
    textEncoder: { file: 'text_encoder.onnx', input: 'input_ids', output: 'text_embeds' },
    tokenizer: 'tokenizer.json',
    contextLength: 77,
    padTokenId: 49407,
    logitScale: 100,
    embeddingSize: 16,
    templates: ['a photo of a {}.'],
    ...clip,
  },
});

describe('models checked against their kind', () => {
  let gw: TestGateway;
  let models: Record<string, ModelMsg>;
  before(async () => {
    const root = await makeRepository([
      { from: join(FIXTURE_MODELS, 'tiny-dynamic') },
      { from: join(FIXTURE_MODELS, 'detector-as-classifier') },
      { from: join(FIXTURE_MODELS, 'fixed-batch-16') },
      { from: join(FIXTURE_MODELS, 'conv-head') },
      { from: join(FIXTURE_MODELS, 'mnist-8'), as: 'three-labels', patch: { labels: ['a', 'b', 'c'] } },
      { from: join(FIXTURE_MODELS, 'tiny-clip') },
      { from: join(FIXTURE_MODELS, 'tiny-clip'), as: 'clip-batch4', patch: clipPatch({ imageEncoder: { file: 'image_encoder_batch4.onnx', input: 'pixel_values', output: 'image_embeds' }, textEncoder: { file: 'text_encoder_batch4.onnx', input: 'input_ids', output: 'text_embeds' } }) },
      { from: join(FIXTURE_MODELS, 'tiny-clip'), as: 'clip-wrong-size', patch: clipPatch({ embeddingSize: 32 }) },
      { from: join(FIXTURE_MODELS, 'tiny-clip'), as: 'clip-text-as-image', patch: clipPatch({ imageEncoder: { file: 'text_encoder.onnx', input: 'input_ids', output: 'text_embeds' } }) },
    ]);
    gw = await startTestGateway(root);
    models = Object.fromEntries(((await gw.client.listModels()).models as unknown as ModelMsg[]).map((m) => [m.name, m]));
  });
  after(() => gw.stop());

  it('refuses a detector declared as an image-classifier, naming its outputs and the tensor kind', async () => {
    const detector = models['detector-as-classifier']!;
    assert.equal(detector.state, 'UNAVAILABLE');
    assert.match(detector.reason, /the graph has 2 outputs \("scores" float32 \[batch, 16, 2\], "boxes" float32 \[batch, 16, 4\]\); an image-classifier has exactly one output \[N, C\]/);
    assert.match(detector.reason, /serve it as kind "tensor"/);

    const http = await postImage(gw.http, 'model=detector-as-classifier', await solidImage(32, 32));
    assert.equal(http.status, 503);
    const error = http.json['error'] as { code: string; message: string };
    assert.equal(error.code, 'MODEL_UNAVAILABLE');
    assert.match(error.message, /2 outputs/);
    assert.equal(http.headers.get('retry-after'), null, 'a model that does not fit its kind stays refused: no retry-after');

    await assert.rejects(gw.client.classify({ model: 'detector-as-classifier', image: await solidImage(32, 32) }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /2 outputs/);
      assert.deepEqual(err.metadata.get('retry-after'), []);
      return true;
    });

    const metadata = await fetch(`${gw.http}/v2/models/detector-as-classifier`);
    assert.equal(metadata.status, 503);
    assert.match(((await metadata.json()) as { error: string }).error, /kind "tensor"/);
  });

  it('refuses a classifier whose class count differs from its labels', () => {
    assert.equal(models['three-labels']!.state, 'UNAVAILABLE');
    assert.match(models['three-labels']!.reason, /graph output "Plus214_Output_0" has shape \[1, 10\]: 10 classes, but 3 labels were given/);
  });

  it('refuses clip towers that do not fit: wrong embedding size, a text tower as the image tower', () => {
    assert.equal(models['clip-wrong-size']!.state, 'UNAVAILABLE');
    assert.match(models['clip-wrong-size']!.reason, /image encoder output "image_embeds" has shape \[batch, 16\]; a clip image encoder outputs \[N, 32\]/);
    assert.equal(models['clip-text-as-image']!.state, 'UNAVAILABLE');
    assert.match(models['clip-text-as-image']!.reason, /image encoder input "input_ids" is int64; an image input must be float32/);
  });

  it('serves the rest of the zoo, a [N, C, 1, 1] head included', async () => {
    for (const name of ['tiny-dynamic', 'conv-head', 'fixed-batch-16', 'tiny-clip', 'clip-batch4']) assert.equal(models[name]!.state, 'READY', `${name}: ${models[name]!.reason}`);
    const reply = await gw.client.classify({ model: 'conv-head', image: await solidImage(40, 40), top_k: 4 });
    assert.deepEqual(reply.labels.map((l) => l.label).sort(), ['alpha', 'beta', 'delta', 'gamma']);
    assert.ok(Math.abs(reply.labels.reduce((s, l) => s + l.score, 0) - 1) < 1e-5);
  });

  it('serves a fixed batch of 16 by padding: batching capped at 16, answers equal alone and in a crowd', async () => {
    assert.equal(models['fixed-batch-16']!.versions[0]!.batching!.max_batch_size, 16, 'maxBatchSize 32 capped at the graph batch axis');
    const colours: [number, number, number][] = Array.from({ length: 24 }, (_, i) => [(i * 37) % 256, (i * 91) % 256, (i * 53) % 256]);
    const images = await Promise.all(colours.map((c) => solidImage(32, 32, 'png', c)));
    const alone = await gw.client.classify({ model: 'fixed-batch-16', image: images[5]!, top_k: 4 });
    assert.equal(alone.batch_size, 1);
    const crowd = await Promise.all(images.map((image) => gw.client.classify({ model: 'fixed-batch-16', image, top_k: 4 })));
    for (const reply of crowd) assert.ok(reply.batch_size >= 1 && reply.batch_size <= 16, `batch of ${reply.batch_size}`);
    const scores = (r: typeof alone): Record<string, number> => Object.fromEntries(r.labels.map((l) => [l.label, l.score]));
    const [a, b] = [scores(alone), scores(crowd[5]!)];
    for (const label of Object.keys(a)) assert.ok(Math.abs(a[label]! - b[label]!) < 1e-5, `${label}: ${a[label]} alone vs ${b[label]} in a batch`);

    // Raw tensors too: 3 rows in, 3 rows out (the 13 padding rows are dropped).
    const row = Array.from({ length: 3 * 32 * 32 }, (_, i) => ((i % 17) - 8) / 8);
    const v2 = await postJson(gw.http, '/v2/models/fixed-batch-16/infer', { inputs: [{ name: 'input', shape: [3, 3, 32, 32], datatype: 'FP32', data: [...row, ...row, ...row] }] });
    assert.equal(v2.status, 200, JSON.stringify(v2.json));
    const output = (v2.json['outputs'] as { shape: number[]; data: number[] }[])[0]!;
    assert.deepEqual(output.shape, [3, 4]);
  });

  it('serves clip towers with a fixed batch of 4 by padding, scoring like the dynamic ones', async () => {
    const image = (await solidImage(48, 40, 'png', [200, 30, 90])).toString('base64');
    const labels = ['cat', 'dog', 'red square', 'car', 'tree', 'boat'];
    const [padded, dynamic] = await Promise.all(['clip-batch4', 'tiny-clip'].map((model) => postJson(gw.http, '/v1/zero-shot', { model, image, labels, top_k: 6 })));
    assert.equal(padded!.status, 200, JSON.stringify(padded!.json));
    assert.equal(dynamic!.status, 200, JSON.stringify(dynamic!.json));
    const byLabel = (json: Json): Record<string, number> => Object.fromEntries((json['labels'] as { label: string; score: number }[]).map((l) => [l.label, l.score]));
    const [p, d] = [byLabel(padded!.json), byLabel(dynamic!.json)];
    for (const label of labels) assert.ok(Math.abs(p[label]! - d[label]!) < 1e-4, `${label}: ${p[label]} padded vs ${d[label]} dynamic`);
  });
});
