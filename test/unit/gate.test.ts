// The decode gate: a bounded number of places, a FIFO line, the turn check that refuses a hopeless
// request before its work starts, and cancellation while waiting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyGate } from '../../src/batching/gate.js';

const ok = (): undefined => undefined;
const cancelled = (): Error => new Error('cancelled');
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ConcurrencyGate', () => {
  it('grants up to `limit` places at once and queues the rest in arrival order', async () => {
    const gate = new ConcurrencyGate(2);
    const order: number[] = [];
    const entries = [1, 2, 3, 4].map((n) => gate.enter(ok, { onAbort: cancelled }).then(() => order.push(n)));
    await flush();
    assert.deepEqual(order, [1, 2]);
    assert.equal(gate.inside, 2);
    assert.equal(gate.waiting, 2);
    gate.leave();
    await flush();
    assert.deepEqual(order, [1, 2, 3]);
    gate.leave();
    await Promise.all(entries);
    assert.deepEqual(order, [1, 2, 3, 4]);
    assert.equal(gate.waiting, 0);
  });

  it('checks a waiter when its turn comes: a refused one gets its error and the next takes the place', async () => {
    const gate = new ConcurrencyGate(1);
    await gate.enter(ok, { onAbort: cancelled });
    let hopeless = false;
    const refused = gate.enter(() => (hopeless ? new Error('deadline cannot be met') : undefined), { onAbort: cancelled });
    const next = gate.enter(ok, { onAbort: cancelled });
    hopeless = true; // became hopeless while it waited
    gate.leave();
    await assert.rejects(refused, /deadline cannot be met/);
    await next;
    assert.equal(gate.inside, 1);
  });

  it('refuses at once, without taking a place, when the check fails on a free gate', async () => {
    const gate = new ConcurrencyGate(1);
    await assert.rejects(gate.enter(() => new Error('too late'), { onAbort: cancelled }), /too late/);
    assert.equal(gate.inside, 0);
  });

  it('a waiter whose signal aborts leaves the line; one aborted before entering never waits', async () => {
    const gate = new ConcurrencyGate(1);
    await gate.enter(ok, { onAbort: cancelled });
    const abort = new AbortController();
    const leaving = gate.enter(ok, { signal: abort.signal, onAbort: cancelled });
    const staying = gate.enter(ok, { onAbort: cancelled });
    abort.abort();
    await assert.rejects(leaving, /cancelled/);
    assert.equal(gate.waiting, 1);
    gate.leave();
    await staying;
    await assert.rejects(gate.enter(ok, { signal: abort.signal, onAbort: cancelled }), /cancelled/);
    assert.equal(gate.inside, 1);
  });

  it('rejects a limit below 1', () => assert.throws(() => new ConcurrencyGate(0), RangeError));
});

describe('ConcurrencyGate.expectedWaitMs()', () => {
  it('is 0 with a free place, unknown before 8 holds, then the requests ahead over the drain rate', async () => {
    const gate = new ConcurrencyGate(2);
    assert.equal(gate.expectedWaitMs(), 0);
    await gate.enter(ok, { onAbort: cancelled });
    assert.equal(gate.expectedWaitMs(), 0, 'one of two places still free');
    await gate.enter(ok, { onAbort: cancelled });
    const line = Array.from({ length: 20 }, () => gate.enter(ok, { onAbort: cancelled }));
    assert.equal(gate.expectedWaitMs(), undefined, 'no holding time recorded yet');
    for (let i = 0; i < 10; i++) gate.leave(4); // each place held 4 ms: two places drain one per 2 ms
    await Promise.all(line.slice(0, 10));
    // 10 still waiting, so a newcomer is 11th in line: 11 x 4 ms / 2 places.
    assert.equal(gate.waiting, 10);
    assert.equal(gate.expectedWaitMs(), 22);
    for (let i = 0; i < 12; i++) gate.leave();
    await Promise.all(line);
  });

  it('counts every hold, not only those while a line stood, and follows the recent ones', async () => {
    const gate = new ConcurrencyGate(1);
    // Holds of 1 ms with no line at all: an estimate learned only while a line stands (the
    // earlier one) would have nothing from them.
    for (let i = 0; i < 64; i++) {
      await gate.enter(ok, { onAbort: cancelled });
      gate.leave(1);
    }
    await gate.enter(ok, { onAbort: cancelled });
    const waiter = gate.enter(ok, { onAbort: cancelled });
    assert.equal(gate.expectedWaitMs(), 2); // one ahead plus itself, 1 ms each
    gate.leave(); // a place given back without a duration is not counted
    await waiter;
    // 64 longer holds replace the whole history.
    for (let i = 0; i < 64; i++) {
      gate.leave(3);
      await gate.enter(ok, { onAbort: cancelled });
    }
    const next = gate.enter(ok, { onAbort: cancelled });
    assert.equal(gate.expectedWaitMs(), 6);
    gate.leave();
    await next;
    gate.leave();
  });
});
