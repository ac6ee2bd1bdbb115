// The trained MiniCLIP (models/miniclip-shapes, exported by training/clip; MINICLIP_DIR may point
// at another export): (a) ONNX parity of
// both towers with PyTorch on the golden files (onnxruntime-node on PyTorch's exact inputs, max
// abs diff <= 1e-4), (b) our tokenizer gives the golden token ids, and (c) end to end, the eval
// card's zero-shot test set (re-rendered by the training package's procedural generator) sent
// through POST /v1/zero-shot with the prompt of every colour-shape combination scores the card's
// top-1 within 1 point, overall and on held-out combinations; (d) multi_label applies the
// manifest's calibration: colour and shape words as separate labels on the held-out test images
// give the card's precision and recall at 0.5 within 1 point.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ClipManifest, parseManifest } from '../../src/models/manifest.js';
import { ModelSession } from '../../src/models/session.js';
import { ClipTokenizer } from '../../src/models/tokenizer.js';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

/** MINICLIP_DIR points the test at another export of the same model (e.g. a smoke run of training/clip). */
const MODEL_DIR = process.env['MINICLIP_DIR'] ?? join(ZOO_MODELS, 'miniclip-shapes');
const VERSION_DIR = join(MODEL_DIR, '1');
const GOLDEN = join(VERSION_DIR, 'golden');
const OUTPUT_MAX_ABS = 1e-4;

interface GoldenItem {
  kind: 'image' | 'text';
  image?: string;
  input?: string;
  inputName: string;
  inputShape?: number[];
  text?: string;
  inputIds?: number[];
  output: string;
  outputName: string;
  outputShape: number[];
}

interface MultiLabelCard {
  labels: string[];
  template: string;
  scale: number;
  bias: number;
  calibrated: { precision: number; recall: number };
}

interface ZeroShotCard {
  split: string;
  /** The figures of the image tower the export serves (the CLIP-trained tower or a distilled student). */
  exported: { all_top1: number; heldout_top1: number; seen_top1: number; heldout_images: number; seen_images: number; template: string };
  heldoutCombinations: string[];
}

function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Runs `limit` tasks at a time. */
async function pool<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i]!);
      }
    }),
  );
  return results;
}

