// Zero-shot classification and embeddings on the real gateway over a random-weight CLIP fixture
// (test/fixtures/models/tiny-clip): HTTP JSON and multipart, gRPC ZeroShotClassify and Embed,
// the prompt cache (hits, misses, size metrics), text encodes batched across requests, template
// ensembles checked against embeddings, multi-label, limits and errors, and a Hugging Face
// export folder served unchanged. Mechanics only: accuracy is tested on the trained MiniCLIP.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type ClipManifest, parseManifest } from '../../src/models/manifest.js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, REPO_ROOT, type TestGateway, grpcCode, makeRepository, metricValue, startTestGateway } from '../helpers/gateway.js';

const TINY_CLIP = join(FIXTURE_MODELS, 'tiny-clip');
const tinyClip = (JSON.parse(readFileSync(join(TINY_CLIP, 'model.json'), 'utf8')) as { clip: { textEncoder: Record<string, string> } & Record<string, unknown> }).clip;

interface ZeroShotJson {
  model: string;
  version: string;
  labels: { label: string; score: number }[];
  truncated?: string[];
  timing: Record<string, number>;
  cache: { hits: number; misses: number };
  error?: { code: string; message: string };
}

interface EmbedJson {
  dimensions: number;
  image_embedding?: number[];
  text_embeddings?: number[][];
  truncated?: number[];
  error?: { code: string; message: string };
}

async function postJson<T>(http: string, path: string, body: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as T };
}

async function postForm<T>(http: string, path: string, form: FormData): Promise<{ status: number; json: T }> {
  const res = await fetch(`${http}${path}`, { method: 'POST', body: form });
  return { status: res.status, json: (await res.json()) as T };
}

function grpcCall<T>(gw: TestGateway, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    gw.client.raw[method]!(request, new grpc.Metadata(), {}, (err: grpc.ServiceError | null, reply: T) => (err ? reject(err) : resolve(reply)));
  });
}

const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: readonly number[]): number => Math.sqrt(dot(a, a));

