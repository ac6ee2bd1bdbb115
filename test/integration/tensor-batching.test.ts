// Kind `tensor` batching and serving policy on the real gateway: rows batched along a dynamic
// first axis only with rows of the same shape, multi-row requests cut at maxBatchSize, padded
// batches of a fixed first dimension, one request per run without a batch axis, every batched
// answer equal element for element to onnxruntime run on that request alone; the response cache
// (tensor and classifier); and deadlines, queue limits, cancellation and metrics as for images.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { FIXTURE_MODELS, type TestGateway, makeRepository, metricValue, postImage, startTestGateway } from '../helpers/gateway.js';
import { solidImage } from '../helpers/images.js';
import { type KServeClient, type Tensor, batches, infer, kserveClient } from '../helpers/kserve.js';
import { waitUntil } from '../helpers/wait.js';

/** Deterministic float32 values (exactly representable), different per seed. */
function values(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed * 7.1 + i * 0.37) * 3));
}

/** onnxruntime called directly on one request alone: the unbatched reference. */
async function direct(file: string, feeds: Record<string, { data: number[]; dims: number[] }>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(join(FIXTURE_MODELS, file, '1', 'model.onnx'));
  try {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', Float32Array.from(v.data), v.dims)])));
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
  } finally {
    await session.release();
  }
}

/** Largest batch a model ran (the batch-size histogram's smallest bucket holding every batch). */
function largestBatchBound(metrics: string, model: string): number {
  const count = batches(metrics, model);
  for (const le of [1, 2, 3, 4, 6, 8, 12, 16]) if (metricValue(metrics, 'gateway_batch_size_bucket', { model, le: String(le) }) === count) return le;
  return Infinity;
}

