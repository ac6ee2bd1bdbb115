// A served version's state: the metrics its batcher and admission hooks keep (gateway_pending_requests
// counts every request a version holds: decoding, waiting to decode, queued, running, since on CPU
// hosts the standing queue forms in front of decoding and the HPA scales on this gauge), its
// health streak, and the count of requests inside it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Metrics } from '../../src/metrics.js';
import { ActiveRequests, VersionHealth, batcherHooks } from '../../src/models/served.js';
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

describe('batcherHooks() of a reloaded version', () => {
  it("sums the old and the new instance's counts, and the last release takes the version's series with it", async () => {
    const metrics = new Metrics({ processMetrics: false });
    const health = new VersionHealth(metrics, pino({ level: 'silent' }), 'm', '1');
    const old = batcherHooks(metrics, 'm', '1', health);
    const fresh = batcherHooks(metrics, 'm', '1', health);
    old.onDepth!(1, 2);
    fresh.onDepth!(3, 3);
    fresh.onUpstream!(1, 0);
    let text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_pending_requests', { model: 'm', version: '1' }), 6);
    assert.equal(metricValue(text, 'gateway_queue_length', { model: 'm', version: '1' }), 4);
    old.release();
    text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_pending_requests', { model: 'm', version: '1' }), 4);
    assert.equal(metricValue(text, 'gateway_queue_length', { model: 'm', version: '1' }), 3);
    fresh.release();
    text = await metrics.registry.metrics();
    for (const name of ['gateway_pending_requests', 'gateway_queue_length', 'gateway_preprocessing_requests']) assert.ok(!text.includes(`${name}{model="m"`), `${name} still has a series for m`);
  });
});

describe('VersionHealth', () => {
  it('turns unhealthy after FAILURES_TO_UNHEALTHY failures in a row, keeping the error, and heals on a success', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const health = new VersionHealth(metrics, pino({ level: 'silent' }), 'm', '1');
    for (let i = 1; i < VersionHealth.FAILURES_TO_UNHEALTHY; i++) health.failed(new Error(`fail ${i}`));
    assert.equal(health.healthy, true);
    health.failed(new Error('the third'));
    assert.equal(health.healthy, false);
    assert.equal(health.lastError, 'the third');
    let text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_model_healthy', { model: 'm', version: '1' }), 0);
    assert.equal(metricValue(text, 'gateway_batch_failures_total', { model: 'm', version: '1' }), 3);
    health.succeeded();
    assert.equal(health.healthy, true);
    assert.equal(health.lastError, '');
    text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_model_healthy', { model: 'm', version: '1' }), 1);
  });
});

describe('ActiveRequests', () => {
  it('resolves idle() once the last request inside leaves', async () => {
    const active = new ActiveRequests();
    await active.idle();
    active.enter();
    active.enter();
    let idle = false;
    const waiting = active.idle().then(() => (idle = true));
    active.exit();
    await Promise.resolve();
    assert.equal(idle, false);
    assert.equal(active.size, 1);
    active.exit();
    await waiting;
    assert.equal(idle, true);
  });
});
