// The zero-shot reranker's pieces without a server: the manifest's clip.reranker section (defaults,
// limits, mistakes refused by path), the reranked order and softmax, and which requests are
// reranked how deep (rerank / rerank_top_k against the manifest's default and limit).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClipVersion } from '../../src/models/clip.js';
import { rerankOrder } from '../../src/models/clip-reranker.js';
import { type RerankerSettings, parseManifest } from '../../src/models/manifest.js';
import { rerankOption } from '../../src/server/zeroshot-service.js';

function clipManifest(reranker: unknown): Record<string, unknown> {
  return {
    name: 'clip',
    kind: 'clip',
    preprocessing: { size: [64, 64] },
    clip: {
      imageEncoder: { file: 'image_encoder.onnx', input: 'pixel_values', output: 'image_embeds' },
      textEncoder: { file: 'text_encoder.onnx', input: 'input_ids', output: 'text_embeds' },
      embeddingSize: 128,
      ...(reranker === undefined ? {} : { reranker }),
    },
  };
}

function rerankerOf(reranker: unknown): RerankerSettings | undefined {
  const m = parseManifest(clipManifest(reranker), 'clip');
  return m.kind === 'clip' ? m.clip.reranker : undefined;
}

describe('manifest clip.reranker', () => {
  it('is optional', () => assert.equal(rerankerOf(undefined), undefined));

  it('fills in names, limits and an off-by-default rerank', () => {
    const r = rerankerOf({ file: 'reranker.onnx', contextLength: 16, template: 'a photo of a {}.' });
    assert.deepEqual(r, {
      file: 'reranker.onnx',
      imageInput: 'pixel_values',
      textInput: 'input_ids',
      output: 'logits',
      contextLength: 16,
      padTokenId: 0,
      template: 'a photo of a {}.',
      maxTopK: 16,
      maxBatchSize: 8,
      rerank: { enabled: false, topK: 5 },
    });
  });

  const base = { file: 'reranker.onnx', contextLength: 16, template: 'a photo of a {}.' };
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['a template without "{}"', { ...base, template: 'a photo' }, /clip.reranker.template: needs "\{\}"/],
    ['a default top_k above maxTopK', { ...base, maxTopK: 4, rerank: { enabled: true, topK: 5 } }, /clip.reranker.rerank.topK: 5 exceeds maxTopK 4/],
    ['maxTopK 0', { ...base, maxTopK: 0 }, /clip.reranker.maxTopK/],
    ['maxTopK above 256', { ...base, maxTopK: 1000 }, /clip.reranker.maxTopK/],
    ['no contextLength', { file: 'reranker.onnx', template: '{}' }, /clip.reranker.contextLength/],
    ['an unknown key', { ...base, topK: 3 }, /Unrecognized key/],
    ['an unknown key in rerank', { ...base, rerank: { enabled: true, top_k: 3 } }, /clip.reranker.rerank/],
  ];
  for (const [name, reranker, message] of bad) {
    it(`refuses ${name}`, () => assert.throws(() => parseManifest(clipManifest(reranker), 'clip'), message));
  }
});

describe('rerankOrder()', () => {
  it('orders by logit, best first, ties kept in cosine order, with the softmax over the candidates', () => {
    const { order, probabilities } = rerankOrder(Float32Array.from([0.5, 2, 0.5, -1]));
    assert.deepEqual(order, [1, 0, 2, 3]);
    const e = [0.5, 2, 0.5, -1].map(Math.exp);
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, i) => assert.ok(Math.abs(probabilities[i]! - v / sum) < 1e-6));
  });

  it('stays finite for large logits', () => {
    const { probabilities } = rerankOrder(Float32Array.from([1000, 999]));
    assert.ok(probabilities.every((p) => Number.isFinite(p)));
    assert.ok(Math.abs(probabilities[0]! + probabilities[1]! - 1) < 1e-6);
  });
});

describe('rerankOption()', () => {
  const served = (reranker: RerankerSettings | undefined): ClipVersion => ({ info: { model: 'm', version: '1' }, reranker: reranker && { settings: reranker } }) as unknown as ClipVersion;
  const withReranker = served(rerankerOf({ file: 'r.onnx', contextLength: 16, template: '{}', maxTopK: 8, rerank: { enabled: false, topK: 3 } }));
  const onByDefault = served(rerankerOf({ file: 'r.onnx', contextLength: 16, template: '{}', maxTopK: 8, rerank: { enabled: true, topK: 4 } }));
  const without = served(undefined);

  it('follows the request, else the manifest default', () => {
    assert.equal(rerankOption(withReranker, {}), undefined);
    assert.deepEqual(rerankOption(withReranker, { rerank: true }), { topK: 3 });
    assert.deepEqual(rerankOption(withReranker, { rerank: true, rerankTopK: 8 }), { topK: 8 });
    assert.deepEqual(rerankOption(onByDefault, {}), { topK: 4 });
    assert.deepEqual(rerankOption(onByDefault, { rerankTopK: 2 }), { topK: 2 });
    assert.equal(rerankOption(onByDefault, { rerank: false }), undefined);
    assert.equal(rerankOption(without, {}), undefined);
    assert.equal(rerankOption(without, { rerank: false }), undefined);
  });

  it('never applies a default to multi-label requests', () => assert.equal(rerankOption(onByDefault, { multiLabel: true }), undefined));

  const refused: [string, ClipVersion, Parameters<typeof rerankOption>[1], RegExp][] = [
    ['rerank on a model without a reranker', without, { rerank: true }, /model "m" version 1 has no reranker.*clip.reranker/],
    ['rerank_top_k above maxTopK', withReranker, { rerank: true, rerankTopK: 9 }, /rerank_top_k 9 exceeds the limit .*at most 8 candidates/],
    ['rerank_top_k above maxTopK through the default', onByDefault, { rerankTopK: 9 }, /rerank_top_k 9 exceeds/],
    ['rerank_top_k without reranking', withReranker, { rerankTopK: 2 }, /rerank_top_k is only used when reranking: set rerank to true/],
    ['rerank_top_k with rerank false', onByDefault, { rerank: false, rerankTopK: 2 }, /rerank_top_k is only used when reranking/],
    ['rerank with multi_label', withReranker, { rerank: true, multiLabel: true }, /rerank and multi_label cannot be combined/],
  ];
  for (const [name, model, request, message] of refused) {
    it(`refuses ${name} (INVALID_ARGUMENT)`, () => assert.throws(() => rerankOption(model, request), (err: Error & { code?: string }) => message.test(err.message) && err.code === 'INVALID_ARGUMENT'));
  }
});
