// The buffer pools behind request slots and batch tensors: views over recycled buffers, no reuse of
// arrays the pool did not hand out, buffers that come back from a session thread adopted by size,
// a bound on idle memory; and, through the real session thread, a pooled batch buffer that goes to
// the worker and back while answers stay those of fresh buffers (and a partial view that is not
// pooled stays with its caller), and a feed whose buffer is already gone is refused, not lost.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Float32Pool, batchPool } from '../../src/models/buffer-pool.js';
import { ModelSession } from '../../src/models/session.js';
import { REPO_ROOT } from '../helpers/gateway.js';

describe('Float32Pool', () => {
  it('serves zero-offset views of exactly the asked length and reuses returned buffers', () => {
    const pool = new Float32Pool(8, 1024);
    const a = pool.take(5);
    assert.equal(a.length, 5);
    assert.equal(a.byteOffset, 0);
    assert.equal(a.buffer.byteLength, 32);
    pool.give(a);
    assert.equal(pool.idle, 1);
    const b = pool.take(8);
    assert.equal(b.buffer, a.buffer, 'the returned buffer is handed out again');
    assert.equal(pool.idle, 0);
  });

  it('never takes in an array it did not hand out, nor the same buffer twice', () => {
    const pool = new Float32Pool(8, 1024);
    pool.give(new Float32Array(8)); // a caller's own row (a KServe tensor, a warm-up item)
    assert.equal(pool.idle, 0);
    const a = pool.take(8);
    pool.give(a);
    pool.give(a);
    assert.equal(pool.idle, 1);
    assert.notEqual(pool.take(8).buffer, pool.take(8).buffer);
  });

  it('adopts buffers of its own size only, and never a detached one', () => {
    const pool = new Float32Pool(8, 1024);
    pool.adopt(new ArrayBuffer(16));
    assert.equal(pool.idle, 0);
    const moved = new ArrayBuffer(32);
    structuredClone(moved, { transfer: [moved] }); // detaches `moved`
    pool.adopt(moved);
    assert.equal(pool.idle, 0);
    pool.adopt(new ArrayBuffer(32));
    assert.equal(pool.idle, 1);
  });

  it('keeps at most maxFreeBytes idle (at least one buffer) and serves oversize requests unpooled', () => {
    const pool = new Float32Pool(4, 40); // 16-byte buffers, room for 2
    const taken = [pool.take(4), pool.take(4), pool.take(4)];
    for (const t of taken) pool.give(t);
    assert.equal(pool.idle, 2);
    const big = pool.take(9);
    assert.equal(big.length, 9);
    pool.give(big);
    assert.equal(pool.idle, 2);
    assert.equal(new Float32Pool(1024, 1).take(1).buffer.byteLength, 4096);
  });
});

describe('pooled batch buffers through a session thread', () => {
  it('hand the input buffer back with each answer; outputs match a fresh, exactly sized input', async () => {
    const model = join(REPO_ROOT, 'models', 'shapes-mobilenetv3', '1', 'model.onnx');
    const session = await ModelSession.open(model, { provider: 'cpu', intraOpThreads: 1 });
    try {
      const slot = 3 * 64 * 64;
      const pool = batchPool(4 * slot, 1);
      const input = new Float32Array(2 * slot).map((_, i) => Math.sin(i * 0.01));
      const fresh = await session.run({ input: { data: input.slice(), dims: [2, 3, 64, 64] } }, ['logits']);
      let returned = 0;
      for (let round = 0; round < 3; round++) {
        const batch = pool.take(2 * slot); // a view shorter than its 4-item buffer
        batch.set(input);
        const out = await session.run({ input: { data: batch, dims: [2, 3, 64, 64] } }, ['logits'], (b) => {
          returned++;
          pool.adopt(b);
        });
        assert.equal(batch.length, 0, 'the buffer was transferred to the session thread, not copied');
        assert.deepEqual(out.logits!.dims, [2, 64]);
        assert.deepEqual(Array.from(out.logits!.data), Array.from(fresh.logits!.data));
      }
      assert.equal(returned, 3);
      assert.equal(pool.idle, 1, 'one buffer went round trip three times');

      // Without `recycle`, a view over part of a buffer is copied: the rest of the buffer may be
      // someone else's (Node's small Buffers share slabs).
      const slab = new ArrayBuffer(3 * slot * 4);
      const part = new Float32Array(slab, 0, 2 * slot);
      part.set(input);
      const copied = await session.run({ input: { data: part, dims: [2, 3, 64, 64] } }, ['logits']);
      assert.equal(part.length, 2 * slot, 'the caller keeps its buffer');
      assert.equal(slab.byteLength, 3 * slot * 4);
      assert.deepEqual(Array.from(copied.logits!.data), Array.from(fresh.logits!.data));

      // A feed whose buffer an earlier run took is refused at once: Node would drop its message
      // silently and the run would never settle.
      const once = input.slice();
      await session.run({ input: { data: once, dims: [2, 3, 64, 64] } }, ['logits']);
      await assert.rejects(session.run({ input: { data: once, dims: [2, 3, 64, 64] } }, ['logits']), /feed "input" has a detached buffer/);
      const after = await session.run({ input: { data: input.slice(), dims: [2, 3, 64, 64] } }, ['logits']);
      assert.deepEqual(Array.from(after.logits!.data), Array.from(fresh.logits!.data), 'the session still serves');
    } finally {
      await session.release();
    }
  });
});
