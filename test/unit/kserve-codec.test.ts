// The KServe v2 tensor codec of every datatype: JSON, raw little-endian bytes and gRPC typed
// contents into onnxruntime's arrays and back, FP16 bit patterns, exact 64-bit integers, and the
// refusals (wrong length, wrong JSON type, out of range, bad UTF-8), table-driven.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.js';
import { DATATYPES, type Datatype, type HostTensor, float16ToNumber, numberToFloat16 } from '../../src/models/dtypes.js';
import { CONTENTS_FIELD, decodeTensor, encodeJsonData, encodeRaw, encodeTypedContents } from '../../src/server/kserve-codec.js';
import type { TensorData } from '../../src/server/kserve-tensors.js';

/** Three JSON values per datatype, chosen at the edges of each type's range. */
const SAMPLES: Record<Datatype, readonly unknown[]> = {
  BOOL: [true, false, true],
  UINT8: [0, 7, 255],
  UINT16: [0, 7, 65535],
  UINT32: [0, 7, 4294967295],
  UINT64: [0, 7, '18446744073709551615'],
  INT8: [-128, 0, 127],
  INT16: [-32768, 0, 32767],
  INT32: [-2147483648, 0, 2147483647],
  INT64: ['-9223372036854775808', 0, '9223372036854775807'],
  FP16: [1.5, -2, 65504],
  FP32: [1.5, -2.25, 16777216],
  FP64: [1.5, -2.25, 1e300],
  BYTES: ['a', 'héllo wörld', ''],
};

const where = 'input "x"';
const invalid = (pattern: RegExp) => (err: unknown) => err instanceof GatewayError && err.code === 'INVALID_ARGUMENT' && pattern.test(err.message);

