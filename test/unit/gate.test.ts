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
  it('is 0 with a free place, unknown before enough grants, then the requests ahead over the drain rate', async () => {
    let now = 0;
    const gate = new ConcurrencyGate(1, () => now);
    assert.equal(gate.expectedWaitMs(), 0);
    await gate.enter(ok, { onAbort: cancelled });
    const line = Array.from({ length: 20 }, () => gate.enter(ok, { onAbort: cancelled }));
    assert.equal(gate.expectedWaitMs(), undefined, 'no drain rate yet');
    for (let i = 0; i < 10; i++) {
      now += 2; // one place given back every 2 ms
      gate.leave();
    }
    await Promise.all(line.slice(0, 10));
    // 10 grants 2 ms apart: 0.5 per ms; 10 still waiting, so a newcomer is 11th: 22 ms.
    assert.equal(gate.waiting, 10);
    assert.equal(gate.expectedWaitMs(), 22);
    now += 1500;
    assert.equal(gate.expectedWaitMs(), undefined, 'a rate over a second old is stale');
    for (let i = 0; i < 11; i++) gate.leave();
    await Promise.all(line);
  });
});

describe('ConcurrencyGate drain interval', () => {
  it('leaves out the time the line stood empty', async () => {
    let now = 0;
    const gate = new ConcurrencyGate(1, () => now);
    const cycle = async (waiters: number, stepMs: number): Promise<void> => {
      await gate.enter(ok, { onAbort: cancelled });
      const line = Array.from({ length: waiters }, () => gate.enter(ok, { onAbort: cancelled }));
      for (let i = 0; i < waiters; i++) {
        now += stepMs;
        gate.leave();
      }
      await Promise.all(line);
      gate.leave(); // the last one done: the line is empty and the place free
    };
    await cycle(6, 3);
    now += 5000; // idle for 5 s
    await cycle(6, 3);
    // 10 busy intervals of 3 ms (the first grant of each busy period starts none): an idle gap
    // counted in would have made the mean interval hundreds of ms.
    await gate.enter(ok, { onAbort: cancelled });
    const waiter = gate.enter(ok, { onAbort: cancelled });
    assert.equal(gate.expectedWaitMs(), 6); // one ahead plus itself, 3 ms each
    gate.leave();
    await waiter;
    gate.leave();
  });
});
