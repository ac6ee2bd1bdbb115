// KServe v2 clients for tests: one call over any of the four wire forms (HTTP JSON, HTTP binary
// extension, gRPC typed contents, gRPC raw contents) with a transport-neutral tensor in and out, so
// a test states its tensors once and checks every protocol. The encodings here are written from
// the protocol's text, independent of the gateway's codec.
import * as grpc from '@grpc/grpc-js';
import { loadKServeProto } from '../../src/server/grpc-kserve.js';

export type Wire = 'http-json' | 'http-binary' | 'grpc-typed' | 'grpc-raw';
export const WIRES: readonly Wire[] = ['http-json', 'http-binary', 'grpc-typed', 'grpc-raw'];

/** A tensor as tests state it: flat row-major values (numbers, bigints, booleans or strings). */
export interface Tensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: readonly (number | bigint | boolean | string)[];
}

export interface InferAnswer {
  readonly outputs: Tensor[];
  readonly parameters: Record<string, unknown>;
}

export type KServeClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function kserveClient(address: string): KServeClient {
  const { grpcObject } = loadKServeProto();
  const Ctor = (grpcObject['inference'] as grpc.GrpcObject)['GRPCInferenceService'] as grpc.ServiceClientConstructor;
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as KServeClient;
}

export function unary(client: KServeClient, method: string, request: object, options: { metadata?: grpc.Metadata; deadlineMs?: number } = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const callOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
    client[method]!(request, options.metadata ?? new grpc.Metadata(), callOptions, (err: grpc.ServiceError | null, reply: unknown) => (err ? reject(err) : resolve(reply)));
  });
}

const SIZES: Record<string, number> = { BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8 };

/** Little-endian bytes of a tensor as the protocol defines them (FP16 values are given as their bit patterns). */
export function rawBytes(t: Tensor): Buffer {
  if (t.datatype === 'BYTES') return Buffer.concat(t.data.map((s) => { const b = Buffer.from(String(s)); const n = Buffer.alloc(4); n.writeUInt32LE(b.length); return Buffer.concat([n, b]); }));
  const size = SIZES[t.datatype]!;
  const out = Buffer.alloc(t.data.length * size);
  t.data.forEach((v, i) => {
    const at = i * size;
    switch (t.datatype) {
      case 'BOOL': out.writeUInt8(v ? 1 : 0, at); break;
      case 'UINT8': out.writeUInt8(Number(v), at); break;
      case 'INT8': out.writeInt8(Number(v), at); break;
      case 'UINT16': case 'FP16': out.writeUInt16LE(Number(v), at); break;
      case 'INT16': out.writeInt16LE(Number(v), at); break;
      case 'UINT32': out.writeUInt32LE(Number(v), at); break;
      case 'INT32': out.writeInt32LE(Number(v), at); break;
      case 'UINT64': out.writeBigUInt64LE(BigInt(v), at); break;
      case 'INT64': out.writeBigInt64LE(BigInt(v), at); break;
      case 'FP32': out.writeFloatLE(Number(v), at); break;
      case 'FP64': out.writeDoubleLE(Number(v), at); break;
    }
  });
  return out;
}

/** The values of little-endian bytes (FP16 as bit patterns, 64-bit integers as bigints). */
export function fromRaw(datatype: string, bytes: Buffer): (number | bigint | boolean | string)[] {
  if (datatype === 'BYTES') {
    const out: string[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = bytes.readUInt32LE(at);
      out.push(bytes.subarray(at + 4, at + 4 + n).toString('utf8'));
      at += 4 + n;
    }
    return out;
  }
  const size = SIZES[datatype]!;
  return Array.from({ length: bytes.length / size }, (_, i) => {
    const at = i * size;
    switch (datatype) {
      case 'BOOL': return bytes.readUInt8(at) !== 0;
      case 'UINT8': return bytes.readUInt8(at);
      case 'INT8': return bytes.readInt8(at);
      case 'UINT16': case 'FP16': return bytes.readUInt16LE(at);
      case 'INT16': return bytes.readInt16LE(at);
      case 'UINT32': return bytes.readUInt32LE(at);
      case 'INT32': return bytes.readInt32LE(at);
      case 'UINT64': return bytes.readBigUInt64LE(at);
      case 'INT64': return bytes.readBigInt64LE(at);
      case 'FP32': return bytes.readFloatLE(at);
      default: return bytes.readDoubleLE(at);
    }
  });
}

const TYPED_FIELD: Record<string, string> = { BOOL: 'bool_contents', UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents', FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents' };

/** A JSON value of one element: 64-bit integers beyond 2^53 as decimal strings. */
function jsonValue(v: number | bigint | boolean | string): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  return v;
}

/** A JSON element as tests compare it: 64-bit integers as bigints (read exactly from the response text). */
function normalize(datatype: string, v: unknown): number | bigint | boolean | string {
  if (datatype === 'INT64' || datatype === 'UINT64') return BigInt(v as string | number);
  return v as number | boolean | string;
}

