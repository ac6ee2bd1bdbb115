// Tensor values of every datatype on the KServe v2 wire, both ways: JSON `data` arrays, raw
// little-endian bytes (gRPC raw contents and the HTTP binary extension) and gRPC typed contents,
// into the typed arrays onnxruntime takes, and back. FP16 is its bit pattern in raw form and a
// number in JSON (there is no typed field for it); BYTES are UTF-8 strings (ONNX string tensors),
// length-prefixed in raw form. INT64/UINT64 keep every digit: JSON numbers must be safe integers
// or decimal strings, and answers are written digit for digit. Every refusal is an
// INVALID_ARGUMENT naming the tensor, what it needs and what was sent.
import { endianness } from 'node:os';
import { GatewayError } from '../errors.js';
import { DATATYPE_SPECS, type Datatype, type HostTensor, type TensorValues, float16ToNumber, numberToFloat16 } from '../models/dtypes.js';
import { type ContentsField, type TensorData, flattenJson, joinLengthPrefixed, splitLengthPrefixed } from './kserve-tensors.js';

const HOST_IS_LE = endianness() === 'LE';

/** The gRPC typed-contents field of each datatype (FP16 has none: it travels raw only). */
export const CONTENTS_FIELD: Readonly<Record<Datatype, ContentsField | undefined>> = Object.freeze({
  BOOL: 'bool_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  FP16: undefined,
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
});

/** Integer ranges of the fixed-size integer types. */
const INT_RANGE: Partial<Record<Datatype, readonly [bigint, bigint]>> = {
  UINT8: [0n, 255n],
  UINT16: [0n, 65535n],
  UINT32: [0n, 4294967295n],
  UINT64: [0n, 18446744073709551615n],
  INT8: [-128n, 127n],
  INT16: [-32768n, 32767n],
  INT32: [-2147483648n, 2147483647n],
  INT64: [-9223372036854775808n, 9223372036854775807n],
};

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The values of a `datatype` tensor of `count` elements, as onnxruntime takes them. */
export function decodeTensor(data: TensorData, datatype: Datatype, count: number, where: string): TensorValues {
  const spec = DATATYPE_SPECS[datatype];
  switch (data.kind) {
    case 'raw': {
      if (datatype === 'BYTES') {
        const elements = splitLengthPrefixed(data.bytes, where);
        if (elements.length !== count) throw new GatewayError('INVALID_ARGUMENT', `${where} has ${elements.length} BYTES elements in its raw contents; its shape needs ${count}`);
        return elements.map((e, i) => utf8(e, `${where} element ${i}`));
      }
      const expected = count * spec.bytes;
      if (data.bytes.length !== expected) {
        throw new GatewayError('INVALID_ARGUMENT', `${where} has ${data.bytes.length} bytes of raw contents; its shape needs ${count} ${datatype} values = ${expected} bytes`);
      }
      return fromLittleEndian(data.bytes, datatype, count);
    }
    case 'typed': {
      const field = CONTENTS_FIELD[datatype];
      if (field === undefined) throw new GatewayError('INVALID_ARGUMENT', `${where} is FP16, which has no typed contents field; send it in raw_input_contents (IEEE 754 half-precision bit patterns, little-endian)`);
      if (data.field !== field) throw new GatewayError('INVALID_ARGUMENT', `${where} is ${datatype} but carries contents.${data.field}; send contents.${field} or raw_input_contents`);
      if (data.values.length !== count) throw new GatewayError('INVALID_ARGUMENT', `${where} has ${data.values.length} values in contents.${field}; its shape needs ${count}`);
      return fromValues(data.values, datatype, count, (i) => `${where} contents.${field}[${i}]`);
    }
    case 'json': {
      const leaves: unknown[] = [];
      const seen = flattenJson(data.value, where, (leaf, index) => {
        if (index < count) leaves.push(leaf);
      });
      if (seen !== count) throw new GatewayError('INVALID_ARGUMENT', `${where} has ${seen} values in data; its shape needs ${count}`);
      return fromValues(leaves, datatype, count, (i) => `${where} data[${i}]`);
    }
  }
}

