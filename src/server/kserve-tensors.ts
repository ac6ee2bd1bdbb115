// Tensor data of the KServe v2 / Open Inference Protocol, transport-neutral: what each transport
// hands the KServe service (JSON values, little-endian raw bytes, typed proto contents), the
// conversions into Float32 rows and byte elements, and the shape checks. Pure functions; every
// refusal is an INVALID_ARGUMENT that names the tensor, the field and the limit.
import { endianness } from 'node:os';
import { GatewayError, tooLarge } from '../errors.js';
import { decodeBase64 } from './base64.js';

/** Element sizes in bytes of the protocol's fixed-size datatypes (BYTES is variable). */
export const DATATYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  BF16: 2,
  FP32: 4,
  FP64: 8,
});

/** How an input tensor's contents arrived. */
export type TensorData =
  /** HTTP JSON `data`: nested or flat array of numbers (FP32) or strings (BYTES, base64 here). */
  | { readonly kind: 'json'; readonly value: unknown }
  /** gRPC raw_input_contents or the HTTP binary extension: little-endian, row-major; BYTES elements length-prefixed. */
  | { readonly kind: 'raw'; readonly bytes: Uint8Array }
  /** gRPC typed contents: the one field of InferTensorContents that was set (int64 values as decimal strings). */
  | { readonly kind: 'typed'; readonly field: ContentsField; readonly values: readonly unknown[] };

/** Fields of the protocol's InferTensorContents. */
export type ContentsField = 'bool_contents' | 'int_contents' | 'int64_contents' | 'uint_contents' | 'uint64_contents' | 'fp32_contents' | 'fp64_contents' | 'bytes_contents';

const HOST_IS_LE = endianness() === 'LE';
/** Deepest nesting accepted in a JSON `data` array (a tensor of rank 8 is already unusual). */
const MAX_JSON_DEPTH = 8;

/** Number of elements of `shape`; throws unless every dimension is a non-negative integer. */
export function elementCount(shape: readonly number[], where: string): number {
  let n = 1;
  for (const [i, d] of shape.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) throw new GatewayError('INVALID_ARGUMENT', `${where} shape[${i}] is ${String(d).slice(0, 32)}; dimensions must be non-negative integers`);
    n *= d;
  }
  return n;
}

/** Parses a shape given as strings or numbers (proto int64 arrives as strings). */
export function parseShape(shape: readonly (string | number)[], where: string): number[] {
  return shape.map((d, i) => {
    const n = typeof d === 'number' ? d : Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw new GatewayError('INVALID_ARGUMENT', `${where} shape[${i}] is "${String(d).slice(0, 32)}"; dimensions must be non-negative integers`);
    return n;
  });
}

/** The FP32 values of a tensor of `count` elements, as one Float32Array. */
export function toFloat32(data: TensorData, count: number, where: string): Float32Array {
  switch (data.kind) {
    case 'raw': {
      if (data.bytes.length !== count * 4) throw new GatewayError('INVALID_ARGUMENT', `${where} has ${data.bytes.length} bytes of raw contents; its shape needs ${count} FP32 values = ${count * 4} bytes`);
      // A fresh aligned copy (a Buffer may sit at any offset of a pooled ArrayBuffer, and Buffer#slice
      // does not copy); little-endian as the protocol says.
      const copy = new Uint8Array(data.bytes);
      if (HOST_IS_LE) return new Float32Array(copy.buffer, 0, count);
      const view = new DataView(copy.buffer);
      return Float32Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, true));
    }
    case 'typed':
      if (data.field !== 'fp32_contents') throw new GatewayError('INVALID_ARGUMENT', `${where} is FP32 but carries contents.${data.field}; send contents.fp32_contents or raw_input_contents`);
      if (data.values.length !== count) throw new GatewayError('INVALID_ARGUMENT', `${where} has ${data.values.length} values in contents.fp32_contents; its shape needs ${count}`);
      return Float32Array.from(data.values as readonly number[]);
    case 'json': {
      const out = new Float32Array(count);
      const seen = flattenJson(data.value, where, (value, index) => {
        if (typeof value !== 'number') throw new GatewayError('INVALID_ARGUMENT', `${where} data[${index}] is ${describe(value)}; FP32 data must be numbers`);
        if (index < count) out[index] = value;
      });
      if (seen !== count) throw new GatewayError('INVALID_ARGUMENT', `${where} has ${seen} values in data; its shape needs ${count}`);
      return out;
    }
  }
}

