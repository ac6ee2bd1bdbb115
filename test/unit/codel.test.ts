// CoDel on the decode line, with explicit times: a burst that drains within the interval is left
// alone; a standing queue (every wait above target for a whole interval) gets its head refused,
// more often while it persists, and dropping stops as soon as a wait falls below target.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoDel } from '../../src/batching/codel.js';

describe('CoDel', () => {
  it('leaves a burst alone when waits fall below target within the interval', () => {
    const codel = new CoDel(5, 100);
    for (let t = 0; t < 90; t += 10) assert.equal(codel.shouldDrop(t, 20, 10), false);
    assert.equal(codel.shouldDrop(95, 2, 3), false); // below target: the clock resets
    for (let t = 100; t < 190; t += 10) assert.equal(codel.shouldDrop(t, 20, 10), false);
  });

  it('never drops when nobody waits behind the request', () => {
    const codel = new CoDel(5, 100);
    for (let t = 0; t < 500; t += 10) assert.equal(codel.shouldDrop(t, 50, 0), false);
  });

  it('drops from a standing queue at an increasing rate, and stops once a wait is below target', () => {
    const codel = new CoDel(5, 100);
    const drops: number[] = [];
    for (let t = 0; t <= 400; t += 1) if (codel.shouldDrop(t, 30, 20)) drops.push(t);
    assert.equal(drops[0], 100, 'first drop one interval after the wait went above target');
    // Then interval / sqrt(count): 100 + 100/1, + 100/sqrt(2), + 100/sqrt(3) ...
    assert.deepEqual(drops.slice(0, 4), [100, 200, 271, 329]);
    const gaps = drops.slice(1).map((d, i) => d - drops[i]!);
    assert.ok(gaps.every((g, i) => i === 0 || g <= gaps[i - 1]!), `gaps should shrink: ${gaps.join(',')}`);
    assert.equal(codel.shouldDrop(401, 1, 20), false, 'a short wait ends the dropping state');
    assert.equal(codel.shouldDrop(402, 30, 20), false, 'and a new interval must pass before the next drop');
  });
});