/** Converts checked-length plain values (JSON leaves or typed contents) into the datatype's array. */
function fromValues(values: readonly unknown[], datatype: Datatype, count: number, at: (i: number) => string): TensorValues {
  const out = DATATYPE_SPECS[datatype].make(count);
  const bad = (i: number, needs: string): GatewayError => new GatewayError('INVALID_ARGUMENT', `${at(i)} is ${describe(values[i])}; ${datatype} data must be ${needs}`);
  switch (datatype) {
    case 'BOOL': {
      const o = out as Uint8Array;
      values.forEach((v, i) => {
        if (typeof v !== 'boolean') throw bad(i, 'true or false');
        o[i] = v ? 1 : 0;
      });
      return o;
    }
    case 'FP16': {
      const o = out as Uint16Array;
      values.forEach((v, i) => {
        if (typeof v !== 'number') throw bad(i, 'numbers');
        o[i] = numberToFloat16(v);
      });
      return o;
    }
    case 'FP32':
    case 'FP64': {
      const o = out as Float32Array | Float64Array;
      values.forEach((v, i) => {
        if (typeof v !== 'number') throw bad(i, 'numbers');
        o[i] = v;
      });
      return o;
    }
    case 'BYTES': {
      const o = out as string[];
      values.forEach((v, i) => {
        if (typeof v === 'string') o[i] = v;
        else if (v instanceof Uint8Array) o[i] = utf8(v, at(i));
        else throw bad(i, 'strings');
      });
      return o;
    }
    case 'INT64':
    case 'UINT64': {
      const o = out as BigInt64Array | BigUint64Array;
      const [min, max] = INT_RANGE[datatype]!;
      values.forEach((v, i) => {
        const n = toBigInt(v);
        if (n === undefined) throw bad(i, 'integers (a JSON number up to 2^53, or a decimal string for any value)');
        if (n < min || n > max) throw bad(i, `integers from ${min} to ${max}`);
        o[i] = n;
      });
      return o;
    }
    default: {
      const o = out as Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array;
      const [min, max] = INT_RANGE[datatype]!;
      values.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(i, 'integers');
        if (v < min || v > max) throw bad(i, `integers from ${min} to ${max}`);
        o[i] = v;
      });
      return o;
    }
  }
}

function toBigInt(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) return BigInt(v);
  return undefined;
}

/** A fresh, aligned array over a copy of little-endian `bytes` (a Buffer may sit at any offset of a pooled ArrayBuffer). */
function fromLittleEndian(bytes: Uint8Array, datatype: Datatype, count: number): TensorValues {
  const size = DATATYPE_SPECS[datatype].bytes;
  const copy = new Uint8Array(bytes);
  if (!HOST_IS_LE && size > 1) for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  const out = DATATYPE_SPECS[datatype].make(0) as Exclude<TensorValues, string[]>;
  const view = new (out.constructor as new (buffer: ArrayBuffer, offset: number, length: number) => Exclude<TensorValues, string[]>)(copy.buffer, 0, count);
  // onnxruntime reads any non-zero byte as true; answers say 1.
  if (datatype === 'BOOL') for (let i = 0; i < count; i++) (view as Uint8Array)[i] = (view as Uint8Array)[i] ? 1 : 0;
  return view;
}

/** Little-endian bytes of a tensor (raw_output_contents, the HTTP binary extension); BYTES length-prefixed. */
export function encodeRaw(tensor: HostTensor): Buffer {
  const values = tensor.values;
  if (Array.isArray(values)) return joinLengthPrefixed(values.map((s) => Buffer.from(s, 'utf8')));
  const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const size = DATATYPE_SPECS[tensor.datatype].bytes;
  if (HOST_IS_LE || size === 1) return bytes;
  const copy = Buffer.from(bytes);
  for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return copy;
}

/** The JSON text of a tensor's `data` (flat, row-major): 64-bit integers digit for digit, FP16 as numbers. */
export function encodeJsonData(tensor: HostTensor): string {
  const values = tensor.values;
  if (Array.isArray(values)) return JSON.stringify(values);
  switch (tensor.datatype) {
    case 'BOOL':
      return `[${Array.from(values as Uint8Array, (v) => (v ? 'true' : 'false')).join(',')}]`;
    case 'FP16':
      return JSON.stringify(Array.from(values as Uint16Array, float16ToNumber));
    case 'FP32':
    case 'FP64':
      // JSON has no NaN or infinities: JSON.stringify writes them as null.
      return JSON.stringify(Array.from(values as Float32Array));
    default:
      return `[${(values as Int32Array).join(',')}]`;
  }
}

/** The gRPC typed contents of a tensor (int64 as decimal strings); undefined for FP16, which travels raw only. */
export function encodeTypedContents(tensor: HostTensor): Record<string, unknown> | undefined {
  const field = CONTENTS_FIELD[tensor.datatype];
  if (field === undefined) return undefined;
  const values = tensor.values;
  if (Array.isArray(values)) return { [field]: values.map((s) => Buffer.from(s, 'utf8')) };
  if (tensor.datatype === 'BOOL') return { [field]: Array.from(values as Uint8Array, (v) => v !== 0) };
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) return { [field]: Array.from(values, (v) => v.toString()) };
  return { [field]: Array.from(values as Float32Array) };
}

function utf8(bytes: Uint8Array, where: string): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new GatewayError('INVALID_ARGUMENT', `${where} is not valid UTF-8; BYTES tensors of this model are ONNX string tensors (UTF-8 text)`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string ("${value.slice(0, 16)}${value.length > 16 ? '...' : ''}")`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value).slice(0, 24)}`;
  return `a ${typeof value}`;
}