describe('kind tensor: batching, cache and serving policy', () => {
  let gw: TestGateway;
  let grpcClient: KServeClient;
  let target: { http: string; grpc: KServeClient };
  // Fixed policy with a long delay: concurrent requests surely meet in a batch (a full one leaves at once).
  const gather = { policy: 'fixed', maxQueueDelayMs: 1000 };

  before(async () => {
    const root = await makeRepository([
      { from: join(FIXTURE_MODELS, 'tensor-sequences'), as: 'seq', patch: { batching: { ...gather, maxBatchSize: 4 } } },
      { from: join(FIXTURE_MODELS, 'tiny-detector'), as: 'detector', patch: { batching: { ...gather, maxBatchSize: 8 } } },
      { from: join(FIXTURE_MODELS, 'tiny-detector'), as: 'detector-cached', patch: { responseCache: { maxEntries: 16, maxBytes: 1 << 20 } } },
      { from: join(FIXTURE_MODELS, 'tensor-fixed-batch'), as: 'fixed4', patch: { batching: gather } },
      { from: join(FIXTURE_MODELS, 'matmul') },
      { from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'classifier-cached', patch: { responseCache: { maxEntries: 16, maxBytes: 1 << 20 } } },
      { from: join(FIXTURE_MODELS, 'slow-dynamic'), as: 'slow-tensor' },
      { from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'patient-tensor' },
    ]);
    // An image classifier's graph served as plain tensors: slow enough to hold an instance busy.
    await writeFile(join(root, 'slow-tensor', 'model.json'), JSON.stringify({ kind: 'tensor', batching: { maxBatchSize: 1, maxQueueSize: 4, policy: 'fixed', maxQueueDelayMs: 0 } }));
    await writeFile(join(root, 'patient-tensor', 'model.json'), JSON.stringify({ kind: 'tensor', batching: { maxBatchSize: 8, policy: 'fixed', maxQueueDelayMs: 10_000 } }));
    gw = await startTestGateway(root);
    grpcClient = kserveClient(`127.0.0.1:${gw.gateway.grpcPort}`);
    target = { http: gw.http, grpc: grpcClient };
  });
  after(async () => {
    grpcClient.close();
    await gw.stop();
  });

  it('batches rows of one shape only, cuts multi-row requests at maxBatchSize, and equals the unbatched answers', async () => {
    const requests: { rows: number; length: number }[] = [
      ...Array.from({ length: 6 }, () => ({ rows: 1, length: 3 })),
      { rows: 1, length: 5 },
      { rows: 1, length: 5 },
      { rows: 3, length: 5 },
      { rows: 10, length: 3 },
    ];
    const sent = requests.map(({ rows, length }, i) => ({
      x: { name: 'x', datatype: 'FP32', shape: [rows, length], data: values(rows * length, i) },
      w: { name: 'w', datatype: 'FP32', shape: [rows, length], data: values(rows * length, i + 100) },
    }));
    const answers = await Promise.all(sent.map((r, i) => infer(i % 2 === 0 ? 'http-json' : 'grpc-raw', target, 'seq', [r.x, r.w])));
    for (const [i, r] of sent.entries()) {
      const reference = await direct('tensor-sequences', { x: { data: r.x.data, dims: [...r.x.shape] }, w: { data: r.w.data, dims: [...r.w.shape] } });
      const [y, s] = answers[i]!.outputs;
      assert.deepEqual(y!.shape, r.x.shape);
      assert.deepEqual(s!.shape, [r.x.shape[0]]);
      assert.deepEqual(y!.data, reference['y'], `request ${i} y`);
      assert.deepEqual(s!.data, reference['s'], `request ${i} s`);
    }
    const metrics = await gw.metrics();
    // 21 rows in batches of at most 4, several of them shared.
    assert.equal(metricValue(metrics, 'gateway_batch_size_sum', { model: 'seq' }), 21);
    assert.ok(largestBatchBound(metrics, 'seq') <= 4, 'no batch beyond maxBatchSize');
    assert.ok(batches(metrics, 'seq') < 21, 'rows shared batches');
  });

  it('batched detector answers equal onnxruntime on each request alone, element for element', async () => {
    const images = Array.from({ length: 8 }, (_, i): Tensor => ({ name: 'image', datatype: 'FP32', shape: [1, 3, 16, 16], data: values(768, i + 7) }));
    const before = await gw.metrics();
    const answers = await Promise.all(images.map((image, i) => infer(i % 2 === 0 ? 'http-binary' : 'grpc-typed', target, 'detector', [image])));
    const after = await gw.metrics();
    // The eight met in one batch of 8.
    assert.equal(batches(after, 'detector') - batches(before, 'detector'), 1);
    for (const [i, image] of images.entries()) {
      const reference = await direct('tiny-detector', { image: { data: image.data as number[], dims: [1, 3, 16, 16] } });
      assert.deepEqual(answers[i]!.outputs.map((o) => o.shape), [[1, 4, 4], [1, 4]]);
      assert.deepEqual(answers[i]!.outputs[0]!.data, reference['boxes'], `image ${i} boxes`);
      assert.deepEqual(answers[i]!.outputs[1]!.data, reference['scores'], `image ${i} scores`);
    }
  });

  it('runs a fixed first dimension in padded batches and drops the padding rows', async () => {
    const requests = [1, 3, 2].map((rows, i): Tensor => ({ name: 'x', datatype: 'FP32', shape: [rows, 5], data: values(rows * 5, i + 20) }));
    const answers = await Promise.all(requests.map((x) => infer('http-json', target, 'fixed4', [x])));
    for (const [i, x] of requests.entries()) {
      const rows = x.shape[0]!;
      // The graph alone, on this request's rows padded with zero rows to its fixed batch of 4.
      const padded = [...(x.data as number[]), ...new Array<number>((4 - rows) * 5).fill(0)];
      const reference = await direct('tensor-fixed-batch', { x: { data: padded, dims: [4, 5] } });
      assert.deepEqual(answers[i]!.outputs[0]!.shape, [rows, 2]);
      assert.deepEqual(answers[i]!.outputs[0]!.data, reference['y']!.slice(0, rows * 2), `request ${i}`);
    }
    const metrics = await gw.metrics();
    assert.equal(metricValue(metrics, 'gateway_batch_size_sum', { model: 'fixed4' }), 6);
    assert.ok(largestBatchBound(metrics, 'fixed4') <= 4);
    await assert.rejects(infer('http-json', target, 'fixed4', [{ name: 'x', datatype: 'FP32', shape: [5, 5], data: values(25, 1) }]), (err: Error & { status: number }) => {
      assert.equal(err.status, 400);
      assert.match(err.message, /input \\"x\\" has shape \[5, 5\]; its batch dimension \(dimension 0\) must be from 1 to 4 \(the graph's fixed batch of 4\)/);
      return true;
    });
  });

  it('runs a graph without a batch axis one request per session.run', async () => {
    const b: Tensor = { name: 'b', datatype: 'FP32', shape: [4, 3], data: Array.from({ length: 12 }, (_, i) => i) };
    const as = Array.from({ length: 5 }, (_, k): Tensor => ({ name: 'a', datatype: 'FP32', shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => i * k) }));
    const answers = await Promise.all(as.map((a) => infer('grpc-raw', target, 'matmul', [a, b])));
    for (const [k, a] of as.entries()) {
      const reference = await direct('matmul', { a: { data: a.data as number[], dims: [3, 4] }, b: { data: b.data as number[], dims: [4, 3] } });
      assert.deepEqual(answers[k]!.outputs[0]!.data, reference['c']);
    }
    const metrics = await gw.metrics();
    assert.equal(batches(metrics, 'matmul'), 5);
    assert.equal(largestBatchBound(metrics, 'matmul'), 1);
  });

  describe('response cache', () => {
    const image: Tensor = { name: 'image', datatype: 'FP32', shape: [2, 3, 16, 16], data: values(1536, 3) };
    const labels = { model: 'detector-cached', version: '1' };

    it('answers a repeated tensor request from the cache: identical answers, no session.run', async () => {
      const first = await infer('http-json', target, 'detector-cached', [image]);
      const runs = batches(await gw.metrics(), 'detector-cached');
      const second = await infer('http-json', target, 'detector-cached', [image]);
      // The same tensors over gRPC raw contents: the same key (the cache keys content, not wire form).
      const third = await infer('grpc-raw', target, 'detector-cached', [image]);
      assert.deepEqual(second.outputs, first.outputs);
      assert.deepEqual(third.outputs, first.outputs);
      assert.equal(first.parameters['cached'], undefined);
      assert.equal(second.parameters['cached'], true);
      assert.equal(third.parameters['cached'], true);
      const metrics = await gw.metrics();
      assert.equal(batches(metrics, 'detector-cached'), runs, 'no session.run for the hits');
      assert.equal(metricValue(metrics, 'gateway_response_cache_hits_total', labels), 2);
      assert.equal(metricValue(metrics, 'gateway_response_cache_misses_total', labels), 1);
      assert.equal(metricValue(metrics, 'gateway_response_cache_entries', labels), 1);
      assert.ok(metricValue(metrics, 'gateway_response_cache_bytes', labels) > 2 * 24 * 4);
      // Other requested outputs are another answer: a miss.
      const scores = await infer('http-json', target, 'detector-cached', [image], { outputs: ['scores'] });
      assert.equal(scores.parameters['cached'], undefined);
      assert.deepEqual(scores.outputs, [first.outputs[1]]);
      assert.equal(batches(await gw.metrics(), 'detector-cached'), runs + 1);
    });

    it('a reloaded version never answers from the old version\'s cache', async () => {
      assert.equal((await infer('http-json', target, 'detector-cached', [image])).parameters['cached'], true);
      const before = await gw.metrics();
      // A changed manifest reloads the version: a new instance with an empty cache.
      const manifest = join(gw.modelsDir, 'detector-cached', 'model.json');
      await writeFile(manifest, JSON.stringify({ name: 'detector-cached', kind: 'tensor', description: 'reloaded', responseCache: { maxEntries: 16, maxBytes: 1 << 20 } }));
      await gw.gateway.repository.reload();
      const answer = await infer('http-json', target, 'detector-cached', [image]);
      assert.equal(answer.parameters['cached'], undefined);
      const metrics = await gw.metrics();
      assert.equal(metricValue(metrics, 'gateway_response_cache_hits_total', labels), metricValue(before, 'gateway_response_cache_hits_total', labels));
      assert.equal(metricValue(metrics, 'gateway_response_cache_misses_total', labels), metricValue(before, 'gateway_response_cache_misses_total', labels) + 1);
      assert.equal(metricValue(metrics, 'gateway_response_cache_entries', labels), 1);
      assert.equal((await infer('http-json', target, 'detector-cached', [image])).parameters['cached'], true);
    });

    it('caches classifier answers by image bytes and top_k', async () => {
      const png = await solidImage(32, 32, 'png', [10, 200, 30]);
      const first = await postImage(gw.http, 'model=classifier-cached&top_k=2', png);
      const runs = batches(await gw.metrics(), 'classifier-cached');
      const second = await postImage(gw.http, 'model=classifier-cached&top_k=2', png);
      assert.equal(first.status, 200);
      assert.deepEqual(second.json['labels'], first.json['labels']);
      assert.equal((first.json['timing'] as { cached?: boolean }).cached, undefined);
      assert.equal((second.json['timing'] as { cached?: boolean }).cached, true);
      assert.equal(batches(await gw.metrics(), 'classifier-cached'), runs);
      // Another top_k, or another image, is another answer.
      const third = await postImage(gw.http, 'model=classifier-cached&top_k=3', png);
      assert.equal((third.json['labels'] as unknown[]).length, 3);
      assert.equal((third.json['timing'] as { cached?: boolean }).cached, undefined);
      const grpcAnswer = await gw.client.classify({ model: 'classifier-cached', image: png, top_k: 2 });
      assert.equal((grpcAnswer as unknown as { timing: { cached: boolean } }).timing.cached, true);
      assert.equal(batches(await gw.metrics(), 'classifier-cached'), runs + 1);
    });
  });

  describe('deadlines, queue limits, cancellation and metrics', () => {
    const image = (seed: number): Tensor => ({ name: 'input', datatype: 'FP32', shape: [1, 3, 128, 128], data: values(3 * 128 * 128, seed) });

    it('answers every request once under overload: 429 when the queue is full, the rest served', async () => {
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          infer('http-binary', target, 'slow-tensor', [image(i)]).then(
            (a) => (a.outputs[0]!.shape.join('x') === '1x4' ? 200 : -1),
            (err: { status: number }) => err.status,
          ),
        ),
      );
      assert.ok(outcomes.includes(429), `some refused: ${outcomes.join(',')}`);
      assert.ok(outcomes.includes(200), `some served: ${outcomes.join(',')}`);
      assert.ok(outcomes.every((s) => s === 200 || s === 429), outcomes.join(','));
      const metrics = await gw.metrics();
      assert.equal(metricValue(metrics, 'gateway_requests_total', { model: 'slow-tensor', protocol: 'http-v2', outcome: 'QUEUE_FULL' }), outcomes.filter((s) => s === 429).length);
      assert.equal(metricValue(metrics, 'gateway_requests_total', { model: 'slow-tensor', protocol: 'http-v2', outcome: 'ok' }), outcomes.filter((s) => s === 200).length);
      assert.ok(metricValue(metrics, 'gateway_queue_duration_seconds_count', { model: 'slow-tensor' }) >= outcomes.filter((s) => s === 200).length);
    });

    it('refuses a request that cannot meet its deadline (504 / DEADLINE_EXCEEDED)', async () => {
      // Keep the instance busy, then ask with a deadline shorter than one inference.
      const busy = [1, 2].map((i) => infer('grpc-raw', target, 'slow-tensor', [image(i)]));
      await assert.rejects(infer('http-json', target, 'slow-tensor', [image(3)], { headers: { 'x-request-timeout-ms': '1' } }), (err: { status: number; code: string }) => {
        assert.equal(err.status, 504);
        assert.equal(err.code, 'DEADLINE_EXCEEDED');
        return true;
      });
      await assert.rejects(infer('grpc-raw', target, 'slow-tensor', [image(4)], { headers: { 'x-request-timeout-ms': '1' } }), (err: grpc.ServiceError) => err.code === grpc.status.DEADLINE_EXCEEDED);
      await Promise.all(busy);
    });

    it('a cancelled call leaves the queue before inference', async () => {
      const before = await gw.metrics();
      // The patient model holds a lone request for 10 s waiting for batch-mates, so the call
      // surely waits in the queue when it is cancelled, however loaded the machine is.
      const pending = (): number => gw.gateway.repository.resolve('patient-tensor').pending;
      const request = { model_name: 'patient-tensor', inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '3', '32', '32'] }], raw_input_contents: [Buffer.alloc(3 * 32 * 32 * 4)] };
      let call: grpc.ClientUnaryCall | undefined;
      const cancelled = new Promise<grpc.ServiceError>((resolve) => {
        call = grpcClient['ModelInfer']!(request, new grpc.Metadata(), {}, (err: grpc.ServiceError | null) => resolve(err!)) as grpc.ClientUnaryCall;
      });
      await waitUntil(() => pending() === 1, 'the call to be queued');
      call!.cancel();
      assert.equal((await cancelled).code, grpc.status.CANCELLED);
      // The gateway noticed: the request left the queue, was shed as cancelled, and ran no batch.
      await waitUntil(() => pending() === 0, 'the cancelled call to leave the queue');
      const after = await gw.metrics();
      const shed = (text: string): number => metricValue(text, 'gateway_shed_requests_total', { model: 'patient-tensor', reason: 'cancelled' });
      assert.equal(shed(after) - shed(before), 1);
      assert.equal(batches(after, 'patient-tensor') - batches(before, 'patient-tensor'), 0);
    });
  });
});
