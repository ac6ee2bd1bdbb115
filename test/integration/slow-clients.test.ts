// Slow and broken clients: a slow-loris HTTP body is cut off at the configured request timeout,
// and a ClassifyStream client that stops reading is stopped being read from (flow control)
// without delaying anyone else.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, metricValue, postImage, startTestGateway } from '../helpers/gateway.js';
import { waitUntil } from '../helpers/wait.js';
import { STREAM_MAX_IN_FLIGHT } from '../../src/server/grpc-classify.js';

describe('slow and broken clients', () => {
  let gw: TestGateway;
  let image: Buffer;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic'), patch: { batching: { maxQueueSize: 512 } } }]), { httpRequestTimeoutMs: 800 });
    image = await solidImage(32, 32);
  });
  after(() => gw.stop());

  it('cuts off a slow-loris body at the request timeout and keeps serving others', async () => {
    const socket = connect(gw.gateway.httpPort, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /v1/classify?model=tiny-dynamic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const dribble = setInterval(() => socket.writable && socket.write('x'), 100);
    try {
      // Another client is served while the slow one dribbles.
      const other = await postImage(gw.http, 'model=tiny-dynamic', image);
      assert.equal(other.status, 200);
      // Bounded wait: the server must end the connection on its own well before this.
      const outcome = await Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 10_000))]);
      assert.equal(outcome, 'closed');
      assert.match(received, /^HTTP\/1\.1 408/);
    } finally {
      clearInterval(dribble);
      socket.destroy();
    }
  });

  it('stops reading from a stream client that does not read its answers, without blocking others', async () => {
    const call = gw.client.raw['ClassifyStream']!() as grpc.ClientDuplexStream<object, { id: string }>;
    const answers: string[] = [];
    call.on('data', (a: { id: string }) => answers.push(a.id));
    const done = new Promise<void>((resolve, reject) => {
      call.on('end', resolve);
      call.on('error', reject);
    });
    call.pause(); // a client that stops reading its answers
    // Far more answer bytes than the client's HTTP/2 windows (64 KiB per stream and per connection)
    // and both sides' stream buffers hold: a gateway without flow control answers them all.
    const total = 4000;
    const processed = async (): Promise<number> => metricValue(await gw.metrics(), 'gateway_requests_total', { protocol: 'grpc', outcome: 'ok' });
    const start = await processed();
    try {
      for (let i = 0; i < total; i++) call.write({ id: String(i), request: { model: 'tiny-dynamic', image } });
      call.end();
      // Wait for the gateway to stop on its own: the count holds still for a second. However
      // slow the machine, a gateway that kept reading would go on to all `total` requests.
      let last = -1;
      let stillSince = Date.now();
      await waitUntil(async () => {
        const now = await processed();
        if (now !== last) [last, stillSince] = [now, Date.now()];
        return now - start >= total || (now > start && Date.now() - stillSince >= 1000);
      }, 'the stream to stall or finish', 120_000);
      const stalledAt = last - start;
      console.log(`# the stalled stream stopped at ${stalledAt} of ${total} answers`);
      assert.ok(stalledAt < total / 2, `the gateway kept reading a stream nobody reads: processed ${stalledAt} of ${total}`);
      assert.ok(gw.gateway.repository.pending <= STREAM_MAX_IN_FLIGHT, `the stalled stream has ${gw.gateway.repository.pending} requests in the gateway`);
      // Meanwhile other clients are served at once.
      const others = await Promise.all(Array.from({ length: 20 }, () => gw.client.classify({ model: 'tiny-dynamic', image })));
      assert.equal(others.length, 20);
      call.resume();
      await done;
      assert.equal(answers.length, total);
      assert.equal(new Set(answers).size, total);
    } finally {
      call.cancel(); // a failed assertion must not leave a paused stream holding the process open
    }
  });
});
