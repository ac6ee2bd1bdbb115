// The session thread's scheduling priority (SessionOptions.niceOffset): on Linux the worker that
// runs a session, and only that thread, runs the asked number of nice steps below the process;
// without the option every thread keeps the process's nice value. Read from /proc/self/task.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ModelSession } from '../../src/models/session.js';
import { REPO_ROOT } from '../helpers/gateway.js';

const MODEL = join(REPO_ROOT, 'models', 'shapes-mobilenetv3', '1', 'model.onnx');

/** Nice value of every thread of this process (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadNices(): number[] {
  const nices: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      nices.push(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return nices;
}

describe('session thread priority (Linux: a nice value per thread)', () => {
  it('lowers the session worker thread alone by niceOffset, and changes nothing without it', async () => {
    const base = getPriority();
    // Nice values stop at 19: a process already there keeps it (the worker asks for no more).
    const expectedNice = Math.min(19, base + 3);
    const before = threadNices();
    assert.ok(before.every((n) => n === base), `threads before: ${before.join(',')}`);

    const plain = await ModelSession.open(MODEL, { provider: 'cpu', intraOpThreads: 1 });
    try {
      assert.deepEqual([...new Set(threadNices())], [base]);
      assert.equal(plain.priorityProblem, undefined);
    } finally {
      await plain.release();
    }

    const lowered = await ModelSession.open(MODEL, { provider: 'cpu', intraOpThreads: 1, niceOffset: 3 });
    try {
      const nices = threadNices();
      assert.equal(lowered.priorityProblem, undefined);
      assert.ok(nices.includes(expectedNice), `a thread at nice ${expectedNice}: ${nices.join(',')}`);
      assert.equal(getPriority(), base, 'the main thread keeps its priority');
      // The worker itself was lowered; the rest of the process was not.
      assert.ok(nices.filter((n) => n === base).length >= nices.length - 2, `threads: ${nices.join(',')}`);
      // It still answers.
      const out = await lowered.run({ input: { data: new Float32Array(3 * 64 * 64), dims: [1, 3, 64, 64] } }, ['logits']);
      assert.equal(out['logits']!.dims[0], 1);
    } finally {
      await lowered.release();
    }
  });
});
