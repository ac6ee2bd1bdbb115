// Dynamic batching against the real engine: concurrent requests share batches, a corrupt image
// fails alone, a full queue refuses at once, deadlines shed before inference (HTTP header and
// gRPC deadline), deadline pressure dispatches before the queue delay, a burst beyond what can be
// decoded in time is refused before decoding, and cancelled calls leave the queue. Fixture
// graphs have random weights: these tests are about mechanics, not accuracy.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { solidImage } from '../helpers/images.js';
import { waitUntil } from '../helpers/wait.js';
import { FIXTURE_MODELS, type TestGateway, grpcCode, makeRepository, metricValue, postImage, startTestGateway } from '../helpers/gateway.js';

describe('dynamic batching', () => {
  let gw: TestGateway;
  let image: Buffer;
  // Exact and synchronous (the metrics endpoint is too slow to catch a 30 ms window).
  const pending = async (model: string): Promise<number> => gw.gateway.repository.resolve(model).pending;
  const batches = async (model: string): Promise<number> => metricValue(await gw.metrics(), 'gateway_batch_size_count', { model });

  before(async () => {
    const tiny = join(FIXTURE_MODELS, 'tiny-dynamic');
    const slow = join(FIXTURE_MODELS, 'slow-dynamic');
    gw = await startTestGateway(
      await makeRepository([
        // fixed: concurrent requests wait 200 ms / 5 s for companions whatever the load.
        { from: tiny, as: 'tiny', patch: { batching: { policy: 'fixed', maxBatchSize: 8, maxQueueDelayMs: 200 } } },
        { from: tiny, as: 'tiny-patient', patch: { batching: { policy: 'fixed', maxBatchSize: 8, maxQueueDelayMs: 5000 } } },
        { from: tiny, as: 'tiny-adaptive', patch: { batching: { policy: 'adaptive', maxBatchSize: 8, maxQueueDelayMs: 5000 } } },
        { from: slow, as: 'slow', patch: { batching: { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 2 } } },
        { from: slow, as: 'slow-deep', patch: { batching: { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 16 } } },
        { from: tiny, as: 'tiny-burst', patch: { batching: { policy: 'adaptive', maxBatchSize: 8, maxQueueDelayMs: 2, maxQueueSize: 512 } } },
      ]),
    );
    image = await solidImage(48, 40, 'png');
  });
  after(() => gw.stop());

  it('puts concurrent requests into shared batches', async () => {
    const replies = await Promise.all(Array.from({ length: 32 }, () => gw.client.classify({ model: 'tiny', image })));
    assert.ok(replies.some((r) => r.batch_size > 1), `batch sizes ${replies.map((r) => r.batch_size).join(',')}`);
    const text = await gw.metrics();
    const count = metricValue(text, 'gateway_batch_size_count', { model: 'tiny' });
    const sum = metricValue(text, 'gateway_batch_size_sum', { model: 'tiny' });
    assert.equal(sum, 32);
    assert.ok(sum / count > 1, `mean batch ${sum / count}`);
    assert.ok(replies.every((r) => r.batch_size <= 8));
  });

  it('fails a corrupt image alone while the valid ones in its batch succeed', async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => (i === 3 ? Buffer.from('\x89PNG\r\n\x1a\n corrupt') : image));
    const answers = await Promise.all(bodies.map((b) => postImage(gw.http, 'model=tiny', b)));
    assert.equal(answers[3]!.status, 400);
    assert.equal((answers[3]!.json['error'] as { code: string }).code, 'INVALID_IMAGE');
    const ok = answers.filter((_, i) => i !== 3);
    assert.ok(ok.every((a) => a.status === 200));
    assert.ok(ok.some((a) => (a.json['batch_size'] as number) > 1), 'valid images did not share a batch');
  });

  it('fixed policy: a deadline shorter than maxQueueDelayMs expires in the queue (DEADLINE_EXCEEDED / 504)', async () => {
    const { status, json } = await postImage(gw.http, 'model=tiny-patient', image, 'image/png', { 'x-request-timeout-ms': '300' });
    assert.equal(status, 504);
    assert.equal((json['error'] as { code: string }).code, 'DEADLINE_EXCEEDED');
  });

  it('adaptive policy: a lone request at light load is not held for maxQueueDelayMs', async () => {
    // No deadline pressure (the 10 s model default): only the load rule can dispatch before 5 s.
    const { status, json } = await postImage(gw.http, 'model=tiny-adaptive', image);
    assert.equal(status, 200);
    const queueMs = (json['timing'] as { queueMs: number }).queueMs;
    assert.ok(queueMs < 2500, `queued ${queueMs} ms of the 5000 ms maxQueueDelayMs`);
  });

  it('refuses at once with RESOURCE_EXHAUSTED / 429 when the queue is full', async () => {
    const big = await solidImage(128, 128, 'png');
    const answers = await Promise.all(Array.from({ length: 8 }, () => postImage(gw.http, 'model=slow', big)));
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.every((s) => s === 200 || s === 429), `statuses ${statuses.join(',')}`);
    const refused = answers.filter((a) => a.status === 429);
    assert.ok(refused.length >= 1, `statuses ${statuses.join(',')}`);
    assert.match((refused[0]!.json['error'] as { message: string }).message, /maxQueueSize 2/);
    assert.equal(refused[0]!.headers.get('retry-after'), '1');
    await assert.rejects(
      Promise.all(Array.from({ length: 8 }, () => gw.client.classify({ model: 'slow', image: big }))),
      (err) => grpcCode(err) === grpc.status.RESOURCE_EXHAUSTED,
    );
    await waitUntil(async () => (await pending('slow')) === 0, 'slow queue to empty');
  });

  it('sheds a request whose deadline passes while it waits (HTTP x-request-timeout-ms -> 504)', async () => {
    const big = await solidImage(128, 128, 'png');
    const before = await batches('slow-deep');
    // Four requests ahead hold the only instance for several inference times.
    const ahead = Array.from({ length: 4 }, () => postImage(gw.http, 'model=slow-deep', big));
    await waitUntil(async () => (await pending('slow-deep')) >= 2, 'requests ahead to queue');
    const late = await postImage(gw.http, 'model=slow-deep', big, 'image/png', { 'x-request-timeout-ms': '20' });
    assert.equal(late.status, 504);
    assert.equal((late.json['error'] as { code: string }).code, 'DEADLINE_EXCEEDED');
    assert.match((late.json['error'] as { message: string }).message, /deadline of 20 ms cannot be met/);
    assert.ok((await Promise.all(ahead)).every((a) => a.status === 200));
    assert.equal((await batches('slow-deep')) - before, 4, 'the shed request reached the engine');
    assert.ok(metricValue(await gw.metrics(), 'gateway_shed_requests_total', { model: 'slow-deep', reason: 'deadline' }) >= 1);
  });

  it('adaptive: a burst that cannot all be decoded in time is answered in full; the hopeless are refused before decoding', async (t) => {
    // A 4000x4000 lossless WebP of one colour is under 1 KB on the wire, so the whole burst reaches
    // the gateway at once (a PNG of the same pixels is ~50 KB, and uploading a burst of those from
    // this process spread the arrivals over hundreds of ms), but it takes tens of ms to decode, and
    // only DECODE_PLACES decode at once. The deadline and the burst are sized from this machine's
    // decode time, measured now, under whatever else it runs: the deadline leaves the head of the
    // line several decodes of slack, and the burst is six times what every core could decode
    // within it, so most of it cannot make it.
    const heavy = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: '#336699' } })
      .webp({ lossless: true })
      .toBuffer();
    // The gateway's own preprocessing time of this image (timing.preprocessMs of a lone request):
    // libvips may shrink on load, so a decode in this process would not say what the gateway spends.
    const decodes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const lone = await postImage(gw.http, 'model=tiny-burst', heavy, 'image/webp');
      assert.equal(lone.status, 200);
      decodes.push((lone.json['timing'] as { preprocessMs: number }).preprocessMs);
    }
    const decodeMs = Math.max(...decodes.slice(1));
    const deadlineMs = Math.max(200, Math.ceil(8 * decodeMs));
    const burst = Math.min(400, Math.max(96, Math.ceil((6 * deadlineMs * availableParallelism()) / decodeMs)));
    const answers = await Promise.all(Array.from({ length: burst }, () => postImage(gw.http, 'model=tiny-burst', heavy, 'image/webp', { 'x-request-timeout-ms': String(deadlineMs) })));
    const statuses = answers.map((a) => a.status);
    const context = `burst ${burst}, deadline ${deadlineMs} ms, decode ${decodeMs.toFixed(1)} ms`;
    assert.ok(statuses.every((s) => s === 200 || s === 504), `${context}: statuses ${statuses.join(',')}`);
    assert.ok(statuses.includes(200), `${context}: the first requests in line should have made their deadline: ${answers.slice(0, 8).map((a) => JSON.stringify(a.json['error'] ?? a.status)).join(' ')}`);
    // The hopeless are refused before any decode is spent on them: at admission once the decode
    // line has a measured wait, or when their place in the line comes (the first of a burst are
    // admitted before the line has a history); which of the two depends on how the arrivals spread.
    const refused = answers.filter((a) => a.status === 504).map((a) => a.json['error'] as { code: string; message: string });
    assert.ok(refused.every((e) => e.code === 'DEADLINE_EXCEEDED'), `${context}: ${JSON.stringify(refused)}`);
    const early = refused.filter((e) => / refused before preprocessing$/.test(e.message));
    assert.ok(early.length > 0, `${context}: no request was refused before decoding: ${JSON.stringify(refused)}`);
    assert.match(early[0]!.message, new RegExp(`^deadline of ${deadlineMs} ms cannot be met at (admission|preprocess turn) \\(\\d+ ms elapsed, about [\\d.]+ ms still needed: .*\\); refused before preprocessing$`));
    const at = (stage: string): number => early.filter((e) => e.message.includes(`cannot be met at ${stage}`)).length;
    t.diagnostic(`${context}: ${statuses.filter((s) => s === 200).length} ok, refused before decoding ${at('admission')} at admission and ${at('preprocess turn')} at their turn, ${refused.length - early.length} later`);
    await waitUntil(async () => (await pending('tiny-burst')) === 0, 'burst to drain');
    const after = await postImage(gw.http, 'model=tiny-burst', image);
    assert.equal(after.status, 200, 'serves normally after the burst');
  });

  it('honours the gRPC deadline: the call fails DEADLINE_EXCEEDED and never runs', async () => {
    const big = await solidImage(128, 128, 'png');
    const before = await batches('slow-deep');
    const ahead = Array.from({ length: 4 }, () => gw.client.classify({ model: 'slow-deep', image: big }));
    await waitUntil(async () => (await pending('slow-deep')) >= 2, 'requests ahead to queue');
    await assert.rejects(gw.client.classify({ model: 'slow-deep', image: big }, { deadlineMs: 20 }), (err) => grpcCode(err) === grpc.status.DEADLINE_EXCEEDED);
    await Promise.all(ahead);
    await waitUntil(async () => (await pending('slow-deep')) === 0, 'queue to empty');
    assert.equal((await batches('slow-deep')) - before, 4);
  });

  it('removes a cancelled gRPC call from the queue', async () => {
    const before = await batches('tiny-patient');
    const call = gw.client.classifyCall({ model: 'tiny-patient', image }, () => {});
    await waitUntil(async () => (await pending('tiny-patient')) === 1, 'call to be queued');
    call.cancel();
    await waitUntil(async () => (await pending('tiny-patient')) === 0, 'cancelled call to leave the queue');
    assert.equal(await batches('tiny-patient'), before);
    assert.ok(metricValue(await gw.metrics(), 'gateway_shed_requests_total', { model: 'tiny-patient', reason: 'cancelled' }) >= 1);
  });

  it('removes a request from the queue when its HTTP client disconnects', async () => {
    const before = await batches('tiny-patient');
    const abort = new AbortController();
    const request = fetch(`${gw.http}/v1/classify?model=tiny-patient`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: image as BodyInit, signal: abort.signal });
    request.catch(() => {});
    await waitUntil(async () => (await pending('tiny-patient')) === 1, 'request to be queued');
    abort.abort();
    await waitUntil(async () => (await pending('tiny-patient')) === 0, 'request to leave the queue');
    assert.equal(await batches('tiny-patient'), before);
  });

  it('streams many images on one ClassifyStream call, answers tagged, errors in-band', async () => {
    const call = gw.client.raw['ClassifyStream']!() as grpc.ClientDuplexStream<object, { id: string; response?: { batch_size: number }; error?: { reason: string } }>;
    const answers: { id: string; response?: { batch_size: number }; error?: { reason: string } }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (a: (typeof answers)[number]) => answers.push(a));
      call.on('end', resolve);
      call.on('error', reject);
    });
    for (let i = 0; i < 20; i++) call.write({ id: `img-${i}`, request: { model: 'tiny', image: i === 5 ? Buffer.from('nope') : image } });
    call.end();
    await done;
    assert.equal(answers.length, 20);
    assert.deepEqual(new Set(answers.map((a) => a.id)).size, 20);
    const failed = answers.filter((a) => a.error);
    assert.deepEqual(failed.map((a) => [a.id, a.error!.reason]), [['img-5', 'INVALID_IMAGE']]);
    assert.ok(answers.some((a) => (a.response?.batch_size ?? 0) > 1), 'stream items did not batch');
  });
});
