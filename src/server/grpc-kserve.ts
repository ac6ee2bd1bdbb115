// gRPC transport of the KServe v2 / Open Inference Protocol: inference.GRPCInferenceService from
// KServe's grpc_predict_v2.proto, served beside gateway.v1 on the same server. A thin adapter to
// the KServe service: typed contents or raw_input_contents in, and raw_output_contents out when the
// request used raw inputs (as Triton does). Errors map through the catalog (toServiceError).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GatewayError } from '../errors.js';
import type { CallContext } from './call.js';
import { PROTO_LOADER_OPTIONS, type Unary, toServiceError, unaryContext } from './grpc-common.js';
import type { KServeService, ParameterValue, Parameters, V2InferResponse, V2Input } from './kserve-service.js';
import { type Datatype, isDatatype } from '../models/dtypes.js';
import { CONTENTS_FIELD, encodeRaw, encodeTypedContents } from './kserve-codec.js';
import { type ContentsField, type TensorData, parseShape } from './kserve-tensors.js';

export const KSERVE_PROTO_PATH = fileURLToPath(new URL('../../proto/kserve/grpc_predict_v2.proto', import.meta.url));
export const KSERVE_SERVICE_NAME = 'inference.GRPCInferenceService';

/** InferParameter with proto-loader's `oneofs: true` (int64 as a string: `longs: String`). */
interface ParameterMsg {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
}

type ContentsMsg = Partial<Record<ContentsField, unknown[]>>;

interface InferRequestMsg {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, ParameterMsg>;
  inputs: { name: string; datatype: string; shape: string[]; parameters: Record<string, ParameterMsg>; contents: ContentsMsg | null }[];
  outputs: { name: string; parameters: Record<string, ParameterMsg> }[];
  raw_input_contents: Buffer[];
}

/** Loads grpc_predict_v2.proto (shared by the server and tests). */
export function loadKServeProto(): { packageDefinition: protoLoader.PackageDefinition; grpcObject: grpc.GrpcObject } {
  const packageDefinition = protoLoader.loadSync(KSERVE_PROTO_PATH, PROTO_LOADER_OPTIONS);
  return { packageDefinition, grpcObject: grpc.loadPackageDefinition(packageDefinition) };
}