describe('MiniCLIP (models/miniclip-shapes)', () => {
  let manifest: ClipManifest;
  let items: GoldenItem[];

  before(() => {
    assert.ok(existsSync(join(GOLDEN, 'index.json')), `${MODEL_DIR} with golden/index.json is part of the default zoo (made by python3 -m training clip)`);
    const m = parseManifest(JSON.parse(readFileSync(join(MODEL_DIR, 'model.json'), 'utf8')), 'miniclip-shapes');
    if (m.kind !== 'clip') throw new Error(`miniclip-shapes is a ${m.kind} model`);
    manifest = m;
    items = (JSON.parse(readFileSync(join(GOLDEN, 'index.json'), 'utf8')) as { items: GoldenItem[] }).items;
  });

  it('image tower: onnxruntime-node on the golden input tensors matches PyTorch (max abs diff <= 1e-4)', async () => {
    const images = items.filter((i) => i.kind === 'image');
    assert.ok(images.length >= 1);
    const session = await ModelSession.open(join(VERSION_DIR, manifest.clip.imageEncoder.file), { provider: 'cpu', intraOpThreads: 1 });
    try {
      for (const item of images) {
        const out = await session.run({ [manifest.clip.imageEncoder.input]: { data: readF32(join(GOLDEN, item.input!)), dims: item.inputShape! } }, [manifest.clip.imageEncoder.output]);
        const diff = maxAbsDiff(out[manifest.clip.imageEncoder.output]!.data, readF32(join(GOLDEN, item.output)));
        assert.ok(diff <= OUTPUT_MAX_ABS, `${item.image}: max abs diff ${diff}`);
      }
    } finally {
      await session.release();
    }
  });

  it('text tower: our tokenizer gives the golden ids, and onnxruntime-node on them matches PyTorch (max abs diff <= 1e-4)', async () => {
    const texts = items.filter((i) => i.kind === 'text');
    assert.ok(texts.length >= 1);
    const tokenizer = await ClipTokenizer.load(join(VERSION_DIR, manifest.clip.tokenizer), { contextLength: manifest.clip.contextLength, padTokenId: manifest.clip.padTokenId });
    const session = await ModelSession.open(join(VERSION_DIR, manifest.clip.textEncoder.file), { provider: 'cpu', intraOpThreads: 1 });
    try {
      for (const item of texts) {
        assert.deepEqual(tokenizer.encode(item.text!).ids, item.inputIds, `token ids of ${JSON.stringify(item.text)}`);
        const ids = BigInt64Array.from(item.inputIds!.map((id) => BigInt(id)));
        const out = await session.run({ [manifest.clip.textEncoder.input]: { data: ids, dims: [1, ids.length] } }, [manifest.clip.textEncoder.output]);
        const diff = maxAbsDiff(out[manifest.clip.textEncoder.output]!.data, readF32(join(GOLDEN, item.output)));
        assert.ok(diff <= OUTPUT_MAX_ABS, `${JSON.stringify(item.text)}: max abs diff ${diff}`);
      }
    } finally {
      await session.release();
    }
  });

  describe('through the gateway', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(await makeRepository([{ from: MODEL_DIR }]));
    });
    after(() => gw?.stop());

    it('POST /v1/embed text embeddings equal the golden ones', async () => {
      const texts = items.filter((i) => i.kind === 'text');
      const res = await fetch(`${gw.http}/v1/embed`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts: texts.map((t) => t.text) }) }); // no model: the only clip model
      const json = (await res.json()) as { model: string; text_embeddings: number[][] };
      assert.equal(res.status, 200);
      assert.equal(json.model, 'miniclip-shapes');
      for (const [i, item] of texts.entries()) {
        const diff = maxAbsDiff(Float32Array.from(json.text_embeddings[i]!), readF32(join(GOLDEN, item.output)));
        assert.ok(diff <= OUTPUT_MAX_ABS, `${JSON.stringify(item.text)}: max abs diff ${diff}`);
      }
    });

    it("scores the eval card's zero-shot test set within 1 point of the card (all prompts, held-out and seen)", async () => {
      const card = (JSON.parse(readFileSync(join(VERSION_DIR, 'eval.json'), 'utf8')) as { zeroShot: ZeroShotCard }).zeroShot;
      const served = card.exported;
      const total = served.heldout_images + served.seen_images;
      const perClass = total / 64;
      assert.ok(Number.isInteger(perClass), `${total} test images is not a whole number per class`);
      const images = renderTestSet(perClass);
      const heldout = new Set(card.heldoutCombinations);
      const labels = [...new Set(images.map((i) => i.label.replace('_', ' ')))];
      assert.equal(labels.length, 64);
      const t0 = performance.now();
      const predictions = await pool(images, 32, async (img) => {
        const res = await fetch(`${gw.http}/v1/zero-shot`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'miniclip-shapes', image: img.png.toString('base64'), labels, template: served.template, top_k: 1 }),
        });
        const json = (await res.json()) as { labels: { label: string }[] };
        assert.equal(res.status, 200, JSON.stringify(json));
        return json.labels[0]!.label;
      });
      const seconds = (performance.now() - t0) / 1000;
      const ok = images.map((img, i) => predictions[i] === img.label.replace('_', ' '));
      const acc = (keep: (label: string) => boolean): number => {
        const idx = images.flatMap((img, i) => (keep(img.label) ? [i] : []));
        return idx.filter((i) => ok[i]).length / idx.length;
      };
      const all = acc(() => true);
      const held = acc((l) => heldout.has(l));
      const seen = acc((l) => !heldout.has(l));
      console.log(`miniclip zero-shot over HTTP: ${images.length} images in ${seconds.toFixed(1)} s; all ${all.toFixed(4)} (card ${served.all_top1}), held-out ${held.toFixed(4)} (card ${served.heldout_top1}), seen ${seen.toFixed(4)} (card ${served.seen_top1})`);
      assert.ok(Math.abs(all - served.all_top1) <= 0.01, `all: ${all} vs card ${served.all_top1}`);
      assert.ok(Math.abs(held - served.heldout_top1) <= 0.01, `held-out: ${held} vs card ${served.heldout_top1}`);
      assert.ok(Math.abs(seen - served.seen_top1) <= 0.01, `seen: ${seen} vs card ${served.seen_top1}`);
    });

    it("multi_label scores are calibrated: the card's precision and recall at 0.5 on held-out images, within 1 point", async () => {
      const evalCard = JSON.parse(readFileSync(join(VERSION_DIR, 'eval.json'), 'utf8')) as { zeroShot: ZeroShotCard; multiLabel: MultiLabelCard };
      const ml = evalCard.multiLabel;
      assert.deepEqual(manifest.clip.multiLabel, { scale: ml.scale, bias: ml.bias });
      const heldout = new Set(evalCard.zeroShot.heldoutCombinations);
      const perClass = (evalCard.zeroShot.exported.heldout_images + evalCard.zeroShot.exported.seen_images) / 64;
      const images = renderTestSet(perClass).filter((img) => heldout.has(img.label));
      const answers = await pool(images, 32, async (img) => {
        const res = await fetch(`${gw.http}/v1/zero-shot`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'miniclip-shapes', image: img.png.toString('base64'), labels: ml.labels, template: ml.template, multi_label: true }),
        });
        const json = (await res.json()) as { labels: { label: string; score: number }[] };
        assert.equal(res.status, 200, JSON.stringify(json));
        return json.labels.filter((l) => l.score >= 0.5).map((l) => l.label);
      });
      let tp = 0;
      let predicted = 0;
      for (const [i, img] of images.entries()) {
        const truth = new Set(img.label.split('_'));
        predicted += answers[i]!.length;
        tp += answers[i]!.filter((l) => truth.has(l)).length;
      }
      const precision = tp / predicted;
      const recall = tp / (2 * images.length);
      assert.ok(Math.abs(precision - ml.calibrated.precision) <= 0.01, `precision ${precision} vs card ${ml.calibrated.precision}`);
      assert.ok(Math.abs(recall - ml.calibrated.recall) <= 0.01, `recall ${recall} vs card ${ml.calibrated.recall}`);
    });
  });
});

/** The training package's test split (data seed 0, 64x64), `perClass` images of each of the 64 classes, as PNG bytes. */
function renderTestSet(perClass: number): { label: string; png: Buffer }[] {
  const dir = mkdtempSync(join(tmpdir(), 'miniclip-test-'));
  const script = `
import json, sys
from training.data.shapes import ShapesConfig, class_names, render
per_class, out = int(sys.argv[1]), sys.argv[2]
cfg = ShapesConfig()
rows = []
for label, name in enumerate(class_names()):
    for i in range(per_class):
        path = f"{out}/{label}_{i}.png"
        render(cfg.seed, "test", i, label, cfg).save(path, optimize=False)
        rows.append({"path": path, "label": name})
print(json.dumps(rows))
`;
  const stdout = execFileSync('/usr/bin/python3', ['-c', script, String(perClass), dir], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return (JSON.parse(stdout) as { path: string; label: string }[]).map((r) => ({ label: r.label, png: readFileSync(r.path) }));
}
