// Manifest schema: defaults filled in, every kind of mistake refused with its path named.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseManifest } from '../../src/models/manifest.js';

const valid = {
  name: 'shapes',
  kind: 'image-classifier',
  inputs: [{ name: 'input', shape: [-1, 3, 64, 64] }],
  outputs: [{ name: 'logits' }],
  preprocessing: { size: [64, 64], mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  labels: 'labels.txt',
};

function broken(patch: Record<string, unknown>): Record<string, unknown> {
  return { ...valid, ...patch };
}

describe('parseManifest() of kind tensor', () => {
  it('takes {"kind": "tensor"} alone: the name is the folder\'s, the I/O comes from the graph', () => {
    const m = parseManifest({ kind: 'tensor' }, 'matmul');
    assert.equal(m.name, 'matmul');
    assert.equal(m.kind, 'tensor');
    assert.equal(m.kind === 'tensor' && m.file, 'model.onnx');
    assert.equal(m.kind === 'tensor' && m.batchAxis, 'auto');
    assert.equal(m.kind === 'tensor' && m.inputs, undefined);
    assert.equal(m.batching.maxBatchSize, 32);
  });

  it('takes I/O narrowing, batchAxis and a response cache', () => {
    const m = parseManifest({ kind: 'tensor', inputs: [{ name: 'x', datatype: 'FP16', shape: [-1, 8] }], outputs: [{ name: 'y' }], batchAxis: 'none', responseCache: { maxEntries: 10, maxBytes: 1000 } }, 't');
    assert.ok(m.kind === 'tensor' && m.inputs?.[0]?.datatype === 'FP16' && m.responseCache?.maxEntries === 10);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['preprocessing (tensors arrive preprocessed)', { kind: 'tensor', preprocessing: { size: [1, 1] } }, /Unrecognized key/],
    ['an unknown datatype', { kind: 'tensor', inputs: [{ name: 'x', datatype: 'FLOAT' }] }, /inputs.0.datatype/],
    ['a dimension below -1', { kind: 'tensor', inputs: [{ name: 'x', shape: [-2] }] }, /inputs.0.shape.0/],
    ['an unknown batchAxis', { kind: 'tensor', batchAxis: 'first' }, /batchAxis/],
    ['a response cache without bounds', { kind: 'tensor', responseCache: { maxEntries: 10 } }, /responseCache.maxBytes/],
  ];
  for (const [name, manifest, message] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => parseManifest(manifest, 't'), message));
  }
});

describe('parseManifest()', () => {
  it('fills in defaults for preprocessing and batching', () => {
    const m = parseManifest(valid, 'shapes');
    assert.equal(m.kind, 'image-classifier');
    assert.equal(m.preprocessing.resizeMode, 'shorter');
    assert.equal(m.preprocessing.cropFraction, 1);
    assert.equal(m.preprocessing.layout, 'NCHW');
    assert.equal(m.batching.maxBatchSize, 32);
    assert.equal(m.batching.maxQueueSize, 256);
    assert.equal(m.batching.saturatedQueueDelayMs, 20);
    assert.equal(m.kind === 'image-classifier' && m.file, 'model.onnx');
  });

  it('raises saturatedQueueDelayMs to maxQueueDelayMs, the bound that applies', () => {
    assert.equal(parseManifest({ ...valid, batching: { maxQueueDelayMs: 30 } }, 'shapes').batching.saturatedQueueDelayMs, 30);
    assert.equal(parseManifest({ ...valid, batching: { maxQueueDelayMs: 5, saturatedQueueDelayMs: 50 } }, 'shapes').batching.saturatedQueueDelayMs, 50);
  });

  it('accepts a clip manifest', () => {
    const m = parseManifest(
      {
        name: 'clip',
        kind: 'clip',
        preprocessing: { size: [224, 224], cropFraction: 0.875 },
        clip: {
          imageEncoder: { file: 'image_encoder.onnx', input: 'pixel_values', output: 'image_embeds' },
          textEncoder: { file: 'text_encoder.onnx', input: 'input_ids', output: 'text_embeds' },
          embeddingSize: 128,
        },
      },
      'clip',
    );
    assert.equal(m.kind === 'clip' && m.clip.contextLength, 77);
  });

  it('takes an optional multi-label calibration on a clip manifest, and refuses a malformed one', () => {
    const clip = (multiLabel: unknown) => ({
      name: 'clip',
      kind: 'clip',
      preprocessing: { size: [64, 64] },
      clip: {
        imageEncoder: { file: 'i.onnx', input: 'pixel_values', output: 'image_embeds' },
        textEncoder: { file: 't.onnx', input: 'input_ids', output: 'text_embeds' },
        embeddingSize: 16,
        multiLabel,
      },
    });
    const m = parseManifest(clip({ scale: 21.5, bias: -12.25 }), 'clip');
    assert.deepEqual(m.kind === 'clip' && m.clip.multiLabel, { scale: 21.5, bias: -12.25 });
    assert.throws(() => parseManifest(clip({ scale: 0, bias: 1 }), 'clip'), /clip\.multiLabel\.scale/);
    assert.throws(() => parseManifest(clip({ scale: 10, bias: '1' }), 'clip'), /clip\.multiLabel\.bias/);
    assert.throws(() => parseManifest(clip({ scale: 10, bias: 1, temperature: 2 }), 'clip'), /temperature/);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['unknown kind', broken({ kind: 'detector' }), /kind/],
    ['a typo in a key', broken({ postprocesing: 'softmax' }), /postprocesing/],
    ['a name that differs from the folder', broken({ name: 'other' }), /does not match folder "shapes"/],
    ['a path in the name', broken({ name: '../../etc' }), /name/],
    ['a zero size', broken({ preprocessing: { size: [0, 64] } }), /preprocessing\.size\.0/],
    ['a crop fraction above 1', broken({ preprocessing: { size: [64, 64], cropFraction: 1.5 } }), /cropFraction/],
    ['mean of the wrong length', broken({ preprocessing: { size: [64, 64], mean: [0.1, 0.2] } }), /preprocessing\.mean: needs 3/],
    ['a zero std', broken({ preprocessing: { size: [64, 64], std: [0, 1, 1] } }), /std/],
    ['an unknown channel order', broken({ preprocessing: { size: [64, 64], channelOrder: 'RGBA' } }), /channelOrder/],
    ['an unknown layout', broken({ preprocessing: { size: [64, 64], layout: 'CHW' } }), /layout/],
    ['two inputs on a classifier', broken({ inputs: [{ name: 'a' }, { name: 'b' }] }), /inputs/],
    ['no outputs', broken({ outputs: [] }), /outputs/],
    ['a preferred size above maxBatchSize', broken({ batching: { maxBatchSize: 8, preferredBatchSizes: [16] } }), /preferredBatchSizes: sizes 16 exceed maxBatchSize 8/],
    ['a negative queue size', broken({ batching: { maxQueueSize: -1 } }), /batching\.maxQueueSize/],
    ['a non-object', 'hello' as unknown as Record<string, unknown>, /invalid model\.json/],
  ];
  for (const [name, manifest, message] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => parseManifest(manifest, 'shapes'), message));
  }
});
