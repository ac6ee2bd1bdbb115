// The request scope (server/call.ts) over a stand-in repository: what every feature service's
// call goes through, in order (draining, name, model, kind, deadline), with the request counted
// and timed once whatever the outcome. The real repository and transports are covered by the
// integration tests.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { parseConfig } from '../../src/config.js';
import { GatewayError } from '../../src/errors.js';
import { Metrics } from '../../src/metrics.js';
import type { ServedVersion } from '../../src/models/served.js';
import { type KindRequirement, RequestScope } from '../../src/server/call.js';
import { metricValue } from '../helpers/gateway.js';

const version = (kind: 'image-classifier' | 'clip', defaultTimeoutMs = 1000): ServedVersion =>
  ({ kind, info: { model: 'm', version: '3', kind, batching: { defaultTimeoutMs } } }) as unknown as ServedVersion;

const CLASSIFIER: KindRequirement<ServedVersion> = {
  is: (served): served is ServedVersion => served.kind === 'image-classifier',
  needs: 'Classify needs an image-classifier',
  hint: 'use ZeroShotClassify for clip models',
};

function setup(served: ServedVersion, config: Record<string, unknown> = {}) {
  const metrics = new Metrics({ processMetrics: false });
  const repository = {
    ready: true,
    has: (name: string) => name === 'm',
    resolve: (name: string) => {
      if (name !== 'm') throw new GatewayError('MODEL_NOT_FOUND', `model "${name}" not found`);
      return served;
    },
  };
  const scope = new RequestScope(repository, parseConfig(config), metrics, pino({ level: 'silent' }));
  const ctx = { protocol: 'grpc' as const, requestId: 'r1' };
  return { scope, metrics, ctx };
}

describe('RequestScope.run()', () => {
  it('runs the work with the resolved version, the model default deadline and the arrival time, and counts one ok', async () => {
    const { scope, metrics, ctx } = setup(version('image-classifier', 1234));
    const got = await scope.run(ctx, 'm', undefined, CLASSIFIER, async (call) => call);
    assert.equal(got.timeoutMs, 1234);
    assert.equal(got.served.info.version, '3');
    assert.ok(got.startedAtMs > 0);
    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_requests_total', { model: 'm', version: '3', protocol: 'grpc', outcome: 'ok' }), 1);
    assert.equal(metricValue(text, 'gateway_request_duration_seconds_count', { model: 'm', protocol: 'grpc' }), 1);
  });

  it("caps the caller's deadline at maxTimeoutMs", async () => {
    const { scope, ctx } = setup(version('image-classifier'), { maxTimeoutMs: 500 });
    assert.equal(await scope.run({ ...ctx, timeoutMs: 10_000 }, 'm', undefined, CLASSIFIER, async (call) => call.timeoutMs), 500);
  });

  it('refuses a model of the wrong kind with the catalog message, counted under its real name', async () => {
    const { scope, metrics, ctx } = setup(version('clip'));
    await assert.rejects(
      scope.run(ctx, 'm', undefined, CLASSIFIER, async () => assert.fail('work must not run')),
      (err: GatewayError) => err.code === 'INVALID_ARGUMENT' && err.message === 'model "m" is a clip model; Classify needs an image-classifier (use ZeroShotClassify for clip models)',
    );
    assert.equal(metricValue(await metrics.registry.metrics(), 'gateway_requests_total', { model: 'm', version: '', outcome: 'INVALID_ARGUMENT' }), 1);
  });

  it('counts an unknown model under one label, and a bad name before any lookup', async () => {
    const { scope, metrics, ctx } = setup(version('image-classifier'));
    await assert.rejects(scope.run(ctx, 'nope', undefined, CLASSIFIER, async () => 1), (err: GatewayError) => err.code === 'MODEL_NOT_FOUND');
    await assert.rejects(scope.run(ctx, '../etc', undefined, CLASSIFIER, async () => 1), (err: GatewayError) => err.code === 'INVALID_ARGUMENT' && /model name/.test(err.message));
    await assert.rejects(scope.run(ctx, 'm', '0', CLASSIFIER, async () => 1), (err: GatewayError) => err.code === 'INVALID_ARGUMENT' && /version "0" is invalid/.test(err.message));
    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_requests_total', { model: '__unknown__', outcome: 'MODEL_NOT_FOUND' }), 1);
    assert.equal(metricValue(text, 'gateway_requests_total', { model: '__unknown__', outcome: 'INVALID_ARGUMENT' }), 1);
  });

  it('refuses everything while draining, and a failure inside the work is counted with its code', async () => {
    const { scope, metrics, ctx } = setup(version('image-classifier'));
    await assert.rejects(
      scope.run(ctx, 'm', undefined, CLASSIFIER, async () => {
        throw new GatewayError('QUEUE_FULL', 'full');
      }),
      (err: GatewayError) => err.code === 'QUEUE_FULL',
    );
    scope.draining = true;
    assert.equal(scope.ready, false);
    await assert.rejects(scope.run(ctx, 'm', undefined, CLASSIFIER, async () => 1), (err: GatewayError) => err.code === 'SHUTTING_DOWN' && err.retryAfterSeconds === 1);
    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, 'gateway_requests_total', { model: 'm', version: '3', outcome: 'QUEUE_FULL' }), 1);
    assert.equal(metricValue(text, 'gateway_requests_total', { model: 'm', outcome: 'SHUTTING_DOWN' }), 1);
  });

  it('wraps an error that is not a GatewayError as INTERNAL', async () => {
    const { scope, ctx } = setup(version('image-classifier'));
    await assert.rejects(
      scope.run(ctx, 'm', undefined, CLASSIFIER, async () => {
        throw new Error('boom');
      }),
      (err: GatewayError) => err instanceof GatewayError && err.code === 'INTERNAL' && /boom/.test(err.message),
    );
  });
});

describe('RequestScope.topK()', () => {
  it('takes the default for none or 0 and refuses one beyond the limit, naming it', () => {
    const { scope } = setup(version('image-classifier'), { defaultTopK: 5, maxTopK: 10 });
    assert.equal(scope.topK(undefined), 5);
    assert.equal(scope.topK(0), 5);
    assert.equal(scope.topK(10), 10);
    assert.throws(() => scope.topK(11), /top_k 11 exceeds the limit of 10/);
    assert.throws(() => scope.topK(1.5), /top_k must be a positive integer/);
  });
});
