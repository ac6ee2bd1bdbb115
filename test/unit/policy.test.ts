// Table-driven tests of the pure batching policy with a fake clock: no timers, no sleeps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type BatchingConfig, type Decision, type QueueSnapshot, decide, effectiveMaxBatchSize } from '../../src/batching/policy.js';

// Most rows are about the delay: with a request still being decoded (incoming 1, the default of
// this table) the adaptive policy waits like the fixed one. Rows about the adaptive rule set
// `incoming` themselves.
const base: BatchingConfig = { policy: 'adaptive', maxBatchSize: 8, maxQueueDelayMs: 5, preferredBatchSizes: [], maxQueueSize: 100, instances: 1 };
const noCost = (): number => 0;
const linear = (n: number): number => 2 + n; // 2 ms fixed + 1 ms per item

interface Case {
  name: string;
  config?: Partial<BatchingConfig>;
  queue: Partial<QueueSnapshot>;
  nowMs: number;
  estimate?: (n: number) => number;
  expected: Decision;
}

const cases: Case[] = [
  { name: 'empty queue idles', queue: { queueLength: 0 }, nowMs: 100, expected: { action: 'idle' } },
  { name: 'no idle instance idles', queue: { queueLength: 3, idleInstances: 0 }, nowMs: 100, expected: { action: 'idle' } },
  { name: 'full batch dispatches at once', queue: { queueLength: 8 }, nowMs: 100, expected: { action: 'dispatch', size: 8, reason: 'full' } },
  { name: 'more than a full batch dispatches maxBatchSize', queue: { queueLength: 20 }, nowMs: 100, expected: { action: 'dispatch', size: 8, reason: 'full' } },
  { name: 'young partial batch waits for the rest of the delay', queue: { queueLength: 3, oldestEnqueuedAtMs: 98 }, nowMs: 100, expected: { action: 'wait', ms: 3 } },
  { name: 'delay expiry dispatches what is there', queue: { queueLength: 3, oldestEnqueuedAtMs: 95 }, nowMs: 100, expected: { action: 'dispatch', size: 3, reason: 'delay' } },
  { name: 'delay long past still dispatches', queue: { queueLength: 1, oldestEnqueuedAtMs: 0 }, nowMs: 100, expected: { action: 'dispatch', size: 1, reason: 'delay' } },
  { name: 'zero delay dispatches immediately', config: { maxQueueDelayMs: 0 }, queue: { queueLength: 2, oldestEnqueuedAtMs: 100 }, nowMs: 100, expected: { action: 'dispatch', size: 2, reason: 'delay' } },
  {
    name: 'largest preferred size reached dispatches before the delay',
    config: { preferredBatchSizes: [2, 4] },
    queue: { queueLength: 5, oldestEnqueuedAtMs: 99 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 4, reason: 'preferred' },
  },
  {
    name: 'below the largest preferred size waits',
    config: { preferredBatchSizes: [2, 4] },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 99 },
    nowMs: 100,
    expected: { action: 'wait', ms: 4 },
  },
  {
    name: 'delay expiry with preferred sizes takes the largest that fits',
    config: { preferredBatchSizes: [2, 4] },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 90 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 2, reason: 'delay' },
  },
  {
    name: 'delay expiry below every preferred size takes everything',
    config: { preferredBatchSizes: [4] },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 90 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 3, reason: 'delay' },
  },
  {
    name: 'preferred sizes above maxBatchSize are ignored',
    config: { preferredBatchSizes: [16] },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 99 },
    nowMs: 100,
    expected: { action: 'wait', ms: 4 },
  },
  {
    name: 'deadline pressure dispatches early',
    queue: { queueLength: 3, oldestEnqueuedAtMs: 99, earliestDeadlineMs: 105 },
    nowMs: 100,
    estimate: linear, // run of 3 = 5 ms: starting later than now misses 105
    expected: { action: 'dispatch', size: 3, reason: 'deadline' },
  },
  {
    name: 'deadline shortens the wait to the latest useful start',
    config: { maxQueueDelayMs: 50 },
    queue: { queueLength: 2, oldestEnqueuedAtMs: 100, earliestDeadlineMs: 110 },
    nowMs: 100,
    estimate: linear, // run of 2 = 4 ms: must start by 106, less the 2 ms margin
    expected: { action: 'wait', ms: 4 },
  },
  {
    name: 'a far deadline does not shorten the delay',
    queue: { queueLength: 2, oldestEnqueuedAtMs: 100, earliestDeadlineMs: 10_000 },
    nowMs: 100,
    estimate: linear,
    expected: { action: 'wait', ms: 5 },
  },
  {
    name: 'a batch of one on a fixed-batch graph dispatches at once',
    config: { maxBatchSize: 1 },
    queue: { queueLength: 4, oldestEnqueuedAtMs: 100 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 1, reason: 'full' },
  },
  {
    name: 'adaptive with nothing being decoded dispatches at once: waiting only adds latency',
    queue: { queueLength: 1, oldestEnqueuedAtMs: 100, incoming: 0 },
    nowMs: 100,
    estimate: linear,
    expected: { action: 'dispatch', size: 1, reason: 'drained' },
  },
  {
    name: 'adaptive with nothing being decoded dispatches a partial batch too',
    queue: { queueLength: 5, oldestEnqueuedAtMs: 99.5, incoming: 0 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 5, reason: 'drained' },
  },
  {
    name: 'adaptive waits for requests being decoded, up to the delay',
    queue: { queueLength: 3, oldestEnqueuedAtMs: 99, incoming: 4 },
    nowMs: 100,
    estimate: linear,
    expected: { action: 'wait', ms: 4 },
  },
  {
    name: 'adaptive still honours the delay cap while more are being decoded',
    queue: { queueLength: 3, oldestEnqueuedAtMs: 90, incoming: 4 },
    nowMs: 100,
    estimate: linear,
    expected: { action: 'dispatch', size: 3, reason: 'delay' },
  },
  {
    name: 'adaptive dispatches a full batch at once even while more are being decoded',
    queue: { queueLength: 8, oldestEnqueuedAtMs: 100, incoming: 4 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 8, reason: 'full' },
  },
  {
    name: 'deadline pressure beats waiting for requests being decoded',
    queue: { queueLength: 2, oldestEnqueuedAtMs: 100, earliestDeadlineMs: 104, incoming: 4 },
    nowMs: 100,
    estimate: linear, // run of 2 = 4 ms, + 2 ms margin: already past the latest useful start
    expected: { action: 'dispatch', size: 2, reason: 'deadline' },
  },
  {
    name: 'adaptive with a line in front of decoding waits up to saturatedQueueDelayMs',
    config: { saturatedQueueDelayMs: 20 },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 90, incoming: 4, backlog: 6 },
    nowMs: 100,
    estimate: linear,
    expected: { action: 'wait', ms: 10 },
  },
  {
    name: 'the saturated bound is a bound too: past it the batch goes',
    config: { saturatedQueueDelayMs: 20 },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 79, incoming: 4, backlog: 6 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 3, reason: 'delay' },
  },
  {
    name: 'the line gone, the short delay applies again',
    config: { saturatedQueueDelayMs: 20 },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 90, incoming: 4, backlog: 0 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 3, reason: 'delay' },
  },
  {
    name: 'a line but nothing being decoded: nothing is on its way, so no wait',
    config: { saturatedQueueDelayMs: 20 },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 99, incoming: 0, backlog: 6 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 3, reason: 'drained' },
  },
  {
    name: 'deadline pressure beats the saturated bound',
    config: { saturatedQueueDelayMs: 20 },
    queue: { queueLength: 2, oldestEnqueuedAtMs: 95, earliestDeadlineMs: 106, incoming: 4, backlog: 6 },
    nowMs: 100,
    estimate: linear, // run of 2 = 4 ms, + 2 ms margin
    expected: { action: 'dispatch', size: 2, reason: 'deadline' },
  },
  {
    name: 'a saturated bound below maxQueueDelayMs does not shorten the wait',
    config: { saturatedQueueDelayMs: 1 },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 98, incoming: 4, backlog: 6 },
    nowMs: 100,
    expected: { action: 'wait', ms: 3 },
  },
  {
    name: 'fixed ignores the line: its delay is the only bound',
    config: { policy: 'fixed', saturatedQueueDelayMs: 20 },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 90, incoming: 4, backlog: 6 },
    nowMs: 100,
    expected: { action: 'dispatch', size: 3, reason: 'delay' },
  },
  {
    name: 'fixed waits out the delay with nothing being decoded',
    config: { policy: 'fixed' },
    queue: { queueLength: 1, oldestEnqueuedAtMs: 99, incoming: 0 },
    nowMs: 100,
    estimate: linear,
    expected: { action: 'wait', ms: 4 },
  },
  {
    name: 'fixed ignores deadline pressure and waits out the delay',
    config: { policy: 'fixed' },
    queue: { queueLength: 3, oldestEnqueuedAtMs: 99, earliestDeadlineMs: 105 },
    nowMs: 100,
    estimate: linear,
    expected: { action: 'wait', ms: 4 },
  },
];

describe('decide()', () => {
  for (const c of cases) {
    it(c.name, () => {
      const queue: QueueSnapshot = { queueLength: 0, oldestEnqueuedAtMs: c.nowMs, earliestDeadlineMs: Infinity, idleInstances: 1, incoming: 1, ...c.queue };
      assert.deepEqual(decide({ ...base, ...c.config }, queue, c.nowMs, c.estimate ?? noCost), c.expected);
    });
  }
});

describe('effectiveMaxBatchSize()', () => {
  it('caps at a fixed graph batch dimension', () => assert.equal(effectiveMaxBatchSize(32, 1), 1));
  it('keeps the configured size for a dynamic axis', () => assert.equal(effectiveMaxBatchSize(32, -1), 32));
  it('keeps the configured size when the axis is symbolic', () => assert.equal(effectiveMaxBatchSize(32, undefined), 32));
});
