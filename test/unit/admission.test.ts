// Admission: the pure arrival and turn decisions table-driven (no clock, no timers), then the
// Admission class over a real Batcher with a fake clock: the estimates it learns from batch
// starts, the errors it answers with, the preparation gate and cancellation while waiting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Admission, type AdmissionSnapshot, type AdmitDecision, type TurnSnapshot, admit, checkTurn } from '../../src/batching/admission.js';
import { Batcher } from '../../src/batching/batcher.js';
import { LatencyModel } from '../../src/batching/latency.js';
import type { BatchingConfig } from '../../src/batching/policy.js';
import type { GatewayError } from '../../src/errors.js';

const base: AdmissionSnapshot = {
  policy: 'adaptive',
  maxQueueSize: 10,
  queueLength: 0,
  upstream: 0,
  arriving: 1,
  deadline: { startedAtMs: 100, timeoutMs: 100 },
  standingWaitMs: Infinity,
  lineWaitMs: 0,
  queuedWaitMs: Infinity,
  prepareMs: 0,
  runMs: 4,
};
const ADMIT: AdmitDecision = { action: 'admit' };

interface AdmitCase {
  name: string;
  snapshot: Partial<AdmissionSnapshot>;
  nowMs: number;
  expected: AdmitDecision;
}

const admitCases: AdmitCase[] = [
  { name: 'an empty queue admits', snapshot: {}, nowMs: 100, expected: ADMIT },
  { name: 'a queue with room admits', snapshot: { queueLength: 9 }, nowMs: 100, expected: ADMIT },
  { name: 'a full queue refuses', snapshot: { queueLength: 10 }, nowMs: 100, expected: { action: 'refuse', reason: 'queue-full', queued: 10, maxQueueSize: 10 } },
  {
    name: 'requests being prepared hold queue places',
    snapshot: { queueLength: 4, upstream: 6 },
    nowMs: 100,
    expected: { action: 'refuse', reason: 'queue-full', queued: 10, maxQueueSize: 10 },
  },
  {
    name: 'a request bringing several items needs a place for each',
    snapshot: { queueLength: 6, arriving: 5 },
    nowMs: 100,
    expected: { action: 'refuse', reason: 'queue-full', queued: 10, maxQueueSize: 10 },
  },
  { name: 'queue full also under the fixed policy', snapshot: { policy: 'fixed', queueLength: 10 }, nowMs: 100, expected: { action: 'refuse', reason: 'queue-full', queued: 10, maxQueueSize: 10 } },
  { name: 'no deadline admits whatever the waits', snapshot: { deadline: undefined, standingWaitMs: 1000, lineWaitMs: 1000 }, nowMs: 100, expected: ADMIT },
  { name: 'the fixed policy admits on queue places alone', snapshot: { policy: 'fixed', standingWaitMs: 1000, lineWaitMs: 1000 }, nowMs: 100, expected: ADMIT },
  { name: 'a standing wait that leaves time admits', snapshot: { standingWaitMs: 80 }, nowMs: 100, expected: ADMIT },
  {
    name: 'a standing wait plus one inference past the deadline refuses',
    snapshot: { standingWaitMs: 80, deadline: { startedAtMs: 100, timeoutMs: 50 } },
    nowMs: 100,
    expected: { action: 'refuse', reason: 'deadline', stage: 'admission', timeoutMs: 50, elapsedMs: 0, needMs: { 'standing wait': 80, inference: 4 } },
  },
  {
    name: 'time already spent counts against the deadline',
    snapshot: { standingWaitMs: 80 },
    nowMs: 120,
    expected: { action: 'refuse', reason: 'deadline', stage: 'admission', timeoutMs: 100, elapsedMs: 20, needMs: { 'standing wait': 80, inference: 4 } },
  },
  { name: 'an unknown line wait admits', snapshot: { lineWaitMs: undefined, queuedWaitMs: 500 }, nowMs: 100, expected: ADMIT },
  { name: 'a free preparation place admits', snapshot: { lineWaitMs: 0, prepareMs: 500 }, nowMs: 100, expected: ADMIT },
  { name: 'a short line admits', snapshot: { lineWaitMs: 30, prepareMs: 10, queuedWaitMs: 20 }, nowMs: 100, expected: ADMIT },
  {
    name: 'a line that drains slower than the deadline allows refuses',
    snapshot: { lineWaitMs: 70, prepareMs: 10, queuedWaitMs: 20 },
    nowMs: 100,
    expected: { action: 'refuse', reason: 'deadline', stage: 'admission', timeoutMs: 100, elapsedMs: 0, needMs: { 'waiting to be prepared': 70, preparing: 10, queued: 20, inference: 4 } },
  },
  {
    name: 'ending exactly at the deadline through the line refuses',
    snapshot: { lineWaitMs: 86, prepareMs: 10, queuedWaitMs: Infinity },
    nowMs: 100,
    expected: { action: 'refuse', reason: 'deadline', stage: 'admission', timeoutMs: 100, elapsedMs: 0, needMs: { 'waiting to be prepared': 86, preparing: 10, queued: 0, inference: 4 } },
  },
];

