// What a model version's instances get from its graph and the host: intra-op threads per
// session, and the batching a fixed batch axis allows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BatchingConfig } from '../../src/batching/policy.js';
import { graphBatching, intraOpThreadsFor } from '../../src/models/instances.js';

describe('intraOpThreadsFor()', () => {
  it('keeps a configured count', () => assert.equal(intraOpThreadsFor(3, 4, 16), 3));
  it('shares half the cores among the instances when 0, at least one each', () => {
    assert.equal(intraOpThreadsFor(0, 1, 16), 8);
    assert.equal(intraOpThreadsFor(0, 2, 16), 4);
    assert.equal(intraOpThreadsFor(0, 1, 2), 1);
    assert.equal(intraOpThreadsFor(0, 3, 4), 1);
    assert.equal(intraOpThreadsFor(0, 1, 1), 1);
  });
});

describe('graphBatching()', () => {
  const configured: BatchingConfig & { defaultTimeoutMs: number } = { policy: 'adaptive', maxBatchSize: 32, maxQueueDelayMs: 5, preferredBatchSizes: [4, 8, 16, 32], maxQueueSize: 100, instances: 1, defaultTimeoutMs: 1000 };
  it('keeps the manifest batching for a dynamic batch axis', () => assert.deepEqual(graphBatching(configured, undefined), configured));
  it('caps at a fixed batch axis and drops preferred sizes beyond it, keeping the other settings', () => {
    assert.deepEqual(graphBatching(configured, 8), { ...configured, maxBatchSize: 8, preferredBatchSizes: [4, 8] });
    assert.deepEqual(graphBatching(configured, 1), { ...configured, maxBatchSize: 1, preferredBatchSizes: [] });
  });
  it('a fixed axis larger than the configured size does not raise it', () => assert.equal(graphBatching(configured, 64).maxBatchSize, 32));
});
