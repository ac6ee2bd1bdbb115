// The inputs and outputs of a `tensor` model, read from the graph itself (as Triton completes a
// config from the model) and narrowed by the manifest; how it batches (along a dynamic first axis,
// in padded batches of a fixed first dimension, or not at all); and the checks every request
// passes before any compute: input names, datatypes, rank, fixed dimensions and the batch
// dimension. Pure functions; every refusal is an INVALID_ARGUMENT naming the tensor, what the
// model takes and what was sent.
import { GatewayError } from '../errors.js';
import { type Datatype, datatypeOfOrt } from './dtypes.js';
import type { IoInfo } from './ort.js';

/** One tensor of the model: -1 marks a dynamic dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

/**
 * How requests share a session.run: `dynamic` stacks rows along a dynamic first axis (every input
 * and output has one); `fixed` pads up to the graph's fixed first dimension `size` and drops the
 * padding rows from the answers; `none` runs one request per session.run.
 */
export type BatchMode = { readonly kind: 'dynamic' } | { readonly kind: 'fixed'; readonly size: number } | { readonly kind: 'none' };

export interface TensorModelIo {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  readonly batch: BatchMode;
}

/** What a manifest may say about one tensor: its name, and optionally its datatype and a narrower shape. */
export interface TensorOverride {
  readonly name: string;
  readonly datatype?: Datatype | undefined;
  readonly shape?: readonly number[] | undefined;
}

export interface IoOverrides {
  readonly inputs?: readonly TensorOverride[] | undefined;
  /** Served outputs (a subset of the graph's); absent = all. */
  readonly outputs?: readonly TensorOverride[] | undefined;
  /** `none`: never batch, even when the first dimensions look like a batch axis. */
  readonly batchAxis?: 'auto' | 'none' | undefined;
}

/** Reads the model's I/O from the graph and applies the manifest; throws (the version is unavailable) when they disagree. */
export function readTensorIo(graphInputs: readonly IoInfo[], graphOutputs: readonly IoInfo[], overrides: IoOverrides = {}): TensorModelIo {
  const inputs = graphInputs.map((g) => fromGraph(g, 'input'));
  const outputs = graphOutputs.map((g) => fromGraph(g, 'output'));
  const narrowed = (specs: TensorSpec[], given: readonly TensorOverride[] | undefined, role: 'input' | 'output', all: boolean): TensorSpec[] => {
    if (!given) return specs;
    const names = new Set<string>();
    const result = given.map((o) => {
      if (names.has(o.name)) throw new Error(`manifest ${role}s name "${o.name}" twice`);
      names.add(o.name);
      const spec = specs.find((s) => s.name === o.name);
      if (!spec) throw new Error(`manifest ${role} "${o.name}" is not a graph ${role}; the graph's ${role}s are ${specs.map((s) => s.name).join(', ')}`);
      return narrow(spec, o, role);
    });
    const left = specs.filter((s) => !names.has(s.name)).map((s) => s.name);
    if (all && left.length > 0) throw new Error(`manifest inputs leave out graph inputs ${left.join(', ')}; every graph input must be fed`);
    // Inputs keep the graph's order wherever the manifest lists them.
    return all ? specs.map((s) => result.find((r) => r.name === s.name)!) : result;
  };
  const io = { inputs: narrowed(inputs, overrides.inputs, 'input', true), outputs: narrowed(outputs, overrides.outputs, 'output', false) };
  if (io.outputs.length === 0) throw new Error('the model serves no outputs');
  return { ...io, batch: overrides.batchAxis === 'none' ? { kind: 'none' } : batchModeOf(io.inputs, io.outputs) };
}