interface TurnCase {
  name: string;
  snapshot: Partial<TurnSnapshot>;
  nowMs: number;
  expected: AdmitDecision;
}

const turn: TurnSnapshot = { policy: 'adaptive', deadline: { startedAtMs: 0, timeoutMs: 100 }, queuedWaitMs: Infinity, prepareMs: 10, runMs: 4 };
const turnCases: TurnCase[] = [
  { name: 'no deadline is always worth preparing', snapshot: { deadline: undefined }, nowMs: 1000, expected: ADMIT },
  { name: 'adaptive: preparing and one inference fit in what is left', snapshot: {}, nowMs: 80, expected: ADMIT },
  {
    name: 'adaptive: the optimistic path ends after the deadline',
    snapshot: {},
    nowMs: 88,
    expected: { action: 'refuse', reason: 'deadline', stage: 'preprocess turn', timeoutMs: 100, elapsedMs: 88, needMs: { preparing: 10, queued: 0, inference: 4 } },
  },
  {
    name: 'adaptive: the shortest recent queue wait counts',
    snapshot: { queuedWaitMs: 10 },
    nowMs: 80,
    expected: { action: 'refuse', reason: 'deadline', stage: 'preprocess turn', timeoutMs: 100, elapsedMs: 80, needMs: { preparing: 10, queued: 10, inference: 4 } },
  },
  { name: 'fixed: a deadline not yet passed is prepared', snapshot: { policy: 'fixed' }, nowMs: 99, expected: ADMIT },
  {
    name: 'fixed: a passed deadline is refused',
    snapshot: { policy: 'fixed' },
    nowMs: 100,
    expected: { action: 'refuse', reason: 'deadline', stage: 'preprocess turn', timeoutMs: 100, elapsedMs: 100, needMs: {} },
  },
];

describe('admit() (pure)', () => {
  for (const c of admitCases) {
    it(c.name, () => assert.deepEqual(admit({ ...base, ...c.snapshot }, c.nowMs), c.expected));
  }
});

describe('checkTurn() (pure)', () => {
  for (const c of turnCases) {
    it(c.name, () => assert.deepEqual(checkTurn({ ...turn, ...c.snapshot }, c.nowMs), c.expected));
  }
});

const config: BatchingConfig = { policy: 'adaptive', maxBatchSize: 4, maxQueueDelayMs: 5, preferredBatchSizes: [], maxQueueSize: 100, instances: 1 };

