// The shipped default zoo, served as `npm start` serves it: every classifier of the 64 colour x
// shape classes labels procedural images of known class (rendered with a seed never used in
// training) over gRPC and HTTP as accurately as its eval card says, and 32 concurrent clients
// really share batches; a classifier of other classes (the fine-grained NAS child) answers its
// golden inputs as PyTorch did.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ShapeImage, renderShapes } from '../helpers/shapes.js';
import { type TestGateway, ZOO_MODELS, metricValue, postImage, startTestGateway } from '../helpers/gateway.js';

/** n x p less 3 binomial standard deviations: the fewest right answers of n that still agree with a top-1 of p. */
const binomialFloor = (n: number, p: number): number => n * p - 3 * Math.sqrt(n * p * (1 - p));

/** Test top-1 of a model's newest eval card (training/export.py writes it from the hard test split). */
function cardTop1(model: string): number {
  const versions = readdirSync(join(ZOO_MODELS, model)).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b));
  const card = JSON.parse(readFileSync(join(ZOO_MODELS, model, versions.at(-1)!, 'eval.json'), 'utf8')) as { eval: { top1: number } };
  return card.eval.top1;
}

function manifestOf(name: string): { kind: string; labels?: string } | null {
  try {
    return JSON.parse(readFileSync(join(ZOO_MODELS, name, 'model.json'), 'utf8')) as { kind: string; labels?: string };
  } catch {
    return null;
  }
}

const labelsOf = (name: string): string[] => readFileSync(join(ZOO_MODELS, name, manifestOf(name)!.labels ?? 'labels.txt'), 'utf8').trim().split('\n');
const ALL_CLASSIFIERS = readdirSync(ZOO_MODELS).filter((name) => manifestOf(name)?.kind === 'image-classifier');
// Classifiers of the 64 colour x shape classes `renderShapes` draws; the others (the NAS child
// trained on the 8 fine-grained classes) are checked against the outputs PyTorch recorded.
const SHAPES_LABELS = labelsOf('shapes-mobilenetv3').join('\n');
const CLASSIFIERS = ALL_CLASSIFIERS.filter((name) => labelsOf(name).join('\n') === SHAPES_LABELS);
const OTHER_CLASSIFIERS = ALL_CLASSIFIERS.filter((name) => !CLASSIFIERS.includes(name));

interface GoldenItem {
  image: string;
  input: string;
  inputShape: number[];
  output: string;
}

const readF32 = (file: string): Float32Array => {
  const buf = readFileSync(file);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
};

describe('default zoo', () => {
  let gw: TestGateway;
  let images: ShapeImage[];
  before(async () => {
    gw = await startTestGateway(ZOO_MODELS, { intraOpThreads: 0 });
    // the hard 64-class set the zoo's classifiers are trained and carded on (training/zoo.py)
    images = renderShapes(100, 424242, { difficulty: 'hard' });
  });
  after(() => gw.stop());

  it('loads every model of the zoo, with at least one classifier', async () => {
    const { models } = await gw.client.listModels();
    const states = Object.fromEntries(models.map((m) => [String(m['name']), String(m['state'])])) as Record<string, string>;
    assert.ok(CLASSIFIERS.includes('shapes-mobilenetv3'), `classifiers: ${CLASSIFIERS.join(', ')}`);
    assert.ok(Object.values(states).every((s) => s === 'READY'), JSON.stringify(states));
  });

  for (const model of CLASSIFIERS) {
    it(`${model}: labels 100 unseen procedural images over gRPC, 32 clients at a time, in shared batches`, async () => {
      let correct = 0;
      for (let i = 0; i < images.length; i += 32) {
        const chunk = images.slice(i, i + 32);
        const replies = await Promise.all(chunk.map((img) => gw.client.classify({ model, image: img.png, top_k: 1 })));
        replies.forEach((r, j) => (correct += r.labels[0]!.label === chunk[j]!.label ? 1 : 0));
      }
      console.log(`# ${model}: top-1 ${correct}/100`);
      // What the gateway serves must be the model its card measured: on 100 unseen images of the
      // same benchmark, top-1 within 3 binomial standard deviations of the card's test top-1
      // (chance is 1.6 %, so a broken model or preprocessing falls far below).
      const p = cardTop1(model);
      const floor = binomialFloor(100, p);
      assert.ok(p > 0.5 && correct >= floor, `${model} top-1 ${correct}/100, card ${(100 * p).toFixed(2)} %: at least ${floor.toFixed(1)} expected`);
      const text = await gw.metrics();
      const sum = metricValue(text, 'gateway_batch_size_sum', { model });
      const count = metricValue(text, 'gateway_batch_size_count', { model });
      assert.ok(count > 0 && sum / count > 1, `32 concurrent clients did not batch: mean batch ${sum / count}`);
    });
  }

  for (const model of OTHER_CLASSIFIERS) {
    it(`${model}: serves its golden inputs as PyTorch computed them (KServe v2, one batch) and labels its golden images over gRPC`, async () => {
      const dir = join(ZOO_MODELS, model, '1', 'golden');
      const items = (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { items: GoldenItem[] }).items;
      const inputs = items.map((it) => readF32(join(dir, it.input)));
      const res = await fetch(`${gw.http}/v2/models/${model}/infer`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [items.length, ...items[0]!.inputShape.slice(1)], data: inputs.flatMap((x) => Array.from(x)) }] }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const out = ((await res.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] }).outputs[0]!;
      const labels = labelsOf(model);
      assert.deepEqual(out.shape, [items.length, labels.length]);
      items.forEach((it, i) => {
        const want = readF32(join(dir, it.output));
        want.forEach((v, j) => assert.ok(Math.abs(out.data[i * labels.length + j]! - v) <= 1e-4, `${it.output}[${j}]: ${out.data[i * labels.length + j]} vs ${v}`));
      });
      for (const it of items) {
        const reply = await gw.client.classify({ model, image: readFileSync(join(dir, it.image)), top_k: labels.length });
        assert.deepEqual(reply.labels.map((l) => l.label).sort(), [...labels].sort());
        assert.ok(Math.abs(reply.labels.reduce((a, l) => a + l.score, 0) - 1) < 1e-4);
      }
    });
  }

  it('answers the same over HTTP, resizing larger renderings', async () => {
    // the same benchmark drawn at 160 px: the gateway's resize to 64 px must keep the card's accuracy
    const large = renderShapes(32, 99, { size: 160, difficulty: 'hard' });
    let correct = 0;
    for (const img of large) {
      const { status, json } = await postImage(gw.http, 'model=shapes-mobilenetv3&top_k=3', img.png);
      assert.equal(status, 200);
      correct += (json['labels'] as { label: string }[])[0]!.label === img.label ? 1 : 0;
    }
    const floor = binomialFloor(large.length, cardTop1('shapes-mobilenetv3'));
    console.log(`# shapes-mobilenetv3 over HTTP, 160 px renderings: top-1 ${correct}/${large.length}`);
    assert.ok(correct >= floor, `top-1 ${correct}/${large.length} on 160x160 renderings: at least ${floor.toFixed(1)} expected`);
  });
});
