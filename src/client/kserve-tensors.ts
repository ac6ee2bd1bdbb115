// KServe v2 tensors between their JSON form (what the CLI and the REST API use: flat `data`) and
// the gRPC messages (typed `contents` in, typed contents or `raw_output_contents` out). Raw bytes
// are little-endian, as the Open Inference Protocol specifies; BYTES elements are a 4-byte length
// and the bytes.
import { create } from '@bufbuild/protobuf';
import { type InferTensorContents, InferTensorContentsSchema, type ModelInferResponse } from './gen/kserve/grpc_predict_v2_pb.js';
import type { JsonTensor } from './types.js';

type ContentsField = Exclude<keyof InferTensorContents, '$typeName' | '$unknown'>;

interface Dtype {
  readonly field: ContentsField | undefined;
  /** Reads element i of raw little-endian bytes. */
  readonly bytes: number;
  readonly read: (view: DataView, offset: number) => number | boolean;
}

const DTYPES: Readonly<Record<string, Dtype>> = Object.freeze({
  BOOL: { field: 'boolContents', bytes: 1, read: (v, o) => v.getUint8(o) !== 0 },
  UINT8: { field: 'uintContents', bytes: 1, read: (v, o) => v.getUint8(o) },
  UINT16: { field: 'uintContents', bytes: 2, read: (v, o) => v.getUint16(o, true) },
  UINT32: { field: 'uintContents', bytes: 4, read: (v, o) => v.getUint32(o, true) },
  UINT64: { field: 'uint64Contents', bytes: 8, read: (v, o) => Number(v.getBigUint64(o, true)) },
  INT8: { field: 'intContents', bytes: 1, read: (v, o) => v.getInt8(o) },
  INT16: { field: 'intContents', bytes: 2, read: (v, o) => v.getInt16(o, true) },
  INT32: { field: 'intContents', bytes: 4, read: (v, o) => v.getInt32(o, true) },
  INT64: { field: 'int64Contents', bytes: 8, read: (v, o) => Number(v.getBigInt64(o, true)) },
  FP16: { field: undefined, bytes: 2, read: (v, o) => float16(v.getUint16(o, true)) },
  FP32: { field: 'fp32Contents', bytes: 4, read: (v, o) => v.getFloat32(o, true) },
  FP64: { field: 'fp64Contents', bytes: 8, read: (v, o) => v.getFloat64(o, true) },
});

/** A JSON tensor's data as typed gRPC contents; FP16 (no typed field) and unknown datatypes are refused. */
export function toContents(tensor: JsonTensor): InferTensorContents {
  const contents = create(InferTensorContentsSchema);
  if (tensor.datatype === 'BYTES') {
    contents.bytesContents = tensor.data.map((v) => new TextEncoder().encode(String(v)));
    return contents;
  }
  const field = DTYPES[tensor.datatype]?.field;
  if (!field) throw new TypeError(`tensor "${tensor.name}": datatype ${tensor.datatype} cannot be sent as typed contents; use the HTTP transport or FP32`);
  if (field === 'boolContents') contents.boolContents = tensor.data.map(Boolean);
  else if (field === 'int64Contents' || field === 'uint64Contents') contents[field] = tensor.data.map((v) => BigInt(v as number));
  else if (field !== 'bytesContents') contents[field] = tensor.data.map(Number);
  return contents;
}

/** The answer's outputs as JSON tensors, read from raw_output_contents when the server sent them. */
export function outputsToJson(response: ModelInferResponse): JsonTensor[] {
  return response.outputs.map((out, i) => {
    const shape = out.shape.map(Number);
    const raw = response.rawOutputContents[i];
    if (raw !== undefined) return { name: out.name, datatype: out.datatype, shape, data: decodeRaw(out.datatype, raw) };
    const c = out.contents;
    const data: (number | boolean | string)[] = !c
      ? []
      : out.datatype === 'BYTES'
        ? c.bytesContents.map((b) => new TextDecoder().decode(b))
        : [...c.boolContents, ...c.intContents, ...c.int64Contents.map(Number), ...c.uintContents, ...c.uint64Contents.map(Number), ...c.fp32Contents, ...c.fp64Contents];
    return { name: out.name, datatype: out.datatype, shape, data };
  });
}

function decodeRaw(datatype: string, raw: Uint8Array): (number | boolean | string)[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (datatype === 'BYTES') {
    const out: string[] = [];
    for (let o = 0; o + 4 <= raw.byteLength; ) {
      const n = view.getUint32(o, true);
      out.push(new TextDecoder().decode(raw.subarray(o + 4, o + 4 + n)));
      o += 4 + n;
    }
    return out;
  }
  const dtype = DTYPES[datatype];
  if (!dtype) throw new TypeError(`output datatype ${datatype} is not a KServe datatype`);
  const out: (number | boolean)[] = [];
  for (let o = 0; o + dtype.bytes <= raw.byteLength; o += dtype.bytes) out.push(dtype.read(view, o));
  return out;
}

/** IEEE 754 half precision bits -> number. */
function float16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