describe('kserve codec', () => {
  for (const datatype of DATATYPES) {
    it(`${datatype}: JSON -> values -> raw, typed and JSON -> the same values`, () => {
      const values = decodeTensor({ kind: 'json', value: [SAMPLES[datatype]] }, datatype, 3, where);
      const tensor: HostTensor = { datatype, values, dims: [1, 3] };
      // JSON back: numbers (64-bit integers digit for digit), booleans, strings.
      const json = encodeJsonData(tensor);
      const expectedJson = `[${SAMPLES[datatype].map((v) => (typeof v === 'string' && datatype !== 'BYTES' ? v : JSON.stringify(v))).join(',')}]`;
      assert.equal(json, expectedJson);
      // Raw bytes and back.
      const raw = encodeRaw(tensor);
      assert.deepEqual(decodeTensor({ kind: 'raw', bytes: raw }, datatype, 3, where), values);
      // Typed contents and back (FP16 has no typed field).
      const typed = encodeTypedContents(tensor);
      if (datatype === 'FP16') {
        assert.equal(typed, undefined);
        assert.throws(() => decodeTensor({ kind: 'typed', field: 'fp32_contents', values: [1, 2, 3] }, datatype, 3, where), invalid(/FP16, which has no typed contents field; send it in raw_input_contents/));
      } else {
        const field = CONTENTS_FIELD[datatype]!;
        assert.deepEqual(decodeTensor({ kind: 'typed', field, values: typed![field] as unknown[] }, datatype, 3, where), values);
      }
    });
  }

  it('raw sizes follow each datatype', () => {
    const sizes = Object.fromEntries(DATATYPES.filter((d) => d !== 'BYTES').map((d) => [d, encodeRaw({ datatype: d, values: decodeTensor({ kind: 'json', value: SAMPLES[d] }, d, 3, where), dims: [3] }).length / 3]));
    assert.deepEqual(sizes, { BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8 });
    // BYTES: 4-byte little-endian length, then the UTF-8 bytes.
    assert.deepEqual([...encodeRaw({ datatype: 'BYTES', values: ['hé'], dims: [1] })], [3, 0, 0, 0, 0x68, 0xc3, 0xa9]);
  });

  it('FP16 travels as IEEE 754 half-precision bits', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds up to infinity
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [0, 0x0000],
      [-0, 0x8000],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -14, 0x0400], // smallest normal
      [0.1, 0x2e66],
      [1 + 2 ** -11, 0x3c00], // a tie rounds to even
      [1 + 3 * 2 ** -11, 0x3c02],
    ];
    for (const [value, bits] of cases) {
      assert.equal(numberToFloat16(value), bits, `bits of ${value}`);
      if (Number.isFinite(value) && value !== 65520 && value !== 1 + 2 ** -11 && value !== 1 + 3 * 2 ** -11) assert.equal(float16ToNumber(bits), value === 0.1 ? 0.0999755859375 : value);
    }
    assert.ok(Number.isNaN(float16ToNumber(numberToFloat16(NaN))));
    assert.deepEqual([...encodeRaw({ datatype: 'FP16', values: new Uint16Array([0x3c00]), dims: [1] })], [0x00, 0x3c]);
  });

  const refusals: { name: string; datatype: Datatype; data: TensorData; count: number; error: RegExp }[] = [
    { name: 'JSON too short', datatype: 'INT32', data: { kind: 'json', value: [1, 2] }, count: 3, error: /has 2 values in data; its shape needs 3/ },
    { name: 'JSON too long', datatype: 'FP32', data: { kind: 'json', value: [[1, 2], [3, 4]] }, count: 3, error: /has 4 values in data; its shape needs 3/ },
    { name: 'raw too short (a short buffer never leaks bytes)', datatype: 'FP32', data: { kind: 'raw', bytes: new Uint8Array(11) }, count: 3, error: /11 bytes of raw contents; its shape needs 3 FP32 values = 12 bytes/ },
    { name: 'raw too long', datatype: 'INT64', data: { kind: 'raw', bytes: new Uint8Array(32) }, count: 3, error: /32 bytes of raw contents; its shape needs 3 INT64 values = 24 bytes/ },
    { name: 'raw BYTES element count', datatype: 'BYTES', data: { kind: 'raw', bytes: encodeRaw({ datatype: 'BYTES', values: ['a'], dims: [1] }) }, count: 2, error: /1 BYTES elements in its raw contents; its shape needs 2/ },
    { name: 'typed count', datatype: 'INT32', data: { kind: 'typed', field: 'int_contents', values: [1] }, count: 2, error: /1 values in contents.int_contents; its shape needs 2/ },
    { name: 'typed wrong field', datatype: 'INT64', data: { kind: 'typed', field: 'fp32_contents', values: [1] }, count: 1, error: /is INT64 but carries contents.fp32_contents; send contents.int64_contents/ },
    { name: 'BOOL given a number', datatype: 'BOOL', data: { kind: 'json', value: [1] }, count: 1, error: /data\[0\] is number 1; BOOL data must be true or false/ },
    { name: 'INT32 given a fraction', datatype: 'INT32', data: { kind: 'json', value: [1.5] }, count: 1, error: /data\[0\] is number 1.5; INT32 data must be integers/ },
    { name: 'UINT8 out of range', datatype: 'UINT8', data: { kind: 'json', value: [256] }, count: 1, error: /data\[0\] is number 256; UINT8 data must be integers from 0 to 255/ },
    { name: 'INT8 out of range (typed)', datatype: 'INT8', data: { kind: 'typed', field: 'int_contents', values: [-129] }, count: 1, error: /contents.int_contents\[0\] is number -129; INT8 data must be integers from -128 to 127/ },
    { name: 'UINT64 negative', datatype: 'UINT64', data: { kind: 'json', value: ['-1'] }, count: 1, error: /UINT64 data must be integers from 0 to 18446744073709551615/ },
    { name: 'INT64 unsafe JSON number', datatype: 'INT64', data: { kind: 'json', value: [2 ** 60] }, count: 1, error: /INT64 data must be integers \(a JSON number up to 2\^53, or a decimal string for any value\)/ },
    { name: 'FP32 given a string', datatype: 'FP32', data: { kind: 'json', value: ['1'] }, count: 1, error: /data\[0\] is a string \("1"\); FP32 data must be numbers/ },
    { name: 'BYTES given a number', datatype: 'BYTES', data: { kind: 'json', value: [1] }, count: 1, error: /BYTES data must be strings/ },
    { name: 'BYTES not UTF-8', datatype: 'BYTES', data: { kind: 'typed', field: 'bytes_contents', values: [Buffer.from([0xff, 0xfe])] }, count: 1, error: /is not valid UTF-8; BYTES tensors of this model are ONNX string tensors/ },
  ];
  for (const r of refusals) {
    it(`refuses: ${r.name}`, () => {
      assert.throws(() => decodeTensor(r.data, r.datatype, r.count, where), invalid(new RegExp(`^${where}.*${r.error.source}`)));
    });
  }

  it('a raw buffer at an odd offset decodes into an aligned copy', () => {
    const slab = Buffer.alloc(13);
    slab.writeDoubleLE(2.5, 1);
    const values = decodeTensor({ kind: 'raw', bytes: slab.subarray(1, 9) }, 'FP64', 1, where) as Float64Array;
    assert.equal(values[0], 2.5);
    assert.equal(values.byteOffset, 0);
  });
});