/** The elements of a BYTES tensor of `count` elements; in JSON each element is a base64 string. */
export function toByteElements(data: TensorData, count: number, where: string, maxElementBytes: number): Uint8Array[] {
  let elements: Uint8Array[];
  switch (data.kind) {
    case 'raw':
      elements = splitLengthPrefixed(data.bytes, where);
      break;
    case 'typed':
      if (data.field !== 'bytes_contents') throw new GatewayError('INVALID_ARGUMENT', `${where} is BYTES but carries contents.${data.field}; send contents.bytes_contents or raw_input_contents`);
      elements = [...(data.values as readonly Uint8Array[])];
      break;
    case 'json': {
      elements = [];
      flattenJson(data.value, where, (value, index) => {
        if (typeof value !== 'string') throw new GatewayError('INVALID_ARGUMENT', `${where} data[${index}] is ${describe(value)}; BYTES data must be base64 strings`);
        elements.push(decodeBase64Element(value, `${where} data[${index}]`, maxElementBytes));
      });
      break;
    }
  }
  if (elements.length !== count) throw new GatewayError('INVALID_ARGUMENT', `${where} has ${elements.length} BYTES elements; its shape needs ${count}`);
  for (const [i, e] of elements.entries()) {
    if (e.length > maxElementBytes) throw tooLarge({ what: `${where} element ${i}`, sizeBytes: e.length, limitBytes: maxElementBytes });
  }
  return elements;
}

/** BYTES elements serialized as the raw/binary forms carry them: a 4-byte little-endian length, then the bytes. */
export function joinLengthPrefixed(elements: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of elements) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(e.length);
    parts.push(length, Buffer.from(e.buffer, e.byteOffset, e.byteLength));
  }
  return Buffer.concat(parts);
}

/** The elements of length-prefixed BYTES contents (the inverse of joinLengthPrefixed). */
export function splitLengthPrefixed(bytes: Uint8Array, where: string): Uint8Array[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 4 > buf.length) throw new GatewayError('INVALID_ARGUMENT', `${where} raw BYTES contents end inside a 4-byte length prefix (at byte ${at} of ${buf.length})`);
    const length = buf.readUInt32LE(at);
    if (at + 4 + length > buf.length) throw new GatewayError('INVALID_ARGUMENT', `${where} raw BYTES element ${out.length} claims ${length} bytes but only ${buf.length - at - 4} remain`);
    out.push(buf.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/** Little-endian bytes of a Float32Array (for raw_output_contents and the HTTP binary extension). */
export function float32Bytes(values: Float32Array): Buffer {
  if (HOST_IS_LE) return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => out.writeFloatLE(v, i * 4));
  return out;
}

/**
 * Walks a JSON `data` value in row-major order (nested arrays or flat), calling `visit` for each
 * leaf with its flat index; answers the number of leaves.
 */
export function flattenJson(value: unknown, where: string, visit: (leaf: unknown, index: number) => void): number {
  if (!Array.isArray(value)) throw new GatewayError('INVALID_ARGUMENT', `${where} "data" must be an array, got ${describe(value)}`);
  let index = 0;
  const walk = (v: readonly unknown[], depth: number): void => {
    if (depth > MAX_JSON_DEPTH) throw new GatewayError('INVALID_ARGUMENT', `${where} "data" is nested deeper than ${MAX_JSON_DEPTH} levels`);
    for (const item of v) {
      if (Array.isArray(item)) walk(item, depth + 1);
      else visit(item, index++);
    }
  };
  walk(value, 1);
  return index;
}

function decodeBase64Element(text: string, where: string, maxBytes: number): Buffer {
  return decodeBase64(text, where, { hint: 'BYTES elements in JSON carry base64-encoded bytes', maxBytes });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string ("${value.slice(0, 16)}${value.length > 16 ? '...' : ''}")`;
  return `a ${typeof value}`;
}