describe('zero-shot classification (tiny-clip fixture)', () => {
  let gw: TestGateway;
  let image: Buffer;
  let image64: string;

  before(async () => {
    gw = await startTestGateway(
      await makeRepository([
        // fixed: text encodes of concurrent requests wait 20 ms for each other whatever the load.
        { from: TINY_CLIP, as: 'clip', patch: { batching: { policy: 'fixed', maxBatchSize: 8, maxQueueDelayMs: 20 } } },
        { from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'tiny' },
        // A text tower with an attention_mask input, served with two different pad ids.
        { from: TINY_CLIP, as: 'masked-pad-eot', patch: { clip: { ...tinyClip, textEncoder: { ...tinyClip.textEncoder, file: 'text_encoder_masked.onnx' } } } },
        { from: TINY_CLIP, as: 'masked-pad-0', patch: { clip: { ...tinyClip, padTokenId: 0, textEncoder: { ...tinyClip.textEncoder, file: 'text_encoder_masked.onnx' } } } },
        { from: TINY_CLIP, as: 'unmasked-pad-0', patch: { clip: { ...tinyClip, padTokenId: 0 } } },
      ]),
      { zeroShotMaxLabels: 16 },
    );
    image = await solidImage(48, 40, 'png', [200, 30, 30]);
    image64 = image.toString('base64');
  });
  after(() => gw.stop());

  it('answers JSON requests with every label, sorted, softmax scores summing to 1', async () => {
    const { status, json } = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels: ['cat', 'dog', 'red square', 'car'] });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.model, 'clip');
    assert.equal(json.version, '1');
    assert.deepEqual(json.labels.map((l) => l.label).sort(), ['car', 'cat', 'dog', 'red square']);
    for (let i = 1; i < json.labels.length; i++) assert.ok(json.labels[i - 1]!.score >= json.labels[i]!.score);
    assert.ok(Math.abs(json.labels.reduce((s, l) => s + l.score, 0) - 1) < 1e-5);
    assert.equal(json.truncated, undefined);
    for (const k of ['preprocessMs', 'queueMs', 'inferenceMs', 'textMs', 'totalMs']) assert.equal(typeof json.timing[k], 'number', k);
  });

  it('answers multipart with comma-separated or repeated labels and top_k', async () => {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'x.png');
    form.append('labels', 'cat, dog,bird');
    form.append('top_k', '2');
    const a = await postForm<ZeroShotJson>(gw.http, '/v1/zero-shot?model=clip', form);
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.model, 'clip');
    assert.equal(a.json.labels.length, 2);

    const repeated = new FormData();
    repeated.append('image', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'x.png');
    for (const l of ['cat', 'dog', 'bird']) repeated.append('labels', l);
    repeated.append('model', 'clip');
    const b = await postForm<ZeroShotJson>(gw.http, '/v1/zero-shot', repeated);
    assert.equal(b.status, 200);
    assert.deepEqual(b.json.labels.slice(0, 2), a.json.labels);
  });

  it('caches prompt embeddings: a repeated label set is all hits, and the metrics say so', async () => {
    const labels = ['ship', 'plane', 'train'];
    const before = await gw.metrics();
    const first = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels });
    const second = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels: [...labels].reverse() });
    assert.deepEqual(first.json.cache, { hits: 0, misses: 3 });
    assert.deepEqual(second.json.cache, { hits: 3, misses: 0 });
    assert.equal(second.json.timing['textMs'], 0);
    const scores = new Map(first.json.labels.map((l) => [l.label, l.score]));
    for (const l of second.json.labels) assert.ok(Math.abs(l.score - scores.get(l.label)!) < 1e-6);
    const afterText = await gw.metrics();
    assert.equal(metricValue(afterText, 'gateway_prompt_cache_hits_total', { model: 'clip' }) - metricValue(before, 'gateway_prompt_cache_hits_total', { model: 'clip' }), 3);
    assert.equal(metricValue(afterText, 'gateway_prompt_cache_misses_total', { model: 'clip' }) - metricValue(before, 'gateway_prompt_cache_misses_total', { model: 'clip' }), 3);
    assert.ok(metricValue(afterText, 'gateway_prompt_cache_entries') >= 3);
    assert.ok(metricValue(afterText, 'gateway_prompt_cache_bytes') > 3 * 16 * 4);
  });

  it('batches text encodes of concurrent requests together', async () => {
    const before = await gw.metrics();
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels: [`thing ${i}`, `object ${i}`] })));
    assert.ok(replies.every((r) => r.status === 200));
    const after = await gw.metrics();
    const prompts = metricValue(after, 'gateway_text_batch_size_sum', { model: 'clip' }) - metricValue(before, 'gateway_text_batch_size_sum', { model: 'clip' });
    const batches = metricValue(after, 'gateway_text_batch_size_count', { model: 'clip' }) - metricValue(before, 'gateway_text_batch_size_count', { model: 'clip' });
    assert.equal(prompts, 16);
    assert.ok(prompts / batches > 2, `${prompts} prompts in ${batches} text batches`);
  });

  it('scores template ensembles as the mean of prompt embeddings, renormalized (checked against /v1/embed)', async () => {
    const labels = ['cat', 'dog'];
    const templates = ['a photo of a {}.', 'a drawing of a {}.', 'itap of a {}.'];
    const zs = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels, templates });
    assert.equal(zs.status, 200, JSON.stringify(zs.json));
    const img = await postJson<EmbedJson>(gw.http, '/v1/embed', { model: 'clip', image: image64 });
    const logits: number[] = [];
    for (const label of labels) {
      const txt = await postJson<EmbedJson>(gw.http, '/v1/embed', { model: 'clip', texts: templates.map((t) => t.replace('{}', label)) });
      const mean = txt.json.text_embeddings![0]!.map((_, d) => txt.json.text_embeddings!.reduce((s, e) => s + e[d]!, 0) / templates.length);
      const unit = mean.map((x) => x / norm(mean));
      logits.push(100 * dot(img.json.image_embedding!, unit));
    }
    const max = Math.max(...logits);
    const exps = logits.map((l) => Math.exp(l - max));
    const expected = exps.map((e) => e / exps.reduce((a, b) => a + b, 0));
    for (const [i, label] of labels.entries()) {
      const got = zs.json.labels.find((l) => l.label === label)!.score;
      assert.ok(Math.abs(got - expected[i]!) < 1e-4, `${label}: ${got} vs ${expected[i]}`);
    }
    // No template = the manifest's default template.
    const byDefault = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels });
    const explicit = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels, template: 'a photo of a {}.' });
    assert.deepEqual(byDefault.json.labels, explicit.json.labels);
    assert.notDeepEqual(byDefault.json.labels, zs.json.labels);
  });

  it('multi_label scores each label with a sigmoid of the scaled similarity', async () => {
    const labels = ['cat', 'dog', 'bird'];
    const { json } = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels, multi_label: true });
    const img = await postJson<EmbedJson>(gw.http, '/v1/embed', { model: 'clip', image: image64 });
    const txt = await postJson<EmbedJson>(gw.http, '/v1/embed', { model: 'clip', texts: labels.map((l) => `a photo of a ${l}.`) });
    for (const [i, label] of labels.entries()) {
      const expected = 1 / (1 + Math.exp(-100 * dot(img.json.image_embedding!, txt.json.text_embeddings![i]!)));
      assert.ok(Math.abs(json.labels.find((l) => l.label === label)!.score - expected) < 1e-4, label);
    }
  });

  it('embeds images and texts as unit vectors of the model dimension', async () => {
    const { status, json } = await postJson<EmbedJson>(gw.http, '/v1/embed', { model: 'clip', image: image64, texts: ['a cat', 'a dog'] });
    assert.equal(status, 200);
    assert.equal(json.dimensions, 16);
    assert.equal(json.image_embedding!.length, 16);
    assert.equal(json.text_embeddings!.length, 2);
    for (const v of [json.image_embedding!, ...json.text_embeddings!]) assert.ok(Math.abs(norm(v) - 1) < 1e-5);
    const form = new FormData();
    form.append('texts', 'a cat');
    form.append('model', 'clip');
    const m = await postForm<EmbedJson>(gw.http, '/v1/embed', form);
    assert.equal(m.status, 200, JSON.stringify(m.json));
    assert.deepEqual(m.json.text_embeddings![0], json.text_embeddings![0]);
  });

  it('answers duplicate labels once each, as first given, and says which prompts were truncated', async () => {
    const long = Array.from({ length: 120 }, () => 'very').join(' ') + ' long label';
    const { status, json } = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels: ['cat', 'dog', 'cat', ' Cat ', long] });
    assert.equal(status, 200, JSON.stringify(json));
    assert.deepEqual(json.labels.map((l) => l.label).sort(), [long, 'cat', 'dog'].sort());
    assert.deepEqual(json.truncated, [long]);
  });

  it('refuses bad requests with clear INVALID_ARGUMENT errors', async () => {
    const cases: [unknown, RegExp][] = [
      [{ model: 'clip', image: image64, labels: Array.from({ length: 17 }, (_, i) => `l${i}`) }, /too many labels: 17 given, the limit is 16/],
      [{ model: 'clip', image: image64, labels: [] }, /labels is required/],
      [{ model: 'clip', image: image64, labels: ['cat', '  '] }, /label 1 is empty/],
      [{ model: 'clip', image: image64, labels: ['x'.repeat(1001)] }, /label 0 is 1001 characters long; the limit is 1000/],
      [{ model: 'clip', image: image64, labels: ['cat'], templates: ['a photo'] }, /template 0 .* has no "\{\}"/],
      [{ model: 'clip', labels: ['cat'] }, /"image" is required/],
      [{ model: 'clip', image: image64, labels: ['cat'], colour: 'red' }, /unknown field "colour"/],
      [{ model: 'tiny', image: image64, labels: ['cat'] }, /image-classifier model; zero-shot classification .* need a clip model/],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', body);
      assert.equal(status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(json.error!.code, 'INVALID_ARGUMENT');
      assert.match(json.error!.message, message);
    }
    // Several clip models here: the model must be named (with exactly one, it is the default).
    const unnamed = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { image: image64, labels: ['cat'] });
    assert.equal(unnamed.status, 400);
    assert.match(unnamed.json.error!.message, /model is required/);
    const nope = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'nope', image: image64, labels: ['cat'] });
    assert.equal(nope.status, 404);
    await assert.rejects(gw.client.classify({ model: 'clip', image }), (err: unknown) => grpcCode(err) === grpc.status.INVALID_ARGUMENT);
  });

  it('feeds an attention mask (1 over real tokens, 0 over padding) to text towers that take one', async () => {
    const texts = ['a cat', 'a photo of a red star.', 'x'];
    const embed = async (model: string): Promise<number[][]> => {
      const { status, json } = await postJson<EmbedJson>(gw.http, '/v1/embed', { model, texts });
      assert.equal(status, 200, JSON.stringify(json));
      return json.text_embeddings!;
    };
    const [eot, zero, plainEot, plainZero] = await Promise.all([embed('masked-pad-eot'), embed('masked-pad-0'), embed('clip'), embed('unmasked-pad-0')]);
    // The masked tower pools over real tokens only: the pad id cannot matter when the mask is right.
    for (const [i, text] of texts.entries()) assert.ok(Math.max(...eot[i]!.map((x, d) => Math.abs(x - zero[i]![d]!))) < 1e-5, text);
    // Without a mask the pad id does change the embedding (the check above is not vacuous).
    assert.ok(Math.max(...plainEot[0]!.map((x, d) => Math.abs(x - plainZero[0]![d]!))) > 1e-3);
  });

  it('serves ZeroShotClassify and Embed over gRPC with the same answers', async () => {
    const labels = ['cat', 'dog', 'red square'];
    const reply = await grpcCall<{ model: string; labels: { label: string; score: number }[]; cache: { hits: number }; timing: { text_ms: number } }>(gw, 'ZeroShotClassify', { model: 'clip', image, labels, top_k: 0 });
    const http = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels });
    assert.equal(reply.model, 'clip');
    assert.deepEqual(reply.labels.map((l) => l.label), http.json.labels.map((l) => l.label));
    for (const [i, l] of reply.labels.entries()) assert.ok(Math.abs(l.score - http.json.labels[i]!.score) < 1e-6);
    const embed = await grpcCall<{ dimensions: number; image_embedding: { values: number[] }; text_embeddings: { values: number[] }[] }>(gw, 'Embed', { model: 'clip', image, texts: ['a cat'] });
    assert.equal(embed.dimensions, 16);
    assert.ok(Math.abs(norm(embed.image_embedding.values) - 1) < 1e-5);
    assert.equal(embed.text_embeddings.length, 1);
    await assert.rejects(grpcCall(gw, 'ZeroShotClassify', { model: 'clip', image, labels: Array.from({ length: 17 }, (_, i) => `l${i}`) }), (err: unknown) => grpcCode(err) === grpc.status.INVALID_ARGUMENT);
    await assert.rejects(grpcCall(gw, 'ZeroShotClassify', { model: 'tiny', image, labels: ['cat'] }), (err: unknown) => grpcCode(err) === grpc.status.INVALID_ARGUMENT);
    await assert.rejects(grpcCall(gw, 'Embed', { model: 'clip' }), (err: unknown) => grpcCode(err) === grpc.status.INVALID_ARGUMENT);
  });
});

