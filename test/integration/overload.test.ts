// Overload: open-loop arrivals at 5x the measured capacity for 30 s (bounded, loopback only).
// Every request gets exactly one answer; accepted ones finish or get DEADLINE_EXCEEDED, the rest
// are refused with RESOURCE_EXHAUSTED; memory stays bounded; afterwards the queue is empty and
// normal traffic is served in full. Rejection latency is reported, not asserted (shared machine).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { solidImage } from '../helpers/images.js';
import { waitUntil } from '../helpers/wait.js';
import { FIXTURE_MODELS, type TestGateway, grpcCode, makeRepository, startTestGateway } from '../helpers/gateway.js';

const OVERLOAD_SECONDS = 30;
const DEADLINE_MS = 500;

describe('overload', () => {
  let gw: TestGateway;
  let image: Buffer;
  before(async () => {
    gw = await startTestGateway(
      await makeRepository([{ from: join(FIXTURE_MODELS, 'slow-dynamic'), as: 'slow', patch: { batching: { maxBatchSize: 4, maxQueueDelayMs: 2, maxQueueSize: 16 } } }]),
      { intraOpThreads: 1 },
    );
    image = await solidImage(128, 128);
  });
  after(() => gw.stop());

  it(`keeps answering at 5x capacity for ${OVERLOAD_SECONDS} s, and recovers`, async () => {
    // Capacity: closed loop, 8 in flight, 3 s.
    let done = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() - t0 < 3000) {
          await gw.client.classify({ model: 'slow', image });
          done++;
        }
      }),
    );
    const capacity = done / ((performance.now() - t0) / 1000);
    const rate = 5 * capacity;

    const heapBefore = process.memoryUsage().heapUsed;
    const outcomes = new Map<string, number>();
    const rejectionMs: number[] = [];
    let sent = 0;
    let answered = 0;
    const pending: Promise<void>[] = [];
    const start = performance.now();
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const elapsed = performance.now() - start;
        if (elapsed >= OVERLOAD_SECONDS * 1000) return resolve();
        const due = Math.floor((elapsed / 1000) * rate);
        for (; sent < due; sent++) {
          const issuedAt = performance.now();
          pending.push(
            gw.client.classify({ model: 'slow', image }, { deadlineMs: DEADLINE_MS }).then(
              () => {
                answered++;
                outcomes.set('OK', (outcomes.get('OK') ?? 0) + 1);
              },
              (err: unknown) => {
                answered++;
                const code = grpc.status[grpcCode(err)];
                outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
                if (grpcCode(err) === grpc.status.RESOURCE_EXHAUSTED) rejectionMs.push(performance.now() - issuedAt);
              },
            ),
          );
        }
        setTimeout(tick, 5);
      };
      tick();
    });
    await Promise.all(pending);
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 1e6;
    rejectionMs.sort((a, b) => a - b);
    const p99 = rejectionMs[Math.floor(rejectionMs.length * 0.99)] ?? NaN;
    const summary = { capacityPerSecond: capacity.toFixed(1), offeredPerSecond: rate.toFixed(1), sent, outcomes: Object.fromEntries(outcomes), rejectionP99Ms: p99.toFixed(1), heapGrowthMb: heapGrowthMb.toFixed(1) };
    console.log(`# overload: ${JSON.stringify(summary)}`);

    assert.equal(answered, sent, 'every request gets exactly one answer');
    assert.deepEqual([...outcomes.keys()].filter((k) => !['OK', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED'].includes(k)), [], JSON.stringify(summary));
    assert.ok((outcomes.get('OK') ?? 0) > 0 && (outcomes.get('RESOURCE_EXHAUSTED') ?? 0) > 0, JSON.stringify(summary));
    assert.ok(heapGrowthMb < 200, `heap grew ${heapGrowthMb.toFixed(0)} MB under overload`);

    // Recovery: the queue drains (a client that gave up at its deadline may be answered before the
    // server drops its request from a batch in flight), and normal load is served in full.
    await waitUntil(() => gw.gateway.repository.pending === 0, `the queue to drain (${gw.gateway.repository.pending} pending)`);
    const after = await Promise.all(Array.from({ length: 8 }, () => gw.client.classify({ model: 'slow', image })));
    assert.equal(after.length, 8);
  });
});