function fromGraph(g: IoInfo, role: 'input' | 'output'): TensorSpec {
  const datatype = datatypeOfOrt(g.type);
  if (!datatype) throw new Error(`graph ${role} "${g.name}" is of type ${g.type}, which KServe v2 cannot carry`);
  return { name: g.name, datatype, shape: g.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
}

function narrow(spec: TensorSpec, o: TensorOverride, role: string): TensorSpec {
  if (o.datatype !== undefined && o.datatype !== spec.datatype) throw new Error(`manifest ${role} "${o.name}" says ${o.datatype}; the graph has ${spec.datatype}`);
  if (o.shape === undefined) return spec;
  const graph = `[${spec.shape.join(', ')}]`;
  if (o.shape.length !== spec.shape.length || o.shape.some((d, i) => spec.shape[i] !== -1 && d !== spec.shape[i])) {
    throw new Error(`manifest ${role} "${o.name}" has shape [${o.shape.join(', ')}]; the graph's is ${graph} (a manifest may only fix dynamic dimensions)`);
  }
  return { ...spec, shape: [...o.shape] };
}

/** `dynamic` when every input and output has a dynamic first axis, `fixed` when all share one fixed first dimension, else `none`. */
export function batchModeOf(inputs: readonly TensorSpec[], outputs: readonly TensorSpec[]): BatchMode {
  const all = [...inputs, ...outputs];
  if (all.some((t) => t.shape.length === 0)) return { kind: 'none' };
  const first = all.map((t) => t.shape[0]!);
  if (first.every((d) => d === -1)) return { kind: 'dynamic' };
  if (first.every((d) => d === first[0] && d > 0)) return { kind: 'fixed', size: first[0]! };
  return { kind: 'none' };
}

/** The shape of a tensor as KServe metadata shows it. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** What a request says about one input before its data is read. */
export interface InputHead {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
}

/**
 * Checks a request's inputs against the model before any data is read or computed: every graph
 * input present once and no other, each of the model's datatype, rank and fixed dimensions, and
 * (batching models) the same number of rows in every input, from 1 to `maxRows`. Returns the
 * request's rows (1 for a model without a batch axis) and its shape key: requests with equal keys
 * may share a batch.
 */
export function checkInputs(io: TensorModelIo, model: string, inputs: readonly InputHead[], maxRows: number): { rows: number; shapeKey: string } {
  const takes = io.inputs.map((s) => `"${s.name}" (${s.datatype} ${shapeText(s.shape)})`).join(', ');
  const seen = new Set<string>();
  for (const input of inputs) {
    if (seen.has(input.name)) throw new GatewayError('INVALID_ARGUMENT', `input "${input.name.slice(0, 64)}" is given twice; model "${model}" takes ${takes}`);
    seen.add(input.name);
    if (!io.inputs.some((s) => s.name === input.name)) throw new GatewayError('INVALID_ARGUMENT', `unknown input "${input.name.slice(0, 64)}"; model "${model}" takes ${takes}`);
  }
  const missing = io.inputs.filter((s) => !seen.has(s.name));
  if (missing.length > 0) throw new GatewayError('INVALID_ARGUMENT', `missing input${missing.length > 1 ? 's' : ''} ${missing.map((s) => `"${s.name}" (${s.datatype} ${shapeText(s.shape)})`).join(', ')}; model "${model}" takes ${takes}`);

  let rows: number | undefined;
  let rowsFrom = '';
  const key: string[] = [];
  for (const spec of io.inputs) {
    const input = inputs.find((i) => i.name === spec.name)!;
    const where = `input "${spec.name}"`;
    if (input.datatype !== spec.datatype) throw new GatewayError('INVALID_ARGUMENT', `${where} has datatype ${input.datatype.slice(0, 16)}; the model takes ${spec.datatype}`);
    const sent = shapeText(input.shape);
    const expected = shapeText(spec.shape);
    if (input.shape.length !== spec.shape.length) throw new GatewayError('INVALID_ARGUMENT', `${where} has shape ${sent} (rank ${input.shape.length}); the model takes ${expected} (rank ${spec.shape.length}, -1 = any size)`);
    const batched = io.batch.kind !== 'none';
    for (const [i, d] of spec.shape.entries()) {
      if (batched && i === 0) continue;
      if (d !== -1 && input.shape[i] !== d) throw new GatewayError('INVALID_ARGUMENT', `${where} has shape ${sent}; the model takes ${expected} (dimension ${i} must be ${d})`);
    }
    if (!batched) continue;
    const n = input.shape[0]!;
    const limit = io.batch.kind === 'fixed' ? Math.min(maxRows, io.batch.size) : maxRows;
    if (n < 1 || n > limit) {
      const why = io.batch.kind === 'fixed' && limit === io.batch.size ? `the graph's fixed batch of ${limit}` : `the model's maxQueueSize`;
      throw new GatewayError('INVALID_ARGUMENT', `${where} has shape ${sent}; its batch dimension (dimension 0) must be from 1 to ${limit} (${why}), the model takes ${expected}`);
    }
    if (rows === undefined) {
      rows = n;
      rowsFrom = spec.name;
    } else if (n !== rows) {
      throw new GatewayError('INVALID_ARGUMENT', `${where} has ${n} rows (shape ${sent}) but input "${rowsFrom}" has ${rows}; every input needs the same batch dimension`);
    }
    key.push(input.shape.slice(1).join('x'));
  }
  return { rows: rows ?? 1, shapeKey: key.join(';') };
}

/** The outputs a request asks for, in its order (all of the model's when it names none); an unknown or repeated name is refused. */
export function selectOutputs(io: TensorModelIo, model: string, requested: readonly string[] | undefined): TensorSpec[] {
  if (!requested || requested.length === 0) return [...io.outputs];
  const seen = new Set<string>();
  return requested.map((name) => {
    if (seen.has(name)) throw new GatewayError('INVALID_ARGUMENT', `output "${name.slice(0, 64)}" is requested twice`);
    seen.add(name);
    const spec = io.outputs.find((o) => o.name === name);
    if (!spec) throw new GatewayError('INVALID_ARGUMENT', `unknown output "${name.slice(0, 64)}"; model "${model}" produces ${io.outputs.map((o) => `"${o.name}" (${o.datatype} ${shapeText(o.shape)})`).join(', ')}`);
    return spec;
  });
}