describe('Admission', () => {
  const setup = (overrides: Partial<BatchingConfig> = {}, places = 1) => {
    const clock = { now: 1000 };
    const latency = new LatencyModel();
    latency.observe(1, 2);
    latency.observe(4, 5);
    const runs: ((r: readonly string[]) => void)[] = [];
    const batcher = new Batcher<number, string>({ ...config, ...overrides }, () => new Promise((resolve) => runs.push(resolve)), { clock: () => clock.now, latency });
    const shed: string[] = [];
    const upstream: [number, number][] = [];
    const admission = new Admission(batcher, { places, hooks: { onShed: (reason) => shed.push(reason), onUpstream: (p, w) => upstream.push([p, w]) } });
    return { clock, batcher, admission, runs, shed, upstream };
  };

  it('learns the standing wait from batch starts and refuses a deadline shorter than it, naming the stage and times', async () => {
    const { clock, batcher, admission, runs, shed } = setup();
    // A request that arrived 80 ms before its batch started: a standing queue of 80 ms.
    const queued = batcher.submit(1, { startedAtMs: clock.now - 80 });
    await Promise.resolve();
    runs[0]!(['one']);
    await queued;
    assert.throws(
      () => admission.admit(1, { startedAtMs: clock.now, timeoutMs: 50 }),
      (err: GatewayError) =>
        err.code === 'DEADLINE_EXCEEDED' &&
        err.retryAfterSeconds === 1 &&
        /^deadline of 50 ms cannot be met at admission \(0 ms elapsed, about [\d.]+ ms still needed: 80 ms standing wait \+ [\d.]+ ms inference\); refused before preprocessing$/.test(err.message),
    );
    assert.deepEqual(shed, ['deadline']);
    assert.doesNotThrow(() => admission.admit(1, { startedAtMs: clock.now, timeoutMs: 500 }));
    clock.now += 200; // no batch started for two windows: the standing wait is forgotten
    assert.doesNotThrow(() => admission.admit(1, { startedAtMs: clock.now, timeoutMs: 50 }));
  });

  it('tells the batcher how many are being prepared and how many wait for a place (the line the adaptive policy waits longer for)', async () => {
    const { batcher, admission } = setup({}, 1);
    const told: [number, number][] = [];
    const setIncoming = batcher.setIncoming.bind(batcher);
    batcher.setIncoming = (count: number, backlog = 0) => {
      told.push([count, backlog]);
      setIncoming(count, backlog);
    };
    const releases: (() => void)[] = [];
    const work = (): Promise<void> => new Promise<void>((resolve) => releases.push(resolve));
    const first = admission.prepare(undefined, undefined, work);
    const second = admission.prepare(undefined, undefined, work);
    await Promise.resolve();
    assert.deepEqual(told, [
      [1, 0],
      [1, 1],
    ]);
    releases[0]!();
    await first;
    await Promise.resolve();
    assert.deepEqual(told.at(-1), [1, 0], 'the waiting one got the place: the line is gone');
    releases[1]!();
    await second;
    assert.deepEqual(told.at(-1), [0, 0]);
  });

  it('a batch waiting for a request being prepared takes it when its preparation ends (submitted after the report, as ImagePipeline does)', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, string>({ ...config, maxQueueDelayMs: 1000 }, (items) => {
      batches.push([...items]);
      return Promise.resolve(items.map(String));
    });
    const admission = new Admission(batcher, { places: 2 });
    let finish!: (n: number) => void;
    const first = admission.prepare(undefined, undefined, () => Promise.resolve(1)).then((n) => batcher.submit(n));
    const second = admission.prepare(undefined, undefined, () => new Promise<number>((resolve) => (finish = resolve))).then((n) => batcher.submit(n));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [], 'the first waits for the second, which is being prepared');
    finish(2); // its preparation ends: the report (nothing on the way) comes before its submit
    await Promise.all([first, second]);
    assert.deepEqual(batches, [[1, 2]]);
  });

  it('counts requests being prepared as queue places and answers QUEUE_FULL with the limit', async () => {
    const { batcher, admission } = setup({ maxQueueSize: 3, maxBatchSize: 100, maxQueueDelayMs: 1000 });
    void batcher.submit(1).catch(() => {});
    let release!: () => void;
    const preparing = admission.prepare(undefined, undefined, () => new Promise<void>((resolve) => (release = resolve)));
    await Promise.resolve();
    assert.doesNotThrow(() => admission.admit(1));
    assert.throws(
      () => admission.admit(2),
      (err: GatewayError) => err.code === 'QUEUE_FULL' && err.message === 'queue full: 3 requests waiting (maxQueueSize 3); retry later' && err.retryAfterSeconds === 1,
    );
    release();
    await preparing;
  });

  it('refuses everything once the batcher is closed', () => {
    const { batcher, admission } = setup();
    const reason = new Error('shutting down') as GatewayError;
    batcher.close(reason);
    assert.throws(() => admission.admit(1), /shutting down/);
  });

  it('checks a waiter when its place comes, and reports preparing and waiting requests to the batcher and metrics', async () => {
    const { clock, admission, shed, upstream } = setup({}, 1);
    let release!: () => void;
    const first = admission.prepare(undefined, undefined, () => new Promise<string>((resolve) => (release = () => resolve('decoded'))));
    const second = admission.prepare({ startedAtMs: clock.now, timeoutMs: 20 }, undefined, () => Promise.resolve('never'));
    second.catch(() => {});
    await Promise.resolve();
    assert.deepEqual(upstream.at(-1), [1, 1]);
    clock.now += 30; // the first preparation held the only place past the second's deadline
    release();
    assert.equal(await first, 'decoded');
    await assert.rejects(second, (err: GatewayError) => err.code === 'DEADLINE_EXCEEDED' && /cannot be met at preprocess turn \(30 ms elapsed/.test(err.message));
    assert.deepEqual(shed, ['deadline']);
    assert.deepEqual(upstream.at(-1), [0, 0]);
  });

  it('a request cancelled while waiting for a place leaves the line with CANCELLED', async () => {
    const { admission, shed } = setup({}, 1);
    let release!: () => void;
    const first = admission.prepare(undefined, undefined, () => new Promise<void>((resolve) => (release = resolve)));
    const abort = new AbortController();
    const second = admission.prepare(undefined, abort.signal, () => Promise.resolve());
    abort.abort();
    await assert.rejects(second, (err: GatewayError) => err.code === 'CANCELLED' && /while waiting to be prepared/.test(err.message));
    assert.deepEqual(shed, ['cancelled']);
    release();
    await first;
  });
});