/**
 * One inference over `wire`. `outputs` names the outputs to ask for (each with binary_data on the
 * binary wire unless `binary` says otherwise); FP16 inputs are given as bit patterns, and on the
 * JSON wire FP16 is sent as numbers (`fp16Numbers`).
 */
export async function infer(
  wire: Wire,
  target: { readonly http: string; readonly grpc: KServeClient },
  model: string,
  inputs: readonly Tensor[],
  options: { outputs?: readonly string[]; binary?: (name: string) => boolean; fp16ToNumber?: (bits: number) => number; headers?: Record<string, string> } = {},
): Promise<InferAnswer> {
  const requested = options.outputs?.map((name) => ({ name }));
  if (wire === 'http-json' || wire === 'http-binary') {
    const binary = wire === 'http-binary';
    const blobs: Buffer[] = [];
    const jsonInputs = inputs.map((t) => {
      const head = { name: t.name, datatype: t.datatype, shape: t.shape };
      if (binary) {
        const bytes = rawBytes(t);
        blobs.push(bytes);
        return { ...head, parameters: { binary_data_size: bytes.length } };
      }
      const data = t.datatype === 'FP16' ? t.data.map((b) => options.fp16ToNumber!(Number(b))) : t.data.map(jsonValue);
      return { ...head, data };
    });
    const outputs = binary ? (requested ?? []).map((o) => ({ ...o, parameters: { binary_data: options.binary?.(o.name) ?? true } })) : requested;
    const header = Buffer.from(JSON.stringify({ inputs: jsonInputs, ...(outputs && outputs.length > 0 ? { outputs } : {}), ...(binary && !requested ? { parameters: { binary_data_output: true } } : {}) }));
    const res = await fetch(`${target.http}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': binary ? 'application/octet-stream' : 'application/json', ...(binary ? { 'inference-header-content-length': String(header.length) } : {}), ...options.headers },
      body: Buffer.concat([header, ...blobs]),
    });
    const body = Buffer.from(await res.arrayBuffer());
    const headerLength = Number(res.headers.get('inference-header-content-length') ?? body.length);
    const text = body.subarray(0, headerLength).toString('utf8');
    if (res.status !== 200) throw Object.assign(new Error(text), { status: res.status, code: res.headers.get('x-error-code') });
    // 64-bit integers: read the digits, not a rounded double.
    const json = JSON.parse(text.replace(/(?<=[[,:])(-?\d{16,})(?=[,\]}])/g, '"$1"')) as { outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[]; parameters?: Record<string, unknown> };
    let at = headerLength;
    return {
      parameters: json.parameters ?? {},
      outputs: json.outputs.map((o) => {
        const size = o.parameters?.binary_data_size;
        if (size !== undefined) {
          const bytes = body.subarray(at, at + size);
          at += size;
          return { name: o.name, datatype: o.datatype, shape: o.shape, data: fromRaw(o.datatype, bytes) };
        }
        return { name: o.name, datatype: o.datatype, shape: o.shape, data: o.data!.map((v) => normalize(o.datatype, v)) };
      }),
    };
  }
  const raw = wire === 'grpc-raw';
  const request = {
    model_name: model,
    inputs: inputs.map((t) => {
      const head = { name: t.name, datatype: t.datatype, shape: t.shape.map(String) };
      if (raw) return head;
      const field = TYPED_FIELD[t.datatype]!;
      const values = t.data.map((v) => (t.datatype === 'BYTES' ? Buffer.from(String(v)) : typeof v === 'bigint' ? v.toString() : v));
      return { ...head, contents: { [field]: values } };
    }),
    outputs: requested ?? [],
    raw_input_contents: raw ? inputs.map(rawBytes) : [],
  };
  const reply = (await unary(target.grpc, 'ModelInfer', request, options.headers?.['x-request-timeout-ms'] ? { deadlineMs: Number(options.headers['x-request-timeout-ms']) } : {})) as {
    outputs: { name: string; datatype: string; shape: string[]; contents?: Record<string, unknown[]> }[];
    raw_output_contents: Buffer[];
    parameters: Record<string, { bool_param?: boolean }>;
  };
  const parameters = Object.fromEntries(Object.entries(reply.parameters ?? {}).map(([k, v]) => [k, v.bool_param]));
  return {
    parameters,
    outputs: reply.outputs.map((o, i) => {
      const shape = o.shape.map(Number);
      if (reply.raw_output_contents.length > 0) return { name: o.name, datatype: o.datatype, shape, data: fromRaw(o.datatype, reply.raw_output_contents[i]!) };
      const values = o.contents![TYPED_FIELD[o.datatype]!]!;
      const data = values.map((v) => (o.datatype === 'BYTES' ? (v as Buffer).toString('utf8') : o.datatype === 'INT64' || o.datatype === 'UINT64' ? BigInt(v as string) : (v as number | boolean)));
      return { name: o.name, datatype: o.datatype, shape, data };
    }),
  };
}

/** Batches a model ran so far (its batch-size histogram's count, all versions). */
export function batches(metrics: string, model: string): number {
  return metrics
    .split('\n')
    .filter((l) => l.startsWith('gateway_batch_size_count') && l.includes(`model="${model}"`))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}
