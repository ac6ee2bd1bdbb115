// Zero-shot reranking with the shipped MiniCLIP's cross-modal reranker (models/miniclip-shapes,
// clip.reranker; made by `python3 -m training rerank`): onnxruntime-node on PyTorch's exact inputs
// and our tokenizer's ids reproduces PyTorch's logits (golden/rerank, written by the exporter)
// within 1e-4; through the real gateway over HTTP and gRPC, reranked answers carry those logits
// (within 1e-4 for images at the model's input size, within the preprocessing bound for resized
// ones) and are ordered by them; the candidates are exactly the cosine top-k with their cosine
// scores kept; the manifest default applies when a request says nothing; limits and models
// without a reranker are refused with INVALID_ARGUMENT naming the field; concurrent requests share
// one reranker run; a label set is reranked like ad-hoc labels.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { type ClipManifest, parseManifest } from '../../src/models/manifest.js';
import { ModelSession } from '../../src/models/session.js';
import { ClipTokenizer } from '../../src/models/tokenizer.js';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, metricValue, startTestGateway } from '../helpers/gateway.js';

const MODEL_DIR = join(ZOO_MODELS, 'miniclip-shapes');
const GOLDEN = join(MODEL_DIR, '1', 'golden', 'rerank');
const LOGIT_MAX_ABS = 1e-4;
/**
 * Resized images: PyTorch resizes with PIL, the gateway with libvips, about one 8-bit level apart
 * (test/integration/parity.test.ts); through the reranker that moved logits by at most 2e-3 on the
 * shipped goldens. The bound leaves 10x headroom.
 */
const RESIZED_LOGIT_MAX_ABS = 0.02;

interface RerankGolden {
  labels: string[];
  template: string;
  inputIds: number[][];
  items: { image: string; input: string; inputShape: number[]; logits: string; logitsShape: number[] }[];
}

interface HttpLabel {
  label: string;
  score: number;
  cosine_score?: number;
  rerank_logit?: number;
}

interface HttpAnswer {
  labels: HttpLabel[];
  reranked?: boolean;
  rerank?: { top_k: number; batch_size: number; queue_ms: number; inference_ms: number };
  error?: { code: string; message: string };
}

interface GrpcAnswer {
  labels: { label: string; score: number; cosine_score: number; rerank_logit: number }[];
  reranked: boolean;
  rerank: { top_k: number; batch_size: number } | null;
}

function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

const golden = JSON.parse(readFileSync(join(GOLDEN, 'index.json'), 'utf8')) as RerankGolden;
const manifest = JSON.parse(readFileSync(join(MODEL_DIR, 'model.json'), 'utf8')) as { clip: Record<string, unknown> & { reranker: { maxTopK: number; template: string } } };
const images = golden.items.map((item) => ({ png: readFileSync(join(GOLDEN, item.image)), logits: readF32(join(GOLDEN, item.logits)), tolerance: LOGIT_MAX_ABS }));

/** The shipped manifest as the gateway reads it. */
function servedManifest(): ClipManifest {
  const m = parseManifest(manifest, 'miniclip-shapes');
  if (m.kind !== 'clip') throw new Error(`miniclip-shapes is a ${m.kind} model`);
  return m;
}

/** PyTorch's logit of `label` for golden image `i`. */
function goldenLogit(i: number, label: string): number {
  const j = golden.labels.indexOf(label);
  assert.ok(j >= 0, `${label} is not a golden label`);
  return images[i]!.logits[j]!;
}

/** Checks a reranked answer against the golden logits (within the image's tolerance), its order by logit, and its softmax over the candidates. */
function assertReranked(i: number, labels: readonly { label: string; score: number; rerank_logit?: number }[], k: number, where: string): void {
  assert.equal(labels.length, k, `${where}: ${k} reranked labels`);
  const tolerance = images[i]!.tolerance;
  const got = labels.map((l) => l.rerank_logit!);
  labels.forEach((l, j) => assert.ok(Math.abs(got[j]! - goldenLogit(i, l.label)) <= tolerance, `${where}: ${l.label} logit ${got[j]} vs PyTorch ${goldenLogit(i, l.label)} (bound ${tolerance})`));
  for (let j = 1; j < got.length; j++) assert.ok(got[j - 1]! >= got[j]!, `${where}: not in reranker order`);
  const max = Math.max(...got);
  const sum = got.reduce((a, v) => a + Math.exp(v - max), 0);
  labels.forEach((l, j) => assert.ok(Math.abs(l.score - Math.exp(got[j]! - max) / sum) <= 1e-5, `${where}: ${l.label} score`));
}

