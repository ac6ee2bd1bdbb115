// CallCancellation, the transports' per-request cancellation: it behaves as the AbortSignal its
// readers (queue, decode gate, batch fan-outs) were written against.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallCancellation, type Cancellation } from '../../src/cancellation.js';

describe('CallCancellation', () => {
  it('calls each listener once when aborted, not the removed ones, and stays aborted', () => {
    const c = new CallCancellation();
    const calls: string[] = [];
    const a = (): void => void calls.push('a');
    const b = (): void => void calls.push('b');
    c.addEventListener('abort', a);
    c.addEventListener('abort', b, { once: true });
    c.removeEventListener('abort', a);
    assert.equal(c.aborted, false);
    c.abort();
    c.abort();
    assert.equal(c.aborted, true);
    assert.deepEqual(calls, ['b']);
  });

  it('skips a listener an earlier one removed while aborting and never calls one added after, as an AbortSignal does', () => {
    const run = (reader: Cancellation, abort: () => void): string[] => {
      const calls: string[] = [];
      const second = (): void => void calls.push('second');
      const first = (): void => {
        calls.push('first');
        reader.removeEventListener('abort', first);
        reader.removeEventListener('abort', second);
      };
      reader.addEventListener('abort', first);
      reader.addEventListener('abort', second);
      abort();
      reader.addEventListener('abort', () => calls.push('late'));
      abort();
      return calls;
    };
    const controller = new AbortController();
    const c = new CallCancellation();
    assert.deepEqual(run(controller.signal, () => controller.abort()), ['first']);
    assert.deepEqual(run(c, () => c.abort()), ['first']);
  });

  it('has the shape of an AbortSignal, so either serves as a Cancellation', () => {
    const controller = new AbortController();
    const readers: Cancellation[] = [controller.signal, new CallCancellation()];
    let fired = 0;
    for (const r of readers) r.addEventListener('abort', () => fired++, { once: true });
    controller.abort();
    (readers[1] as CallCancellation).abort();
    assert.deepEqual(readers.map((r) => r.aborted), [true, true]);
    assert.equal(fired, 2);
  });
});