/** Adds inference.GRPCInferenceService to `server`; answers its package definition (for reflection). */
export function addKServeService(server: grpc.Server, kserve: KServeService): protoLoader.PackageDefinition {
  const { packageDefinition, grpcObject } = loadKServeProto();
  const definition = ((grpcObject['inference'] as grpc.GrpcObject)['GRPCInferenceService'] as grpc.ServiceClientConstructor).service;
  const sync =
    <Req>(work: (request: Req, ctx: CallContext) => unknown): Unary<Req> =>
    (call, callback) => {
      const ctx = unaryContext(call, 'grpc-v2');
      try {
        callback(null, work(call.request, ctx));
      } catch (err) {
        callback(toServiceError(err));
      }
    };
  const modelInfer: Unary<InferRequestMsg> = (call, callback) => {
    const ctx = unaryContext(call, 'grpc-v2');
    const msg = call.request;
    let raw: boolean;
    let inputs: V2Input[];
    try {
      raw = (msg.raw_input_contents ?? []).length > 0;
      inputs = toInputs(msg, raw);
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    const outputs = (msg.outputs ?? []).map((o) => ({ name: o.name, parameters: toParameters(o.parameters) }));
    kserve.infer({ model: msg.model_name ?? '', version: msg.model_version ?? '', id: msg.id || undefined, inputs, outputs }, ctx).then(
      (response) => callback(null, toResponseMsg(response, msg.id || ctx.requestId, raw)),
      (err: unknown) => callback(toServiceError(err)),
    );
  };
  server.addService(definition, {
    ServerLive: sync(() => ({ live: kserve.live() })),
    ServerReady: sync(() => ({ ready: kserve.ready() })),
    ServerMetadata: sync(() => kserve.serverMetadata()),
    ModelReady: sync<{ name: string; version: string }>((r, ctx) => ({ ready: kserve.modelReady(ctx, r.name ?? '', r.version || undefined) })),
    ModelMetadata: sync<{ name: string; version: string }>((r, ctx) => kserve.modelMetadata(ctx, r.name ?? '', r.version || undefined)),
    ModelInfer: modelInfer,
  });
  return packageDefinition;
}

/** Input tensors with their data: raw_input_contents[i] for input i, else the typed contents. */
function toInputs(msg: InferRequestMsg, raw: boolean): V2Input[] {
  const inputs = msg.inputs ?? [];
  const rawContents = msg.raw_input_contents ?? [];
  if (raw && rawContents.length !== inputs.length) {
    throw new GatewayError('INVALID_ARGUMENT', `raw_input_contents has ${rawContents.length} entries for ${inputs.length} inputs; send one per input, in the order of "inputs"`);
  }
  return inputs.map((t, i) => {
    const where = `input "${(t.name ?? '').slice(0, 64)}"`;
    const set = Object.entries(t.contents ?? {}).filter(([, values]) => Array.isArray(values) && values.length > 0) as [ContentsField, unknown[]][];
    if (raw && set.length > 0) throw new GatewayError('INVALID_ARGUMENT', `${where} has typed contents while the request uses raw_input_contents; use one or the other`);
    if (set.length > 1) throw new GatewayError('INVALID_ARGUMENT', `${where} sets ${set.map(([f]) => `contents.${f}`).join(' and ')}; set only the one field of its datatype`);
    let data: TensorData;
    if (raw) data = { kind: 'raw', bytes: rawContents[i]! };
    else if (set[0]) data = { kind: 'typed', field: set[0][0], values: set[0][1] };
    else data = { kind: 'typed', field: (isDatatype(t.datatype ?? '') ? CONTENTS_FIELD[t.datatype as Datatype] : undefined) ?? 'fp32_contents', values: [] };
    return { name: t.name ?? '', datatype: t.datatype ?? '', shape: parseShape(t.shape ?? [], where), data };
  });
}

function toParameters(map: Record<string, ParameterMsg> | undefined): Parameters {
  const out: Record<string, ParameterValue> = {};
  for (const [key, p] of Object.entries(map ?? {})) {
    const choice = p.parameter_choice;
    if (choice === 'int64_param') out[key] = Number(p.int64_param);
    else if (choice === 'bool_param') out[key] = Boolean(p.bool_param);
    else if (choice === 'string_param') out[key] = p.string_param ?? '';
  }
  return out;
}

/**
 * The response message: typed contents, or raw_output_contents for every output when the request
 * used raw inputs (as Triton does) or an output is FP16 (which has no typed field).
 */
function toResponseMsg(r: V2InferResponse, id: string, rawRequest: boolean): unknown {
  const tensors = r.outputs.map((o) => ({ datatype: o.datatype, values: o.values, dims: o.shape }));
  const typed = rawRequest ? undefined : tensors.map((t) => encodeTypedContents(t));
  const raw = typed === undefined || typed.some((c) => c === undefined);
  const outputs = r.outputs.map((o, i) => {
    const head = { name: o.name, datatype: o.datatype, shape: o.shape };
    return raw ? head : { ...head, contents: typed[i] };
  });
  const parameters = Object.fromEntries(Object.entries(r.parameters ?? {}).map(([k, v]) => [k, toParameterMsg(v)]));
  return { model_name: r.modelName, model_version: r.modelVersion, id, parameters, outputs, raw_output_contents: raw ? tensors.map(encodeRaw) : [] };
}

function toParameterMsg(value: ParameterValue): ParameterMsg {
  if (typeof value === 'boolean') return { bool_param: value };
  if (typeof value === 'number') return { int64_param: String(value) };
  return { string_param: value };
}
