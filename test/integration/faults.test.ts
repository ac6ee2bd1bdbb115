// Model faults against the real engine: a graph whose session.run fails on batches larger than
// one. Failed batches answer INTERNAL with a request id in the log, the model keeps serving,
// turns unhealthy after repeated failures, and heals on the next successful run.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../src/logger.js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, grpcCode, makeRepository, metricValue, postImage, startTestGateway } from '../helpers/gateway.js';

describe('model faults', () => {
  let gw: TestGateway;
  let image: Buffer;
  const logs: string[] = [];
  const health = async (): Promise<{ healthy: boolean; last_error: string }> => {
    const { models } = await gw.client.listModels();
    return (models.find((m) => m['name'] === 'fails-on-batches') as { versions: { healthy: boolean; last_error: string }[] }).versions[0]!;
  };

  before(async () => {
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) });
    // No warm-up: the warm-up's full batch would fail the load of this deliberately broken graph.
    gw = await startTestGateway(await makeRepository([
        // fixed policy: concurrent requests wait 50 ms for each other, so they form the batches that fail.
        { from: join(FIXTURE_MODELS, 'fails-on-batches'), patch: { batching: { policy: 'fixed', maxQueueDelayMs: 50 } } },
        { from: join(FIXTURE_MODELS, 'tiny-dynamic') },
      ]), { warmup: false, logLevel: 'info' }, { logger: createLogger('info', sink) });
    image = await solidImage(32, 32);
  });
  after(() => gw.stop());

  it('fails a batch whose session.run fails with INTERNAL for each request, request ids logged', async () => {
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => postImage(gw.http, 'model=fails-on-batches', image, 'image/png', { 'x-request-id': `fault-${i}` })));
    assert.deepEqual(answers.map((a) => a.status), [500, 500, 500, 500]);
    assert.equal((answers[0]!.json['error'] as { code: string }).code, 'INFERENCE_FAILED');
    assert.match((answers[0]!.json['error'] as { message: string }).message, /inference failed for a batch of 4/);
    const text = logs.join('');
    for (let i = 0; i < 4; i++) assert.ok(text.includes(`"requestId":"fault-${i}"`), `request id fault-${i} not logged`);
    await assert.rejects(Promise.all(Array.from({ length: 3 }, () => gw.client.classify({ model: 'fails-on-batches', image }))), (err) => grpcCode(err) === grpc.status.INTERNAL);
  });

  it('keeps serving: a batch of one still succeeds, and other models are unaffected', async () => {
    const alone = await postImage(gw.http, 'model=fails-on-batches', image);
    assert.equal(alone.status, 200);
    assert.equal((await postImage(gw.http, 'model=tiny-dynamic', image)).status, 200);
  });

  it('turns unhealthy after repeated failed batches and heals on the next success', async () => {
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 3 }, () => postImage(gw.http, 'model=fails-on-batches', image)));
    }
    const sick = await health();
    assert.equal(sick.healthy, false);
    assert.match(sick.last_error, /Gemm|Dimension mismatch|inference failed/);
    assert.equal(metricValue(await gw.metrics(), 'gateway_model_healthy', { model: 'fails-on-batches' }), 0);
    assert.ok(logs.join('').includes('model version unhealthy'));

    assert.equal((await postImage(gw.http, 'model=fails-on-batches', image)).status, 200);
    assert.equal((await health()).healthy, true);
    assert.equal(metricValue(await gw.metrics(), 'gateway_model_healthy', { model: 'fails-on-batches' }), 1);
    assert.ok(metricValue(await gw.metrics(), 'gateway_batch_failures_total', { model: 'fails-on-batches' }) >= 5);
  });
});