describe('zero-shot reranking (models/miniclip-shapes reranker)', () => {
  let gw: TestGateway;
  const post = async (body: Record<string, unknown>): Promise<{ status: number; json: HttpAnswer }> => {
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as HttpAnswer };
  };
  const grpcZeroShot = (request: Record<string, unknown>): Promise<GrpcAnswer> =>
    new Promise((resolve, reject) => {
      gw.client.raw['ZeroShotClassify']!(request, (err: grpc.ServiceError | null, reply: GrpcAnswer) => (err ? reject(err) : resolve(reply)));
    });
  const { reranker, ...clipWithout } = manifest.clip;

  before(async () => {
    const [h, w] = servedManifest().preprocessing.size;
    for (const img of images) {
      const meta = await sharp(img.png).metadata();
      if (meta.width !== w || meta.height !== h) img.tolerance = RESIZED_LOGIT_MAX_ABS;
    }
    assert.ok(images.some((img) => img.tolerance === LOGIT_MAX_ABS), 'at least one golden image at the input size (exact comparison)');
    const repo = await makeRepository([
      // the shipped manifest, but batches of the reranker wait for companions (fixed delay), so concurrent requests share a run
      { from: MODEL_DIR, patch: { batching: { policy: 'fixed', maxQueueDelayMs: 200 } } },
      { from: MODEL_DIR, as: 'miniclip-plain', patch: { clip: clipWithout } },
      { from: MODEL_DIR, as: 'miniclip-default', patch: { clip: { ...manifest.clip, reranker: { ...reranker, rerank: { enabled: true, topK: 3 } } } } },
    ]);
    await mkdir(join(repo, 'miniclip-shapes', 'labelsets'), { recursive: true });
    await writeFile(join(repo, 'miniclip-shapes', 'labelsets', 'golden.txt'), golden.labels.join('\n') + '\n');
    gw = await startTestGateway(repo);
  });
  after(() => gw?.stop());

  it("the graph: our tokenizer gives the golden ids, and onnxruntime-node on PyTorch's exact inputs reproduces its logits (<= 1e-4)", async () => {
    const settings = servedManifest().clip.reranker;
    assert.ok(settings);
    const tokenizer = await ClipTokenizer.load(join(MODEL_DIR, '1', 'tokenizer.json'), { contextLength: settings.contextLength, padTokenId: settings.padTokenId });
    assert.deepEqual(golden.labels.map((l) => tokenizer.encode(settings.template.split('{}').join(l)).ids), golden.inputIds);
    const session = await ModelSession.open(join(MODEL_DIR, '1', settings.file), { provider: 'cpu', intraOpThreads: 1 });
    try {
      for (const [i, item] of golden.items.entries()) {
        // A fresh array per run: the session hands its input buffers to its worker thread.
        const ids = BigInt64Array.from(golden.inputIds.flat().map((id) => BigInt(id)));
        const out = await session.run({ [settings.imageInput]: { data: readF32(join(GOLDEN, item.input)), dims: item.inputShape }, [settings.textInput]: { data: ids, dims: [golden.labels.length, settings.contextLength] } }, [settings.output]);
        const got = out[settings.output]!.data;
        got.forEach((v, j) => assert.ok(Math.abs(v - images[i]!.logits[j]!) <= LOGIT_MAX_ABS, `${item.image} x ${golden.labels[j]}: ${v} vs PyTorch ${images[i]!.logits[j]}`));
      }
    } finally {
      await session.release();
    }
  });

  it('HTTP: every label reranked carries PyTorch\'s logit (<= 1e-4 at the input size), in reranker order, scored by a softmax over the candidates', async () => {
    for (const [i, img] of images.entries()) {
      const { status, json } = await post({ model: 'miniclip-shapes', image: img.png.toString('base64'), labels: golden.labels, template: golden.template, rerank: true, rerank_top_k: golden.labels.length });
      assert.equal(status, 200, JSON.stringify(json));
      assert.equal(json.reranked, true);
      assert.equal(json.rerank?.top_k, golden.labels.length);
      assertReranked(i, json.labels, golden.labels.length, `image ${i}`);
    }
  });

  it('gRPC: the same answers', async () => {
    for (const [i, img] of images.entries()) {
      const reply = await grpcZeroShot({ model: 'miniclip-shapes', image: img.png, labels: golden.labels, templates: [golden.template], rerank: true, rerank_top_k: golden.labels.length });
      assert.equal(reply.reranked, true);
      assert.equal(reply.rerank?.top_k, golden.labels.length);
      assertReranked(i, reply.labels, golden.labels.length, `gRPC image ${i}`);
    }
  });

  it('reranks exactly the cosine top-k, keeping their cosine scores; top_k then cuts the reranked list', async () => {
    for (const [i, img] of images.entries()) {
      const cosine = await post({ model: 'miniclip-shapes', image: img.png.toString('base64'), labels: golden.labels, template: golden.template });
      assert.equal(cosine.status, 200);
      assert.equal(cosine.json.reranked, undefined, 'a request that says nothing is not reranked (the shipped default is off)');
      const { json } = await post({ model: 'miniclip-shapes', image: img.png.toString('base64'), labels: golden.labels, template: golden.template, rerank: 'true', rerank_top_k: '3' });
      assert.deepEqual(new Set(json.labels.map((l) => l.label)), new Set(cosine.json.labels.slice(0, 3).map((l) => l.label)));
      for (const l of json.labels) assert.ok(Math.abs(l.cosine_score! - cosine.json.labels.find((c) => c.label === l.label)!.score) < 1e-6);
      assertReranked(i, json.labels, 3, `top-3 of image ${i}`);
      const cut = await post({ model: 'miniclip-shapes', image: img.png.toString('base64'), labels: golden.labels, template: golden.template, rerank: true, rerank_top_k: 3, top_k: 1 });
      assert.deepEqual(cut.json.labels.map((l) => l.label), [json.labels[0]!.label]);
    }
  });

  it('a registered label set is reranked like the same labels given ad hoc', async () => {
    const img = images[0]!;
    const adHoc = await post({ model: 'miniclip-shapes', image: img.png.toString('base64'), labels: golden.labels, rerank: true, rerank_top_k: 4 });
    const set = await post({ model: 'miniclip-shapes', image: img.png.toString('base64'), label_set: 'golden', rerank: true, rerank_top_k: 4, top_k: 4 });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    assert.deepEqual(set.json.labels.map((l) => l.label), adHoc.json.labels.map((l) => l.label));
    assertReranked(0, set.json.labels, 4, 'label set');
  });

  it('concurrent requests ride one reranker run, each answered with its own candidates', async () => {
    const asks = images.flatMap((img, i) => [3, 5].map((k) => ({ i, k, png: img.png })));
    const answers = await Promise.all(asks.map((a) => post({ model: 'miniclip-shapes', image: a.png.toString('base64'), labels: golden.labels, rerank: true, rerank_top_k: a.k })));
    answers.forEach((a, n) => {
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assertReranked(asks[n]!.i, a.json.labels, asks[n]!.k, `concurrent request ${n}`);
    });
    assert.ok(Math.max(...answers.map((a) => a.json.rerank!.batch_size)) >= 2, `batch sizes ${answers.map((a) => a.json.rerank!.batch_size).join(', ')}`);
    const metrics = await gw.metrics();
    assert.ok(metricValue(metrics, 'gateway_rerank_batch_size_count', { model: 'miniclip-shapes' }) >= 1);
    assert.ok(metricValue(metrics, 'gateway_rerank_batch_size_sum', { model: 'miniclip-shapes' }) >= answers.length);
  });

  it('the manifest default applies when the request says nothing (HTTP and gRPC), and rerank: false turns it off', async () => {
    const img = images[1]!;
    const body = { model: 'miniclip-default', image: img.png.toString('base64'), labels: golden.labels };
    const dflt = await post(body);
    assert.equal(dflt.json.reranked, true);
    assert.equal(dflt.json.rerank?.top_k, 3);
    assertReranked(1, dflt.json.labels, 3, 'default');
    const off = await post({ ...body, rerank: false });
    assert.equal(off.json.reranked, undefined);
    assert.equal(off.json.labels.length, golden.labels.length);
    const grpcDefault = await grpcZeroShot({ model: 'miniclip-default', image: img.png, labels: golden.labels });
    assert.equal(grpcDefault.reranked, true);
    assert.equal(grpcDefault.labels.length, 3);
    const grpcOff = await grpcZeroShot({ model: 'miniclip-default', image: img.png, labels: golden.labels, rerank: false });
    assert.equal(grpcOff.reranked, false);
    assert.equal(grpcOff.rerank, null);
    assert.equal(grpcOff.labels.length, golden.labels.length);
    const multi = await post({ ...body, multi_label: true });
    assert.equal(multi.json.reranked, undefined, 'the default never reranks multi-label requests');
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['rerank_top_k above the manifest limit', { model: 'miniclip-shapes', rerank: true, rerank_top_k: manifest.clip.reranker.maxTopK + 1 }, new RegExp(`rerank_top_k ${manifest.clip.reranker.maxTopK + 1} exceeds the limit .*at most ${manifest.clip.reranker.maxTopK} candidates`)],
    ['rerank on a model without a reranker', { model: 'miniclip-plain', rerank: true }, /model "miniclip-plain" version 1 has no reranker/],
    ['rerank with multi_label', { model: 'miniclip-shapes', rerank: true, multi_label: true }, /rerank and multi_label cannot be combined/],
    ['rerank_top_k without rerank', { model: 'miniclip-shapes', rerank_top_k: 2 }, /rerank_top_k is only used when reranking/],
  ];
  for (const [name, fields, message] of refused) {
    it(`refuses ${name}: HTTP 400 and gRPC INVALID_ARGUMENT, the gateway keeps serving`, async () => {
      const img = images[0]!;
      const { status, json } = await post({ image: img.png.toString('base64'), labels: golden.labels, ...fields });
      assert.equal(status, 400, JSON.stringify(json));
      assert.match(json.error!.message, message);
      await assert.rejects(grpcZeroShot({ image: img.png, labels: golden.labels, ...fields }), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && message.test(err.details));
      const ok = await post({ model: 'miniclip-plain', image: img.png.toString('base64'), labels: golden.labels });
      assert.equal(ok.status, 200);
    });
  }

  it('refuses rerank_top_k 0 over HTTP by the schema (a positive integer)', async () => {
    const { status, json } = await post({ model: 'miniclip-shapes', image: images[0]!.png.toString('base64'), labels: golden.labels, rerank: true, rerank_top_k: 0 });
    assert.equal(status, 400);
    assert.match(JSON.stringify(json), /rerank_top_k/);
  });
});

describe('a reranker graph that does not fit the contract', () => {
  it('marks the model unavailable with the reason, and the rest of the zoo serves', async () => {
    const repo = await makeRepository([
      { from: MODEL_DIR, as: 'bad-reranker', patch: { clip: { ...manifest.clip, reranker: { ...manifest.clip.reranker, file: 'image_encoder.onnx', imageInput: 'pixel_values', textInput: 'input_ids', output: 'image_embeds' } } } },
      { from: join(REPO_ROOT, 'models', 'miniclip-shapes') },
    ]);
    const gw = await startTestGateway(repo);
    try {
      const models = Object.fromEntries(((await gw.client.listModels()).models as unknown as { name: string; state: string; reason: string }[]).map((m) => [m.name, m]));
      assert.equal(models['bad-reranker']!.state, 'UNAVAILABLE');
      assert.match(models['bad-reranker']!.reason, /reranker image_encoder.onnx: manifest names do not match the graph: inputs input_ids not in graph inputs \[pixel_values\]/);
      assert.equal(models['miniclip-shapes']!.state, 'READY');
    } finally {
      await gw.stop();
    }
  });
});
