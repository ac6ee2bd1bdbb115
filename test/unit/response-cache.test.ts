// The per-version response cache: keys that separate what decides an answer, bounds by entries
// and bytes, answers too big to cache, and its metrics.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '../../src/metrics.js';
import { ResponseCache } from '../../src/models/response-cache.js';
import { metricValue } from '../helpers/gateway.js';

const make = (settings: { maxEntries: number; maxBytes: number }, metrics = new Metrics({ processMetrics: false })) => ({
  metrics,
  cache: new ResponseCache<{ bytes: number }>(settings, (v) => v.bytes, metrics, 'm', '1'),
});

describe('ResponseCache', () => {
  it('keys by every part, length-prefixed, and by model and version', () => {
    const { cache } = make({ maxEntries: 10, maxBytes: 1 << 20 });
    const other = make({ maxEntries: 10, maxBytes: 1 << 20 }).cache;
    const key = cache.key([new Uint8Array([1, 2]), 'top_k', 3]);
    assert.equal(key, cache.key([new Uint8Array([1, 2]), 'top_k', 3]));
    assert.equal(key, other.key([new Uint8Array([1, 2]), 'top_k', 3]));
    assert.notEqual(key, cache.key([new Uint8Array([1, 2]), 'top_k', 4]));
    assert.notEqual(cache.key(['ab', 'c']), cache.key(['a', 'bc']));
    assert.notEqual(cache.key([new Uint8Array([0x61])]), cache.key(['a']));
    const v2 = new ResponseCache<{ bytes: number }>({ maxEntries: 1, maxBytes: 1000 }, (v) => v.bytes, new Metrics({ processMetrics: false }), 'm', '2');
    assert.notEqual(v2.key(['x']), cache.key(['x']));
  });

  it('counts hits and misses, and reports entries and bytes', async () => {
    const { cache, metrics } = make({ maxEntries: 10, maxBytes: 1 << 20 });
    assert.equal(cache.get('k'), undefined);
    cache.set('k', { bytes: 100 });
    assert.deepEqual(cache.get('k'), { bytes: 100 });
    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_response_cache_hits_total', { model: 'm', version: '1' }), 1);
    assert.equal(metricValue(text, 'gateway_response_cache_misses_total', { model: 'm', version: '1' }), 1);
    assert.equal(metricValue(text, 'gateway_response_cache_entries', { model: 'm', version: '1' }), 1);
    assert.ok(metricValue(text, 'gateway_response_cache_bytes', { model: 'm', version: '1' }) >= 100);
  });

  it('evicts the least recently used beyond maxEntries or maxBytes, and never caches an answer bigger than the cache', () => {
    const byCount = make({ maxEntries: 2, maxBytes: 1 << 20 }).cache;
    byCount.set('a', { bytes: 1 });
    byCount.set('b', { bytes: 1 });
    byCount.get('a');
    byCount.set('c', { bytes: 1 });
    assert.deepEqual([byCount.get('a') !== undefined, byCount.get('b') !== undefined, byCount.get('c') !== undefined], [true, false, true]);
    const byBytes = make({ maxEntries: 100, maxBytes: 1000 }).cache;
    byBytes.set('a', { bytes: 400 });
    byBytes.set('b', { bytes: 400 });
    assert.equal(byBytes.size, 1, 'two answers of 400 bytes plus their keys exceed 1000 bytes');
    byBytes.set('huge', { bytes: 5000 });
    assert.equal(byBytes.get('huge'), undefined);
    assert.equal(byBytes.size, 1);
  });
});
