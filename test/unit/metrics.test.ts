// The per-version metrics the batcher hooks keep: gateway_pending_requests counts every request a
// version holds (decoding, waiting to decode, queued, running), since on CPU hosts the standing
// queue forms in front of decoding and the HPA scales on this gauge.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Metrics } from '../../src/metrics.js';
import { VersionHealth, batcherHooks } from '../../src/models/served.js';
import { metricValue } from '../helpers/gateway.js';

describe('batcherHooks()', () => {
  it('adds the requests decoding and waiting to decode to gateway_pending_requests', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const hooks = batcherHooks(metrics, 'm', '1', new VersionHealth(metrics, pino({ level: 'silent' }), 'm', '1'));
    hooks.onDepth!(2, 3); // 2 queued, 1 running
    hooks.onUpstream!(4, 10); // 4 decoding, 10 waiting for a decode place
    let text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_pending_requests', { model: 'm', version: '1' }), 17);
    assert.equal(metricValue(text, 'gateway_queue_length', { model: 'm', version: '1' }), 2);
    assert.equal(metricValue(text, 'gateway_preprocessing_requests', { model: 'm', version: '1', state: 'decoding' }), 4);
    assert.equal(metricValue(text, 'gateway_preprocessing_requests', { model: 'm', version: '1', state: 'waiting' }), 10);
    hooks.onUpstream!(0, 0);
    hooks.onDepth!(0, 0);
    text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_pending_requests', { model: 'm', version: '1' }), 0);
  });
});
