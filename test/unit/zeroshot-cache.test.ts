// The prompt-embedding cache (bounds in entries and bytes, shared in-flight encodes, failures not
// cached, forgetting a version, metrics) and the zero-shot arithmetic (ensembles, softmax, sigmoid).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '../../src/metrics.js';
import { ensemble, l2NormalizeInPlace, zeroShotScores } from '../../src/models/clip-scores.js';
import { PromptCache, promptKey } from '../../src/models/prompt-cache.js';

const vec = (...xs: number[]): Float32Array => Float32Array.from(xs);

describe('prompt cache', () => {
  it('is bounded in entries', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const cache = new PromptCache({ maxEntries: 2, maxBytes: 1 << 20 }, metrics);
    for (const label of ['a', 'b', 'c']) await cache.get('m', promptKey('m', '1', '{}', label), async () => ({ embedding: new Float32Array(4), truncated: false }));
    assert.equal(cache.size, 2);
    const hit = await cache.get('m', promptKey('m', '1', '{}', 'a'), async () => ({ embedding: new Float32Array(4), truncated: false }));
    assert.equal(hit.hit, false, 'the oldest entry was evicted');
  });

  it('is bounded in bytes (embedding + key + overhead per entry)', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const cache = new PromptCache({ maxEntries: 1000, maxBytes: 3 * (512 * 4 + 200) }, metrics);
    for (let i = 0; i < 10; i++) await cache.get('m', promptKey('m', '1', '{}', `label ${i}`), async () => ({ embedding: new Float32Array(512), truncated: false }));
    assert.ok(cache.size <= 3 && cache.size >= 2, `size ${cache.size}`);
    assert.ok(cache.bytes <= 3 * (512 * 4 + 200));
    const text = await metrics.registry.metrics();
    assert.match(text, new RegExp(`gateway_prompt_cache_entries ${cache.size}\\b`));
    assert.match(text, /gateway_prompt_cache_misses_total\{model="m"\} 10/);
  });

  it('shares one encode between concurrent misses and does not cache failures', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const cache = new PromptCache({ maxEntries: 10, maxBytes: 1 << 20 }, metrics);
    let encodes = 0;
    const encode = async (): Promise<{ embedding: Float32Array; truncated: boolean }> => {
      encodes++;
      await new Promise((r) => setTimeout(r, 5));
      return { embedding: vec(1, 0), truncated: false };
    };
    const key = promptKey('m', '1', 'a photo of a {}.', 'cat');
    const got = await Promise.all([cache.get('m', key, encode), cache.get('m', key, encode), cache.get('m', key, encode)]);
    assert.equal(encodes, 1);
    assert.ok(got.every((g) => g.value.embedding[0] === 1));
    const failing = promptKey('m', '1', '{}', 'dog');
    await assert.rejects(cache.get('m', failing, () => Promise.reject(new Error('boom'))), /boom/);
    const retried = await cache.get('m', failing, async () => ({ embedding: vec(0, 1), truncated: false }));
    assert.equal(retried.hit, false);
    assert.equal(retried.value.embedding[1], 1);
  });

  it('forgets exactly one model version', async () => {
    const cache = new PromptCache({ maxEntries: 10, maxBytes: 1 << 20 }, new Metrics({ processMetrics: false }));
    const put = (version: string): Promise<unknown> => cache.get('m', promptKey('m', version, '{}', 'x'), async () => ({ embedding: vec(1), truncated: false }));
    await Promise.all([put('1'), put('10'), put('2')]);
    cache.forget('m', '1');
    assert.equal(cache.size, 2);
    assert.equal((await cache.get('m', promptKey('m', '10', '{}', 'x'), () => Promise.reject(new Error('not cached')))).hit, true);
  });

  it('is off with a zero bound', async () => {
    const cache = new PromptCache({ maxEntries: 0, maxBytes: 1 << 20 }, new Metrics({ processMetrics: false }));
    await cache.get('m', 'k', async () => ({ embedding: vec(1), truncated: false }));
    assert.equal((await cache.get('m', 'k', async () => ({ embedding: vec(2), truncated: false }))).hit, false);
  });
});

describe('zero-shot scores', () => {
  it('ensembles unit vectors as their renormalized mean', () => {
    const e = ensemble([vec(1, 0), vec(0, 1)]);
    assert.ok(Math.abs(e[0]! - Math.SQRT1_2) < 1e-6 && Math.abs(e[1]! - Math.SQRT1_2) < 1e-6);
    const single = vec(0.6, 0.8);
    assert.equal(ensemble([single]), single);
    assert.deepEqual(l2NormalizeInPlace(vec(0, 0)), vec(0, 0));
  });

  it('softmax over the labels, or a sigmoid per label', () => {
    const image = vec(1, 0);
    const labels = [vec(1, 0), vec(0, 1)];
    const soft = zeroShotScores(image, labels, 2, false);
    assert.deepEqual(soft.similarities, [1, 0]);
    assert.ok(Math.abs(soft.scores[0]! - Math.exp(2) / (Math.exp(2) + 1)) < 1e-12);
    assert.ok(Math.abs(soft.scores[0]! + soft.scores[1]! - 1) < 1e-12);
    const multi = zeroShotScores(image, labels, 2, true);
    assert.ok(Math.abs(multi.scores[0]! - 1 / (1 + Math.exp(-2))) < 1e-12);
    assert.equal(multi.scores[1], 0.5);
  });

  it('multi-label scores use the manifest calibration: sigmoid(scale x cosine + bias)', () => {
    const image = vec(1, 0);
    const labels = [vec(1, 0), vec(0.6, 0.8), vec(0, 1)];
    const cal = { scale: 20, bias: -14 }; // 0.5 at cosine 0.7
    const multi = zeroShotScores(image, labels, 50, true, cal);
    assert.deepEqual(multi.scores.map((x) => Math.round(x * 1e6) / 1e6), [0.997527, 0.119203, 0.000001]);
    assert.ok(multi.scores[0]! > 0.5 && multi.scores[1]! < 0.5); // thresholdable, unlike sigmoid(50 x cosine)
    // the softmax path ignores the calibration
    assert.deepEqual(zeroShotScores(image, labels, 50, false, cal).scores, zeroShotScores(image, labels, 50, false).scores);
  });
});
