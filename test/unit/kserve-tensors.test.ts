// KServe v2 tensor conversions: raw little-endian FP32 at any buffer offset, typed and JSON
// (flat or nested) data, length-prefixed BYTES, and refusals that name the field and the limit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.js';
import { elementCount, float32Bytes, joinLengthPrefixed, parseShape, toByteElements, toFloat32 } from '../../src/server/kserve-tensors.js';

const invalid = (message: RegExp) => (err: unknown) => err instanceof GatewayError && err.code === 'INVALID_ARGUMENT' && message.test(err.message);

describe('kserve tensors', () => {
  it('reads raw little-endian FP32 from a buffer at an odd offset', () => {
    const values = new Float32Array([1.5, -2, 3.25]);
    const padded = Buffer.concat([Buffer.from([7]), float32Bytes(values)]).subarray(1); // byteOffset 1 of its pool
    assert.deepEqual(Array.from(toFloat32({ kind: 'raw', bytes: padded }, 3, 'input "x"')), [1.5, -2, 3.25]);
    assert.throws(() => toFloat32({ kind: 'raw', bytes: padded.subarray(1) }, 3, 'input "x"'), invalid(/input "x" has 11 bytes of raw contents; its shape needs 3 FP32 values = 12 bytes/));
  });

  it('reads JSON data flat or nested, and typed fp32_contents', () => {
    assert.deepEqual(Array.from(toFloat32({ kind: 'json', value: [[1, 2], [3, 4]] }, 4, 'i')), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(toFloat32({ kind: 'json', value: [1, 2, 3, 4] }, 4, 'i')), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(toFloat32({ kind: 'typed', field: 'fp32_contents', values: [1, 2] }, 2, 'i')), [1, 2]);
    assert.throws(() => toFloat32({ kind: 'json', value: [1, 2, 3] }, 4, 'i'), invalid(/i has 3 values in data; its shape needs 4/));
    assert.throws(() => toFloat32({ kind: 'json', value: [1, true] }, 2, 'i'), invalid(/data\[1\] is a boolean; FP32 data must be numbers/));
    assert.throws(() => toFloat32({ kind: 'json', value: 'abc' }, 2, 'i'), invalid(/"data" must be an array/));
    assert.throws(() => toFloat32({ kind: 'typed', field: 'fp32_contents', values: [1] }, 2, 'i'), invalid(/1 values in contents.fp32_contents; its shape needs 2/));
    let deep: unknown = [1];
    for (let i = 0; i < 10; i++) deep = [deep];
    assert.throws(() => toFloat32({ kind: 'json', value: deep }, 1, 'i'), invalid(/nested deeper than 8 levels/));
  });

  it('round-trips length-prefixed BYTES and refuses truncated ones', () => {
    const raw = joinLengthPrefixed([Buffer.from('ab'), Buffer.from('')]);
    assert.deepEqual(raw, Buffer.from([2, 0, 0, 0, 0x61, 0x62, 0, 0, 0, 0]));
    assert.deepEqual(toByteElements({ kind: 'raw', bytes: raw }, 2, 'i', 10).map((b) => Buffer.from(b).toString()), ['ab', '']);
    assert.throws(() => toByteElements({ kind: 'raw', bytes: raw.subarray(0, 5) }, 2, 'i', 10), invalid(/element 0 claims 2 bytes but only 1 remain/));
    assert.throws(() => toByteElements({ kind: 'raw', bytes: raw }, 3, 'i', 10), invalid(/has 2 BYTES elements; its shape needs 3/));
    assert.deepEqual(toByteElements({ kind: 'json', value: [Buffer.from('hi').toString('base64')] }, 1, 'i', 10).map((b) => Buffer.from(b).toString()), ['hi']);
    assert.throws(
      () => toByteElements({ kind: 'typed', field: 'bytes_contents', values: [Buffer.alloc(11)] }, 1, 'i', 10),
      (err: unknown) => err instanceof GatewayError && err.code === 'PAYLOAD_TOO_LARGE' && /element 0 is 11 bytes; the limit is 10 bytes/.test(err.message),
    );
  });

  it('checks shapes', () => {
    assert.deepEqual(parseShape(['2', 3], 'i'), [2, 3]);
    assert.throws(() => parseShape(['-1'], 'i'), invalid(/shape\[0\] is "-1"; dimensions must be non-negative integers/));
    assert.equal(elementCount([2, 3, 4], 'i'), 24);
    assert.throws(() => elementCount([2, 1.5], 'i'), invalid(/shape\[1\] is 1.5/));
  });
});
