// The tensor data types the gateway serves: each KServe v2 datatype beside the onnxruntime type it
// maps to, its element size, and the typed array that holds it in memory. FP16 lives as its IEEE
// 754 half-precision bit pattern in a Uint16Array (as onnxruntime-node holds it); the two
// conversions here turn those bits into numbers for JSON and back. BYTES maps to ONNX string
// tensors (UTF-8 text). Pure data and functions, shared by the models and the transports.

/** KServe v2 datatypes that onnxruntime-node can feed and fetch. */
export const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type Datatype = (typeof DATATYPES)[number];

/** onnxruntime-node tensor type names (Tensor.type). */
export type OrtType = 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'string';

/** Values of one tensor, row-major: a typed array, or the strings of a BYTES (ONNX string) tensor. */
export type TensorValues =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | string[];

/** A dense tensor of any served type. */
export interface HostTensor {
  readonly datatype: Datatype;
  readonly values: TensorValues;
  readonly dims: readonly number[];
}

interface DatatypeSpec {
  readonly ort: OrtType;
  /** Bytes per element on the wire (raw contents, binary extension); 0 for BYTES (length-prefixed). */
  readonly bytes: number;
  /** An empty (zeroed) array of n elements. */
  readonly make: (n: number) => TensorValues;
}

/** Everything the gateway knows about each datatype (frozen: one table, read everywhere). */
export const DATATYPE_SPECS: Readonly<Record<Datatype, DatatypeSpec>> = Object.freeze({
  BOOL: { ort: 'bool', bytes: 1, make: (n) => new Uint8Array(n) },
  UINT8: { ort: 'uint8', bytes: 1, make: (n) => new Uint8Array(n) },
  UINT16: { ort: 'uint16', bytes: 2, make: (n) => new Uint16Array(n) },
  UINT32: { ort: 'uint32', bytes: 4, make: (n) => new Uint32Array(n) },
  UINT64: { ort: 'uint64', bytes: 8, make: (n) => new BigUint64Array(n) },
  INT8: { ort: 'int8', bytes: 1, make: (n) => new Int8Array(n) },
  INT16: { ort: 'int16', bytes: 2, make: (n) => new Int16Array(n) },
  INT32: { ort: 'int32', bytes: 4, make: (n) => new Int32Array(n) },
  INT64: { ort: 'int64', bytes: 8, make: (n) => new BigInt64Array(n) },
  FP16: { ort: 'float16', bytes: 2, make: (n) => new Uint16Array(n) },
  FP32: { ort: 'float32', bytes: 4, make: (n) => new Float32Array(n) },
  FP64: { ort: 'float64', bytes: 8, make: (n) => new Float64Array(n) },
  BYTES: { ort: 'string', bytes: 0, make: (n) => Array.from({ length: n }, () => '') },
} satisfies Record<Datatype, DatatypeSpec>);

const BY_ORT: ReadonlyMap<string, Datatype> = new Map(DATATYPES.map((d) => [DATATYPE_SPECS[d].ort, d]));

/** The datatype of an onnxruntime type name; undefined for types the protocol cannot carry (bfloat16, int4, ...). */
export function datatypeOfOrt(type: string): Datatype | undefined {
  return BY_ORT.get(type);
}

export function isDatatype(name: string): name is Datatype {
  return (DATATYPES as readonly string[]).includes(name);
}

/** A view of elements [start, end) of `values` (no copy for typed arrays). */
export function sliceValues(values: TensorValues, start: number, end: number): TensorValues {
  return Array.isArray(values) ? values.slice(start, end) : values.subarray(start, end);
}

/** Copies `from` into `into` at element `offset` (both of the same datatype). */
export function copyValues(into: TensorValues, from: TensorValues, offset: number): void {
  if (Array.isArray(into)) {
    const strings = from as string[];
    for (let i = 0; i < strings.length; i++) into[offset + i] = strings[i]!;
    return;
  }
  (into as Uint8Array).set(from as Uint8Array, offset);
}

/** Bytes a tensor's values hold in memory (string lengths for BYTES), for cache accounting. */
export function valuesByteLength(values: TensorValues): number {
  if (!Array.isArray(values)) return values.byteLength;
  let n = 0;
  for (const s of values) n += Buffer.byteLength(s) + 4;
  return n;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The number an IEEE 754 half-precision bit pattern stands for. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The half-precision bit pattern nearest to `value` (round to nearest even, overflow to infinity, NaN kept). */
export function numberToFloat16(value: number): number {
  F32[0] = value;
  const x = U32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    // Subnormal half: shift the implicit bit in, then round to nearest even.
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let result = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    if (rest > half || (rest === half && (result & 1) === 1)) result++;
    return sign | result;
  }
  let result = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (result & 1) === 1)) result++;
  // A carry out of the mantissa rolls into the exponent (up to infinity): still the right bits.
  return sign | result;
}
