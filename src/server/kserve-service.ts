// The KServe v2 / Open Inference Protocol domain calls both transports adapt (HTTP /v2/..., gRPC
// inference.GRPCInferenceService): health, server and model metadata, and tensor-in/tensor-out
// inference on `tensor` models (any graph, every datatype) and image classifiers. A tensor
// request is checked against the graph's inputs (names, datatypes, shapes) before its data is
// read, and its data length before any compute. Classifier input rows go through the same
// per-version batcher as /v1 requests, one queue item per row; a BYTES input carries encoded
// images that are preprocessed exactly as /v1/classify does. Metrics and the failure log line are
// recorded once per request.
import { readFileSync } from 'node:fs';
import type { Cancellation } from '../cancellation.js';
import { GatewayError } from '../errors.js';
import { ClassifierVersion, type TensorResult } from '../models/classifier.js';
import type { Datatype, HostTensor, TensorValues } from '../models/dtypes.js';
import type { ModelRepository } from '../models/repository.js';
import { TensorVersion } from '../models/tensor.js';
import { selectOutputs } from '../models/tensor-io.js';
import { decodeTensor } from './kserve-codec.js';
import { type CallContext, type KindRequirement, type RequestScope, validateName } from './call.js';
import { type TensorData, elementCount, toByteElements, toFloat32 } from './kserve-tensors.js';

/** Platform reported in model metadata (Triton's name for ONNX Runtime models). */
export const PLATFORM = 'onnxruntime_onnx';
/** Protocol extensions the gateway implements (reported by server metadata). */
export const EXTENSIONS: readonly string[] = Object.freeze(['binary_tensor_data', 'classification']);

/** Request and output parameter values, whatever the transport. */
export type ParameterValue = string | number | boolean;
export type Parameters = Readonly<Record<string, ParameterValue>>;

export interface V2Input {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

export interface V2RequestedOutput {
  readonly name: string;
  readonly parameters?: Parameters | undefined;
}

export interface V2InferRequest {
  readonly model: string;
  /** Empty or undefined = the model's default (highest ready) version. */
  readonly version?: string | undefined;
  readonly id?: string | undefined;
  readonly inputs: readonly V2Input[];
  /** Undefined or empty = every output of the model. */
  readonly outputs?: readonly V2RequestedOutput[] | undefined;
}

/** One answered tensor (BYTES elements as UTF-8 strings). */
export interface V2Output {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly values: TensorValues;
}

export interface V2InferResponse {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly id: string;
  readonly outputs: readonly V2Output[];
  /** Response parameters (`cached: true` when the model's response cache answered). */
  readonly parameters?: Parameters | undefined;
}

export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  /** -1 marks a dynamic dimension (the batch axis). */
  readonly shape: readonly number[];
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
}

const SERVER_VERSION = readServerVersion();

const V2_MODEL: KindRequirement<ClassifierVersion | TensorVersion> = {
  is: (served): served is ClassifierVersion | TensorVersion => served instanceof ClassifierVersion || served instanceof TensorVersion,
  needs: 'v2 inference serves tensor and image-classifier models',
  hint: 'use /v1/zero-shot or /v1/embed for clip models',
};

/** KServe v2 calls over the gateway's model repository. */
export class KServeService {
  constructor(
    private readonly scope: RequestScope,
    private readonly repository: ModelRepository,
  ) {}

  /** The process can answer metadata and inference requests (true while it runs, draining included). */
  live(): boolean {
    return true;
  }

  /** Every model finished loading (or failed) and the gateway is not draining. */
  ready(): boolean {
    return this.scope.ready;
  }

  serverMetadata(): { name: string; version: string; extensions: readonly string[] } {
    return { name: 'inference-gateway', version: SERVER_VERSION, extensions: EXTENSIONS };
  }