/** The export turned into an HF folder: the trained MiniCLIP when it is in the checkout, else the tiny fixture. */
const MINICLIP = process.env['MINICLIP_DIR'] ?? join(REPO_ROOT, 'models', 'miniclip-shapes');
const HF_SOURCE = existsSync(join(MINICLIP, 'model.json')) ? MINICLIP : TINY_CLIP;

describe(`Hugging Face CLIP export layout (from ${HF_SOURCE.split('/').slice(-2).join('/')})`, () => {
  let gw: TestGateway;
  let image64: string;
  let source: ClipManifest;

  /** The source's graphs renamed as an Optimum export, with HF-style JSON written from its manifest. */
  async function writeHfExport(dir: string): Promise<void> {
    const clip = source.clip;
    const pp = source.preprocessing;
    await mkdir(join(dir, 'onnx'), { recursive: true });
    await copyFile(join(HF_SOURCE, '1', clip.imageEncoder.file), join(dir, 'onnx', 'vision_model.onnx'));
    await copyFile(join(HF_SOURCE, '1', clip.textEncoder.file), join(dir, 'onnx', 'text_model.onnx'));
    await copyFile(join(HF_SOURCE, '1', clip.tokenizer), join(dir, 'tokenizer.json'));
    await writeFile(join(dir, 'preprocessor_config.json'), JSON.stringify({
      crop_size: { height: pp.size[0], width: pp.size[1] }, do_center_crop: true, do_convert_rgb: true, do_normalize: true, do_rescale: true, do_resize: true,
      image_mean: pp.mean, image_std: pp.std, image_processor_type: 'CLIPImageProcessor',
      resample: { nearest: 0, bilinear: 2, bicubic: 3 }[pp.interpolation], rescale_factor: 1 / pp.scale,
      size: { shortest_edge: Math.round(Math.min(...pp.size) / pp.cropFraction) },
    }));
    await writeFile(join(dir, 'config.json'), JSON.stringify({
      architectures: ['CLIPModel'], model_type: 'clip', projection_dim: clip.embeddingSize, logit_scale_init_value: Math.log(clip.logitScale),
      text_config: { max_position_embeddings: clip.contextLength }, vision_config: { image_size: pp.size[0] },
    }));
  }

  before(async () => {
    const m = parseManifest(JSON.parse(await readFile(join(HF_SOURCE, 'model.json'), 'utf8')), basename(HF_SOURCE));
    if (m.kind !== 'clip') throw new Error('HF source must be a clip model');
    source = m;
    assert.equal(source.preprocessing.resizeMode, 'shorter', 'CLIPImageProcessor resizes the shorter side');
    assert.equal(source.clip.padTokenId, 49407, 'HF CLIP tokenizers pad with <|endoftext|>');
    const root = await makeRepository([{ from: HF_SOURCE, as: 'clip' }]);
    await writeHfExport(join(root, 'hf-flat'));
    await writeHfExport(join(root, 'hf-versioned', '1'));
    gw = await startTestGateway(root);
    image64 = (await solidImage(40, 56, 'png', [10, 200, 90])).toString('base64');
  });
  after(() => gw.stop());

  it('loads the export unchanged (flat or in a version folder) and scores as the same graphs under model.json do', async () => {
    const models = (await (await fetch(`${gw.http}/v1/models`)).json()) as { models: { name: string; kind: string; state: string; reason: string }[] };
    for (const name of ['hf-flat', 'hf-versioned']) {
      const m = models.models.find((x) => x.name === name)!;
      assert.equal(m.state, 'READY', m.reason);
      assert.equal(m.kind, 'clip');
    }
    const labels = ['cat', 'dog', 'green thing', 'red star', 'blue circle'];
    const reference = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model: 'clip', image: image64, labels });
    for (const model of ['hf-flat', 'hf-versioned']) {
      const { status, json } = await postJson<ZeroShotJson>(gw.http, '/v1/zero-shot', { model, image: image64, labels });
      assert.equal(status, 200, JSON.stringify(json));
      assert.equal(json.version, '1');
      assert.deepEqual(json.labels.map((l) => l.label), reference.json.labels.map((l) => l.label));
      for (const [i, l] of json.labels.entries()) assert.ok(Math.abs(l.score - reference.json.labels[i]!.score) < 1e-4, `${model} ${l.label}`);
    }
  });
});
