// Readiness transitions in-process: not ready while models load, ready after, and on shutdown
// readiness drops at once, new requests get UNAVAILABLE / 503 with a retry hint, while a request
// already queued still gets its answer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, grpcCode, makeRepository, postImage, startTestGateway } from '../helpers/gateway.js';
import { waitUntil } from '../helpers/wait.js';

describe('readiness and drain', () => {
  it('turns ready after loading, and drains on shutdown without losing a queued request', async () => {
    const root = await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'patient', patch: { batching: { policy: 'fixed', maxBatchSize: 8, maxQueueDelayMs: 600 } } }]);
    const gw = await startTestGateway(root, {}, { waitLoaded: false });
    try {
      assert.equal(gw.gateway.services.scope.ready, false, 'ready before models loaded');
      await gw.gateway.loaded;
      assert.equal(gw.gateway.services.scope.ready, true);
      assert.equal((await fetch(`${gw.http}/readyz`)).status, 200);

      const image = await solidImage(32, 32);
      const queued = postImage(gw.http, 'model=patient', image); // waits up to 600 ms for companions
      const grpcQueued = gw.client.classify({ model: 'patient', image });
      await waitUntil(() => gw.gateway.repository.pending >= 2, 'both requests to be queued');

      const shutdown = gw.gateway.shutdown();
      assert.equal(gw.gateway.services.scope.ready, false);
      const ready = await fetch(`${gw.http}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal(ready.headers.get('connection'), 'close', 'keep-alive clients are told to go away while draining');
      const refused = await postImage(gw.http, 'model=patient', image);
      assert.equal(refused.status, 503);
      assert.equal((refused.json['error'] as { code: string }).code, 'SHUTTING_DOWN');
      assert.equal(refused.headers.get('retry-after'), '1');
      await assert.rejects(gw.client.classify({ model: 'patient', image }), (err) => grpcCode(err) === grpc.status.UNAVAILABLE);

      const answer = await queued;
      assert.equal(answer.status, 200, 'queued request lost during drain');
      assert.equal((await grpcQueued).labels.length, 4);
      await shutdown;
    } finally {
      await gw.stop();
    }
  });
});
