// The batching driver with a fake clock and mocked timers: batch formation, the runner's
// one-result-per-item contract, queue-full, cancellation and deadline shedding. No sleeps.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Batcher } from '../../src/batching/batcher.js';
import { RecentMinimum } from '../../src/batching/recent-minimum.js';
import { LatencyModel } from '../../src/batching/latency.js';
import type { BatchingConfig } from '../../src/batching/policy.js';
import { GatewayError } from '../../src/errors.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const config: BatchingConfig = { policy: 'adaptive', maxBatchSize: 4, maxQueueDelayMs: 5, preferredBatchSizes: [], maxQueueSize: 6, instances: 1 };

describe('Batcher', () => {
  let now = 0;
  let calls: { items: readonly number[]; done: Deferred<readonly string[]> }[];
  const clock = (): number => now;
  const advance = (ms: number): void => {
    now += ms;
    mock.timers.tick(ms);
  };
  const runner = (items: readonly number[]): Promise<readonly string[]> => {
    const done = deferred<readonly string[]>();
    calls.push({ items, done });
    return done.promise;
  };
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  /** Lets the batcher run the policy it deferred to the end of the synchronous burst of submits. */
  const settle = (): Promise<void> => Promise.resolve();

  beforeEach(() => {
    now = 1000;
    calls = [];
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => mock.timers.reset());

  it('forms each batch from one group only (the oldest item\'s); the others keep their places', async () => {
    const b = new Batcher<number, string>({ ...config, instances: 2, maxQueueSize: 16 }, runner, { clock, groupOf: (n) => (n % 2 === 0 ? 'even' : 'odd') });
    const answers = [1, 2, 3, 4, 5, 6].map((n) => b.submit(n));
    await settle();
    // Two instances: the odd group (oldest first) goes to one, the even group to the other.
    assert.deepEqual(
      calls.map((c) => c.items),
      [
        [1, 3, 5],
        [2, 4, 6],
      ],
    );
    calls[0]!.done.resolve(['1', '3', '5']);
    calls[1]!.done.resolve(['2', '4', '6']);
    const results = await Promise.all(answers);
    assert.deepEqual(results.map((r) => r.result), ['1', '2', '3', '4', '5', '6']);
    assert.deepEqual(results.map((r) => r.batchSize), [3, 3, 3, 3, 3, 3]);
  });

  it('a group never exceeds maxBatchSize and the passed-over items keep their order', async () => {
    const b = new Batcher<number, string>({ ...config, maxQueueSize: 16 }, runner, { clock, groupOf: (n) => String(Math.floor(n / 10)) });
    const answers = [11, 22, 13, 14, 15, 16, 27].map((n) => b.submit(n));
    await settle();
    assert.deepEqual(calls.map((c) => c.items), [[11, 13, 14, 15]]);
    calls[0]!.done.resolve(['', '', '', '']);
    await flush();
    assert.deepEqual(calls[1]!.items, [22, 27]);
    calls[1]!.done.resolve(['', '']);
    await flush();
    assert.deepEqual(calls[2]!.items, [16]);
    calls[2]!.done.resolve(['']);
    await Promise.all(answers);
  });

  it('dispatches a full batch at once and answers each waiter with its own result', async () => {
    const b = new Batcher<number, string>(config, runner, { clock });
    const answers = [1, 2, 3, 4].map((n) => b.submit(n));
    await settle();
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.items, [1, 2, 3, 4]);
    calls[0]!.done.resolve(['a', 'b', 'c', 'd']);
    const results = await Promise.all(answers);
    assert.deepEqual(results.map((r) => r.result), ['a', 'b', 'c', 'd']);
    assert.ok(results.every((r) => r.batchSize === 4));
  });

  it('waits maxQueueDelayMs for companions, then dispatches the partial batch', async () => {
    const b = new Batcher<number, string>(config, runner, { clock });
    b.setIncoming(1); // a companion is being decoded: the adaptive policy waits for it, up to the delay
    const answers = [b.submit(1), b.submit(2)];
    await settle();
    advance(4);
    assert.equal(calls.length, 0, 'dispatched before the delay ran out');
    advance(1);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.items, [1, 2]);
    calls[0]!.done.resolve(['x', 'y']);
    assert.deepEqual((await Promise.all(answers)).map((r) => r.queueMs), [5, 5]);
  });

  it('refuses at once with QUEUE_FULL past maxQueueSize', async () => {
    const b = new Batcher<number, string>({ ...config, maxBatchSize: 100, maxQueueDelayMs: 1000 }, runner, { clock });
    b.setIncoming(1); // more on the way: the batch waits for the delay, so the queue fills
    const accepted = Array.from({ length: 6 }, (_, i) => b.submit(i));
    await settle();
    await assert.rejects(b.submit(99), (err: GatewayError) => err.code === 'QUEUE_FULL' && /maxQueueSize 6/.test(err.message));
    assert.equal(b.pending, 6);
    advance(1000);
    calls[0]!.done.resolve(['0', '1', '2', '3', '4', '5']);
    assert.equal((await Promise.all(accepted)).length, 6);
  });

  it('fails every waiter when the runner returns the wrong number of results', async () => {
    const b = new Batcher<number, string>(config, runner, { clock });
    const answers = [1, 2, 3, 4].map((n) => b.submit(n));
    await settle();
    calls[0]!.done.resolve(['only one']);
    for (const a of answers) await assert.rejects(a, (err: GatewayError) => err.code === 'INFERENCE_FAILED' && /1 results for 4/.test(err.message));
    assert.equal(b.pending, 0);
  });

  it('rejects each waiter of a failed batch with the same error, then keeps serving', async () => {
    const b = new Batcher<number, string>(config, runner, { clock });
    const answers = [1, 2, 3, 4].map((n) => b.submit(n));
    await settle();
    calls[0]!.done.reject(new Error('session exploded'));
    const errors = await Promise.all(answers.map((a) => a.then(() => undefined, (e: unknown) => e)));
    assert.ok(errors.every((e) => e === errors[0] && (e as GatewayError).code === 'INFERENCE_FAILED'));
    const next = [5, 6, 7, 8].map((n) => b.submit(n));
    await settle();
    calls[1]!.done.resolve(['e', 'f', 'g', 'h']);
    assert.equal((await Promise.all(next)).length, 4);
  });

  it('removes a cancelled request from the queue before inference', async () => {
    const b = new Batcher<number, string>(config, runner, { clock });
    const abort = new AbortController();
    const kept = b.submit(1);
    const cancelled = b.submit(2, { signal: abort.signal });
    abort.abort();
    await assert.rejects(cancelled, (err: GatewayError) => err.code === 'CANCELLED');
    assert.equal(b.pending, 1);
    await settle();
    advance(5);
    assert.deepEqual(calls[0]!.items, [1]);
    calls[0]!.done.resolve(['one']);
    assert.equal((await kept).result, 'one');
  });

  it('sheds a queued request that can no longer meet its deadline, without running it', async () => {
    const latency = new LatencyModel();
    latency.observe(1, 10);
    latency.observe(4, 10); // ~10 ms per batch whatever its size
    const b = new Batcher<number, string>({ ...config, maxBatchSize: 1 }, runner, { clock, latency });
    const first = b.submit(1); // occupies the only instance
    const late = b.submit(2, { timeoutMs: 15 });
    late.catch(() => {}); // observed below; keeps the early rejection from counting as unhandled
    await settle();
    assert.equal(calls.length, 1);
    advance(6); // now 9 ms left, but a run takes 10: hopeless
    await flush();
    await assert.rejects(late, (err: GatewayError) => err.code === 'DEADLINE_EXCEEDED' && /^deadline of 15 ms cannot be met at queue \(6 ms elapsed, about [\d.]+ ms still needed: [\d.]+ ms inference\); dropped before inference$/.test(err.message));
    calls[0]!.done.resolve(['first']);
    await first;
    await flush();
    assert.equal(calls.length, 1, 'the shed request reached the runner');
  });

  it('sheds at dispatch a queued request the batch would finish too late for, and runs the rest', async () => {
    const latency = new LatencyModel();
    latency.observe(1, 10);
    latency.observe(2, 14); // 6 ms + 4 ms per item
    const b = new Batcher<number, string>({ ...config, maxBatchSize: 2 }, runner, { clock, latency });
    const first = b.submit(1); // light load: runs at once, alone
    await settle();
    const second = b.submit(2);
    const tighter = b.submit(3, { timeoutMs: 22 }); // next batch of 2 starts at 10, ends at 24 > 22: hopeless
    const tight = b.submit(4, { timeoutMs: 30 });
    tighter.catch(() => {});
    await settle();
    assert.deepEqual(calls[0]!.items, [1]);
    advance(10);
    calls[0]!.done.resolve(['a']);
    await first;
    await flush();
    await assert.rejects(tighter, (err: GatewayError) => err.code === 'DEADLINE_EXCEEDED');
    assert.deepEqual(calls[1]!.items, [2, 4]);
    calls[1]!.done.resolve(['b', 'd']);
    assert.deepEqual([(await second).result, (await tight).result], ['b', 'd']);
  });

  it('fixed policy runs what the latency model says will be late, dropping only the already expired', async () => {
    const latency = new LatencyModel();
    latency.observe(1, 10);
    latency.observe(2, 14);
    const b = new Batcher<number, string>({ ...config, policy: 'fixed', maxBatchSize: 2 }, runner, { clock, latency });
    const first = b.submit(1);
    const second = b.submit(2); // fills the batch of 2
    const late = b.submit(3, { timeoutMs: 22 }); // the adaptive policy would shed it
    const expired = b.submit(4, { timeoutMs: 8 });
    expired.catch(() => {});
    await settle();
    assert.deepEqual(calls[0]!.items, [1, 2]);
    advance(10);
    calls[0]!.done.resolve(['a', 'b']);
    await Promise.all([first, second]);
    await flush();
    await assert.rejects(expired, (err: GatewayError) => err.code === 'DEADLINE_EXCEEDED');
    assert.deepEqual(calls[1]!.items, [3]); // its fixed delay expired while the instance was busy
    calls[1]!.done.resolve(['c']);
    assert.equal((await late).result, 'c');
  });

  it('adaptive policy at light load dispatches at once instead of waiting out the delay', async () => {
    const latency = new LatencyModel();
    latency.observe(1, 1);
    latency.observe(4, 2);
    const b = new Batcher<number, string>({ ...config, maxQueueDelayMs: 1000 }, runner, { clock, latency });
    const answer = b.submit(1);
    await settle();
    assert.deepEqual(calls[0]!.items, [1]);
    calls[0]!.done.resolve(['one']);
    assert.equal((await answer).result, 'one');
    const fixed = new Batcher<number, string>({ ...config, policy: 'fixed', maxQueueDelayMs: 1000 }, runner, { clock, latency });
    void fixed.submit(2).catch(() => {});
    await settle();
    assert.equal(calls.length, 1, 'the fixed policy waits for companions');
    advance(1000);
    assert.deepEqual(calls[1]!.items, [2]);
  });

  it('adaptive policy waits for requests being decoded and dispatches once the last one is in', async () => {
    const b = new Batcher<number, string>({ ...config, maxQueueDelayMs: 1000 }, runner, { clock });
    b.setIncoming(2);
    const first = b.submit(1);
    await settle();
    assert.equal(calls.length, 0, 'two more are on their way');
    b.setIncoming(1);
    const second = b.submit(2);
    await settle();
    assert.equal(calls.length, 0, 'one more is on its way');
    b.setIncoming(0); // its decode failed: nothing else is coming
    await flush(); // asked once this turn's continuations ran (a decoded request submits in them)
    assert.deepEqual(calls[0]!.items, [1, 2]);
    calls[0]!.done.resolve(['a', 'b']);
    assert.deepEqual([(await first).result, (await second).result], ['a', 'b']);
  });

  it('adaptive policy waits longer while a line stands in front of decoding, and goes once the line is gone', async () => {
    const b = new Batcher<number, string>({ ...config, maxQueueDelayMs: 5, saturatedQueueDelayMs: 50 }, runner, { clock });
    b.setIncoming(4, 10); // every decode place taken, ten more waiting for one: the host is saturated
    const first = b.submit(1);
    await settle();
    advance(20);
    assert.equal(calls.length, 0, 'past maxQueueDelayMs, within saturatedQueueDelayMs: still waiting');
    const second = b.submit(2);
    await flush();
    assert.equal(calls.length, 0, 'a newcomer while the line stands does not end the wait');
    b.setIncoming(4, 0); // the line is gone: the short bound applies again, and the oldest is past it
    await flush();
    assert.deepEqual(calls[0]!.items, [1, 2]);
    calls[0]!.done.resolve(['a', 'b']);
    assert.deepEqual([(await first).result, (await second).result], ['a', 'b']);

    b.setIncoming(4, 10);
    const third = b.submit(3);
    await settle();
    advance(49);
    assert.equal(calls.length, 1, 'the saturated bound not reached yet');
    advance(1);
    assert.deepEqual(calls[1]!.items, [3], 'the saturated bound is a bound: at 50 ms the batch goes');
    calls[1]!.done.resolve(['c']);
    assert.equal((await third).result, 'c');
  });

  it('refuses at submit a deadline shorter than one inference', async () => {
    const latency = new LatencyModel();
    latency.observe(1, 20);
    const b = new Batcher<number, string>(config, runner, { clock, latency });
    await assert.rejects(b.submit(1, { timeoutMs: 5 }), (err: GatewayError) => err.code === 'DEADLINE_EXCEEDED');
    assert.equal(b.pending, 0);
  });

  it('drain() resolves once in-flight batches finish; close() refuses new work', async () => {
    const b = new Batcher<number, string>(config, runner, { clock });
    const answers = [1, 2, 3, 4].map((n) => b.submit(n));
    await settle();
    let drained = false;
    const drain = b.drain().then(() => (drained = true));
    b.close(new GatewayError('SHUTTING_DOWN', 'bye'));
    await assert.rejects(b.submit(5), (err: GatewayError) => err.code === 'SHUTTING_DOWN');
    await flush();
    assert.equal(drained, false);
    calls[0]!.done.resolve(['a', 'b', 'c', 'd']);
    await Promise.all(answers);
    await drain;
    assert.equal(drained, true);
  });

  it('runs batches on every instance concurrently', async () => {
    const b = new Batcher<number, string>({ ...config, instances: 2, maxQueueSize: 16 }, runner, { clock });
    for (let i = 0; i < 12; i++) void b.submit(i).catch(() => {});
    await settle();
    assert.equal(calls.length, 2, 'two instances should each take a full batch');
    assert.equal(b.queueLength, 4);
  });
});

