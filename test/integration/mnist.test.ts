// A real third-party model: ONNX Model Zoo MNIST (fixed batch of 1, no dynamic batch axis),
// served from a fixture manifest. Digits drawn by the test are classified over both transports,
// and concurrent requests are run one per batch because the graph cannot take more.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { digitPng } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, metricValue, postImage, startTestGateway } from '../helpers/gateway.js';

describe('MNIST (fixed batch axis) served from a fixture manifest', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'mnist-8'), patch: { batching: { maxBatchSize: 16, maxQueueDelayMs: 5 } } }]));
  });
  after(() => gw.stop());

  it('caps batching at the graph batch dimension and says so in ListModels', async () => {
    const { models } = await gw.client.listModels();
    const mnist = models.find((m) => m['name'] === 'mnist-8') as { state: string; versions: { batching: { max_batch_size: number }; execution_provider: string }[] };
    assert.equal(mnist.state, 'READY');
    assert.equal(mnist.versions[0]!.batching.max_batch_size, 1);
    assert.equal(mnist.versions[0]!.execution_provider, 'cpu');
  });

  it('classifies every drawn digit correctly over gRPC', async () => {
    for (let d = 0; d < 10; d++) {
      const reply = await gw.client.classify({ model: 'mnist-8', image: await digitPng(d), top_k: 3 });
      assert.equal(reply.labels[0]!.label, String(d), `digit ${d} classified as ${reply.labels[0]!.label}`);
      assert.equal(reply.labels.length, 3);
      assert.equal(reply.version, '1');
    }
  });

  it('classifies larger drawings over HTTP (resized to 28x28)', async () => {
    for (const d of [0, 3, 7, 8]) {
      const { status, json } = await postImage(gw.http, 'model=mnist-8&top_k=1', await digitPng(d, 112));
      assert.equal(status, 200);
      assert.equal((json['labels'] as { label: string }[])[0]!.label, String(d));
    }
  });

  it('answers 40 concurrent requests correctly, one item per run', async () => {
    const images = await Promise.all(Array.from({ length: 40 }, (_, i) => digitPng(i % 10)));
    const replies = await Promise.all(images.map((image) => gw.client.classify({ model: 'mnist-8', image, top_k: 1 })));
    replies.forEach((r, i) => {
      assert.equal(r.labels[0]!.label, String(i % 10));
      assert.equal(r.batch_size, 1);
    });
    const text = await gw.metrics();
    assert.equal(metricValue(text, 'gateway_batch_size_bucket', { model: 'mnist-8', le: '1' }), metricValue(text, 'gateway_batch_size_count', { model: 'mnist-8' }));
  });
});