  /** Whether `model` (at `version`, or its default) can take inference now; throws MODEL_NOT_FOUND / VERSION_NOT_FOUND. */
  modelReady(ctx: CallContext, model: string, version?: string): boolean {
    this.scope.authorize(ctx, model);
    validateName(model, version);
    try {
      this.repository.resolve(model, version || undefined);
      return !this.scope.draining;
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'MODEL_UNAVAILABLE') return false;
      throw err;
    }
  }

  /** Name, ready versions, platform and tensors of a model (of `version`, or its default). */
  modelMetadata(ctx: CallContext, model: string, version?: string): ModelMetadata {
    this.scope.authorize(ctx, model);
    validateName(model, version);
    const served = this.repository.resolve(model, version || undefined);
    const status = this.repository.list().find((m) => m.name === model);
    const versions = (status?.versions ?? []).filter((v) => v.state === 'READY').map((v) => v.version);
    if (served instanceof TensorVersion) return { name: model, versions, platform: PLATFORM, inputs: served.io.inputs, outputs: served.io.outputs };
    if (!(served instanceof ClassifierVersion)) return { name: model, versions, platform: PLATFORM, inputs: [], outputs: [] };
    const { input, output } = served.io;
    return {
      name: model,
      versions,
      platform: PLATFORM,
      inputs: [{ name: input.name, datatype: 'FP32', shape: [-1, ...input.itemDims] }],
      outputs: [{ name: output.name, datatype: 'FP32', shape: [-1, output.width] }],
    };
  }

  /** Runs one inference request; throws a GatewayError on any failure. */
  async infer(request: V2InferRequest, ctx: CallContext): Promise<V2InferResponse> {
    return this.scope.run(ctx, request.model, request.version, V2_MODEL, async ({ served, timeoutMs, startedAtMs }) => {
      if (served instanceof TensorVersion) return this.inferTensor(served, request, { timeoutMs, signal: ctx.signal }, startedAtMs);
      const outputs = this.checkOutputs(served, request.outputs);
      const options = { timeoutMs, signal: ctx.signal };
      const input = this.checkInput(served, request.inputs);
      const result = input.kind === 'rows' ? await served.inferTensors(input.rows, options, startedAtMs) : await served.inferImages(input.images, options, startedAtMs);
      if (input.kind === 'images') this.scope.observePreprocess(served.info.model, result.timing.preprocessMs);
      return { modelName: served.info.model, modelVersion: served.info.version, id: request.id ?? '', outputs: outputs.map((o) => this.answer(served, result, o)) };
    });
  }

  /**
   * A `tensor` model's request: outputs and input heads (names, datatypes, shapes) checked first,
   * then each input's data decoded and its length checked, all before the request is queued.
   */
  private async inferTensor(served: TensorVersion, request: V2InferRequest, options: { timeoutMs: number; signal: Cancellation | undefined }, startedAtMs: number): Promise<V2InferResponse> {
    const outputs = selectOutputs(served.io, served.info.model, request.outputs?.map((o) => o.name));
    served.check(request.inputs);
    const inputs: HostTensor[] = served.io.inputs.map((spec) => {
      const input = request.inputs.find((i) => i.name === spec.name)!;
      const where = `input "${spec.name}"`;
      return { datatype: spec.datatype, values: decodeTensor(input.data, spec.datatype, elementCount(input.shape, where), where), dims: input.shape };
    });
    const answer = await served.infer(inputs, outputs, options, startedAtMs);
    return {
      modelName: served.info.model,
      modelVersion: served.info.version,
      id: request.id ?? '',
      outputs: answer.outputs.map((t, i) => ({ name: outputs[i]!.name, datatype: t.datatype, shape: t.dims, values: t.values })),
      parameters: answer.timing.cached ? { cached: true } : undefined,
    };
  }

  /** The one input, checked against the model: FP32 rows of the manifest's shape, or BYTES encoded images. */
  private checkInput(served: ClassifierVersion, inputs: readonly V2Input[]): { kind: 'rows'; rows: Float32Array[] } | { kind: 'images'; images: Uint8Array[] } {
    const spec = served.io.input;
    const expected = `[-1, ${spec.itemDims.join(', ')}]`;
    if (inputs.length !== 1) throw new GatewayError('INVALID_ARGUMENT', `the request has ${inputs.length} inputs; model "${served.info.model}" takes exactly one, "${spec.name}" (FP32 ${expected})`);
    const input = inputs[0]!;
    if (input.name !== spec.name) throw new GatewayError('INVALID_ARGUMENT', `unknown input "${input.name.slice(0, 64)}"; model "${served.info.model}" takes one input, "${spec.name}" (FP32 ${expected})`);
    const where = `input "${spec.name}"`;
    const maxRows = served.info.batching.maxQueueSize;
    const rowsOf = (shape: readonly number[]): number => {
      const n = shape[0]!;
      if (n < 1) throw new GatewayError('INVALID_ARGUMENT', `${where} batch dimension (shape[0]) is ${n}; send at least one row`);
      if (n > maxRows) throw new GatewayError('INVALID_ARGUMENT', `${where} batch dimension (shape[0]) is ${n}; the limit is ${maxRows} rows per request (the model's maxQueueSize)`);
      return n;
    };
    const shapeText = `[${input.shape.join(', ')}]`;
    if (input.datatype === 'FP32') {
      const dims = input.shape;
      if (dims.length !== spec.itemDims.length + 1 || spec.itemDims.some((d, i) => dims[i + 1] !== d)) {
        throw new GatewayError('INVALID_ARGUMENT', `${where} has shape ${shapeText}; the model takes ${expected} (batch dimension first, then the preprocessed ${spec.itemDims.join('x')} tensor)`);
      }
      elementCount(dims, where);
      const n = rowsOf(dims);
      const values = toFloat32(input.data, n * spec.rowSize, where);
      return { kind: 'rows', rows: Array.from({ length: n }, (_, i) => values.subarray(i * spec.rowSize, (i + 1) * spec.rowSize)) };
    }
    if (input.datatype === 'BYTES') {
      if (input.shape.length < 1 || input.shape.length > 2 || (input.shape.length === 2 && input.shape[1] !== 1)) {
        throw new GatewayError('INVALID_ARGUMENT', `${where} is BYTES with shape ${shapeText}; encoded images take shape [N] or [N, 1], one image per element`);
      }
      elementCount(input.shape, where);
      const n = rowsOf(input.shape);
      return { kind: 'images', images: toByteElements(input.data, n, where, this.scope.config.maxImageBytes) };
    }
    throw new GatewayError('INVALID_ARGUMENT', `${where} has datatype "${input.datatype.slice(0, 16)}"; the model takes FP32 ${expected}, or BYTES holding encoded images`);
  }

  /** Requested outputs (all when none named), with the classification parameter checked. */
  private checkOutputs(served: ClassifierVersion, requested: readonly V2RequestedOutput[] | undefined): { name: string; classification: number }[] {
    const spec = served.io.output;
    if (!requested || requested.length === 0) return [{ name: spec.name, classification: 0 }];
    return requested.map((o) => {
      if (o.name !== spec.name) throw new GatewayError('INVALID_ARGUMENT', `unknown output "${o.name.slice(0, 64)}"; model "${served.info.model}" produces "${spec.name}" (FP32 [-1, ${spec.width}])`);
      const k = o.parameters?.['classification'];
      if (k === undefined) return { name: o.name, classification: 0 };
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > spec.width) {
        throw new GatewayError('INVALID_ARGUMENT', `output "${o.name}" parameter "classification" is ${String(k).slice(0, 32)}; it must be an integer from 1 to ${spec.width} (the number of classes)`);
      }
      return { name: o.name, classification: k };
    });
  }

  /** The output tensor: raw rows stacked, or Triton's classification strings "value:index:label", best first. */
  private answer(served: ClassifierVersion, result: TensorResult, output: { name: string; classification: number }): V2Output {
    const width = served.io.output.width;
    const n = result.rows.length;
    if (output.classification === 0) {
      const values = new Float32Array(n * width);
      result.rows.forEach((row, i) => values.set(row.subarray(0, width), i * width));
      return { name: output.name, datatype: 'FP32', shape: [n, width], values };
    }
    const k = output.classification;
    const values = result.rows.flatMap((row) => {
      const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
      return order.slice(0, k).map((index) => `${row[index]}:${index}:${served.labels[index] ?? ''}`);
    });
    return { name: output.name, datatype: 'BYTES', shape: [n, k], values };
  }
}

function readServerVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
