// API keys end to end: unauthenticated and forbidden calls over both transports, per-key rate
// limits with retry-after, open health endpoints, /metrics on its own port, and keys never logged.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../src/logger.js';
import { hashApiKey } from '../../src/server/auth.js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, grpcCode, makeRepository, postImage, startTestGateway } from '../helpers/gateway.js';

const ALICE = 'alice-secret-key-0123456789';
const BOB = 'bob-secret-key-9876543210';

describe('authentication and authorization', () => {
  let gw: TestGateway;
  let image: Buffer;
  const logs: string[] = [];
  before(async () => {
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) });
    gw = await startTestGateway(
      await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }, { from: join(FIXTURE_MODELS, 'mnist-8') }]),
      {
        apiKeys: [
          { name: 'alice', sha256: hashApiKey(ALICE), models: ['*'], requestsPerSecond: 0, burst: 10 },
          { name: 'bob', sha256: hashApiKey(BOB), models: ['tiny-dynamic'], requestsPerSecond: 0.5, burst: 2 },
        ],
        metricsPort: 0,
        logLevel: 'debug',
      },
      { logger: createLogger('debug', sink) },
    );
    image = await solidImage(32, 32);
  });
  after(() => gw.stop());

  it('refuses calls without a key or with a wrong one: UNAUTHENTICATED / 401', async () => {
    const none = await postImage(gw.http, 'model=tiny-dynamic', image);
    assert.equal(none.status, 401);
    assert.match((none.json['error'] as { message: string }).message, /missing credentials/);
    const wrong = await postImage(gw.http, 'model=tiny-dynamic', image, 'image/png', { authorization: 'Bearer not-a-key' });
    assert.equal(wrong.status, 401);
    await assert.rejects(gw.client.classify({ model: 'tiny-dynamic', image }), (err) => grpcCode(err) === grpc.status.UNAUTHENTICATED);
    await assert.rejects(gw.client.classify({ model: 'tiny-dynamic', image }, { apiKey: 'nope' }), (err) => grpcCode(err) === grpc.status.UNAUTHENTICATED);
  });

  it('serves a valid key over both transports', async () => {
    const ok = await postImage(gw.http, 'model=mnist-8', image, 'image/png', { authorization: `Bearer ${ALICE}` });
    assert.equal(ok.status, 200);
    const reply = await gw.client.classify({ model: 'mnist-8', image }, { apiKey: ALICE });
    assert.equal(reply.labels.length, 5);
  });

  it('refuses a model outside the key\'s allowance: PERMISSION_DENIED / 403', async () => {
    const denied = await postImage(gw.http, 'model=mnist-8', image, 'image/png', { authorization: `Bearer ${BOB}` });
    assert.equal(denied.status, 403);
    assert.match((denied.json['error'] as { message: string }).message, /key "bob" may not call model "mnist-8"/);
    const models = (await (await fetch(`${gw.http}/v1/models`, { headers: { authorization: `Bearer ${BOB}` } })).json()) as { models: { name: string }[] };
    assert.deepEqual(models.models.map((m) => m.name), ['tiny-dynamic'], 'bob sees only his models');
  });

  it('rate-limits per key with RESOURCE_EXHAUSTED / 429 and retry-after', async () => {
    // bob's bucket: burst 2, then 0.5 requests/s. The 403 above took one token.
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await postImage(gw.http, 'model=tiny-dynamic', image, 'image/png', { authorization: `Bearer ${BOB}` }));
    const limited = answers.find((a) => a.status === 429);
    assert.ok(limited, `statuses ${answers.map((a) => a.status).join(',')}`);
    assert.equal((limited.json['error'] as { code: string }).code, 'RATE_LIMITED');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    await assert.rejects(gw.client.classify({ model: 'tiny-dynamic', image }, { apiKey: BOB }), (err) => grpcCode(err) === grpc.status.RESOURCE_EXHAUSTED);
    // alice is not affected by bob's limit.
    assert.equal((await postImage(gw.http, 'model=tiny-dynamic', image, 'image/png', { authorization: `Bearer ${ALICE}` })).status, 200);
  });

  it('keeps health open and serves /metrics on its own port only', async () => {
    assert.equal((await fetch(`${gw.http}/healthz`)).status, 200);
    assert.equal((await fetch(`${gw.http}/readyz`)).status, 200);
    assert.equal((await fetch(`${gw.http}/metrics`)).status, 404);
    const metrics = await fetch(`http://127.0.0.1:${gw.gateway.metricsPort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /gateway_requests_total\{[^}]*outcome="UNAUTHENTICATED"/);
  });

  it('never writes a key to the logs', () => {
    const text = logs.join('');
    assert.ok(text.includes('request rejected'), 'debug logs were captured');
    assert.ok(!text.includes(ALICE) && !text.includes(BOB) && !text.includes('not-a-key'));
  });
});
