// Parity with the training package: for every classifier in the default zoo that ships golden
// files (written by `python3 -m training export`), (a) the gateway's sharp preprocessing matches
// the tensor PyTorch's eval transform produced, within a stated tolerance, and (b) onnxruntime-node
// run on PyTorch's exact input tensor reproduces PyTorch's output (max abs diff <= 1e-4).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseManifest } from '../../src/models/manifest.js';
import { ImagePreprocessor } from '../../src/models/preprocess.js';
import { ModelSession } from '../../src/models/session.js';
import { ZOO_MODELS } from '../helpers/gateway.js';

/**
 * PyTorch decodes and resizes with PIL, the gateway with libvips: identical at the native size,
 * and within about one 8-bit level after a resize (measured on the shipped goldens: max 0.035,
 * mean 0.004 in normalized units for 120x80 and 72x72 inputs). The bounds leave ~3x headroom.
 */
const PREPROCESS_MAX_ABS = 0.1; // normalized units, worst single element
const PREPROCESS_MEAN_ABS = 0.01; // normalized units, averaged over the tensor
const OUTPUT_MAX_ABS = 1e-4;

interface GoldenItem {
  kind?: string;
  image: string;
  input: string;
  inputShape: number[];
  output: string;
  outputName: string;
  outputShape: number[];
}

function readF32(path: string): Float32Array {
  const buf = readFileSync(path);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

const classifiers = existsSync(ZOO_MODELS)
  ? readdirSync(ZOO_MODELS).filter((name) => {
      const manifestPath = join(ZOO_MODELS, name, 'model.json');
      if (!existsSync(manifestPath)) return false;
      return (JSON.parse(readFileSync(manifestPath, 'utf8')) as { kind: string }).kind === 'image-classifier';
    })
  : [];

describe('parity with PyTorch golden files', () => {
  it('the default zoo ships at least one classifier with golden files', () => {
    const withGolden = classifiers.filter((name) => existsSync(join(ZOO_MODELS, name, '1', 'golden', 'index.json')));
    assert.ok(withGolden.length >= 1, `classifiers: ${classifiers.join(', ') || '(none)'}`);
  });

  for (const name of classifiers) {
    const versionDir = join(ZOO_MODELS, name, '1');
    const goldenDir = join(versionDir, 'golden');
    if (!existsSync(join(goldenDir, 'index.json'))) continue;

    it(`${name}: sharp preprocessing and onnxruntime-node match PyTorch`, async () => {
      const manifest = parseManifest(JSON.parse(readFileSync(join(ZOO_MODELS, name, 'model.json'), 'utf8')), name);
      assert.equal(manifest.kind, 'image-classifier');
      if (manifest.kind !== 'image-classifier') return;
      const { items } = JSON.parse(readFileSync(join(goldenDir, 'index.json'), 'utf8')) as { items: GoldenItem[] };
      const imageItems = items.filter((i) => (i.kind ?? 'image') === 'image');
      assert.ok(imageItems.length >= 1);
      const preprocessor = new ImagePreprocessor(manifest.preprocessing, { maxImageBytes: 1 << 24, maxImagePixels: 1 << 26 });
      const session = await ModelSession.open(join(versionDir, manifest.file), { provider: 'cpu', intraOpThreads: 1 });
      try {
        for (const item of imageItems) {
          const expectedInput = readF32(join(goldenDir, item.input));
          const ours = await preprocessor.run(readFileSync(join(goldenDir, item.image)));
          assert.equal(ours.length, expectedInput.length, `${item.image}: slot size`);
          let maxAbs = 0;
          let sumAbs = 0;
          for (let i = 0; i < ours.length; i++) {
            const d = Math.abs(ours[i]! - expectedInput[i]!);
            maxAbs = Math.max(maxAbs, d);
            sumAbs += d;
          }
          const meanAbs = sumAbs / ours.length;
          assert.ok(maxAbs <= PREPROCESS_MAX_ABS && meanAbs <= PREPROCESS_MEAN_ABS, `${item.image}: preprocessing differs from PyTorch: max ${maxAbs.toFixed(4)}, mean ${meanAbs.toFixed(5)}`);

          const out = await session.run({ [manifest.inputs[0]!.name]: { data: expectedInput, dims: item.inputShape } }, [item.outputName]);
          const expected = readF32(join(goldenDir, item.output));
          const got = out[item.outputName]!.data;
          assert.equal(got.length, expected.length);
          let outMax = 0;
          for (let i = 0; i < got.length; i++) outMax = Math.max(outMax, Math.abs(got[i]! - expected[i]!));
          assert.ok(outMax <= OUTPUT_MAX_ABS, `${item.image}: onnxruntime vs PyTorch max abs diff ${outMax}`);
        }
      } finally {
        await session.release();
      }
    });
  }
});