describe('LatencyModel', () => {
  it('fits duration = a*n + b by least squares', () => {
    const m = new LatencyModel();
    for (const n of [1, 2, 4, 8, 16]) m.observe(n, 3 + 0.5 * n);
    assert.ok(Math.abs(m.estimateMs(32) - 19) < 1e-9);
    assert.ok(Math.abs(m.estimateMs(1) - 3.5) < 1e-9);
  });
  it('predicts 0 before any batch and scales from a single size', () => {
    const m = new LatencyModel();
    assert.equal(m.estimateMs(8), 0);
    m.observe(4, 8);
    assert.equal(m.estimateMs(8), 16);
  });
  it('leaves a GC-pause outlier out of the fit', () => {
    const m = new LatencyModel();
    const sizes = [1, 2, 4, 8, 16];
    for (let i = 0; i < 20; i++) m.observe(sizes[i % 5]!, 3 + 0.5 * sizes[i % 5]! + (i % 3) * 0.1); // small jitter
    m.observe(2, 60); // one batch stalled by a pause
    assert.ok(Math.abs(m.estimateMs(1) - 3.6) < 0.2, `estimate(1) = ${m.estimateMs(1)}`);
    assert.ok(Math.abs(m.estimateMs(16) - 11.1) < 0.3, `estimate(16) = ${m.estimateMs(16)}`);
  });
  it('forgets batches older than its window', () => {
    const m = new LatencyModel(4);
    for (let i = 0; i < 4; i++) m.observe(1 + i, 100);
    for (let i = 0; i < 4; i++) m.observe(1 + i, 1 + i);
    assert.ok(Math.abs(m.estimateMs(2) - 2) < 1e-9);
  });
});

describe('RecentMinimum', () => {
  it('keeps the smallest value of the last window and forgets older ones', () => {
    const m = new RecentMinimum(100);
    m.record(0, 30);
    m.record(10, 20);
    m.record(60, 50);
    assert.equal(m.read(70), 20);
    assert.equal(m.read(130), 50); // the bucket holding 20 has aged out
    assert.equal(m.read(400), Infinity);
  });
});
