// One served version of a `tensor` model: any ONNX graph, tensors in and tensors out. Its I/O is
// read from the graph (tensor-io.ts). Requests are checked before any compute, then batched as
// the graph allows: along a dynamic first axis, one queue item per row, a batch holding rows of
// one shape only (the batcher's groupOf) and never more than maxBatchSize rows; in padded batches
// of a fixed first dimension (the padding rows are dropped from the answers); or one request per
// session.run when the graph has no batch axis. Outputs are split back per request.
import { performance } from 'node:perf_hooks';
import { type Cancellation, allOrCancel } from '../cancellation.js';
import { Admission } from '../batching/admission.js';
import { type Batched, Batcher } from '../batching/batcher.js';
import { GatewayError } from '../errors.js';
import { DATATYPE_SPECS, type HostTensor, type TensorValues, copyValues, sliceValues, valuesByteLength } from './dtypes.js';
import type { TensorManifest } from './manifest.js';
import { ResponseCache } from './response-cache.js';
import type { LoadContext, ServedVersion, Timing, VersionInfo } from './served.js';
import { ActiveRequests, VersionHealth, type VersionHooks, batcherHooks } from './served.js';
import { closeVersion, graphBatching, openInstances, releaseAll, warmUp } from './instances.js';
import type { ModelSession, TensorData } from './session.js';
import { type InputHead, type TensorModelIo, type TensorSpec, checkInputs, readTensorIo } from './tensor-io.js';

/** One queue item: a row of every input (batching graphs) or a whole request (no batch axis). */
interface TensorItem {
  /** Items with equal keys may share a session.run (equal shapes beyond the batch axis). */
  readonly key: string;
  /** Per model input, in the model's input order. */
  readonly values: readonly TensorValues[];
  /** Per model input: the row's dimensions without the batch axis, or the whole tensor's. */
  readonly dims: readonly (readonly number[])[];
}

/** One item's answer: per model output, its values and dimensions (a row's, or the whole tensor's). */
type ItemResult = readonly { readonly values: TensorValues; readonly dims: readonly number[] }[];

export interface TensorAnswer {
  /** The requested outputs, in the order asked for. */
  readonly outputs: readonly HostTensor[];
  /** Largest batch (rows) any part of the request ran in; 0 when cached. */
  readonly batchSize: number;
  /** No preprocessing: `preprocessMs` is 0. */
  readonly timing: Timing;
}

export interface TensorInferOptions {
  readonly timeoutMs: number;
  readonly signal?: Cancellation | undefined;
}

/** A loaded, warmed-up `tensor` version. */
export class TensorVersion implements ServedVersion {
  readonly kind = 'tensor';
  private readonly active = new ActiveRequests();
  /** Queue places and deadline checks on arrival (nothing is prepared in front of the queue). */
  private readonly admission: Admission;

  private constructor(
    readonly info: VersionInfo,
    readonly io: TensorModelIo,
    private readonly sessions: readonly ModelSession[],
    readonly batcher: Batcher<TensorItem, ItemResult>,
    readonly health: VersionHealth,
    private readonly cache: ResponseCache<HostTensor[]> | undefined,
    private readonly hooks: VersionHooks,
  ) {
    this.admission = new Admission(batcher, { places: 1, hooks });
  }

  static async load(manifest: TensorManifest, version: string, dir: string, ctx: LoadContext): Promise<TensorVersion> {
    const sessions = await openInstances(`${dir}/${manifest.file}`, manifest.batching.instances, ctx);
    let hooks: VersionHooks | undefined;
    try {
      const first = sessions[0]!;
      const io = readTensorIo(first.inputs, first.outputs, { inputs: manifest.inputs, outputs: manifest.outputs, batchAxis: manifest.batchAxis });
      const mode = io.batch;
      // A graph without a batch axis runs one request at a time: batches of one.
      const batching = graphBatching(manifest.batching, mode.kind === 'none' ? 1 : mode.kind === 'fixed' ? mode.size : undefined);
      const runner = (items: readonly TensorItem[], instance: number): Promise<ItemResult[]> => runBatch(sessions[instance]!, io, items);
      const info: VersionInfo = {
        model: ctx.modelName,
        version,
        kind: 'tensor',
        provider: first.provider,
        providerNote: first.fallbackReason,
        batching,
        labelsCount: 0,
        inputs: io.inputs.map((i) => i.name),
        outputs: io.outputs.map((o) => o.name),
        tensors: { inputs: io.inputs, outputs: io.outputs, batchAxis: mode.kind === 'fixed' ? `fixed ${mode.size}` : mode.kind },
      };
      const health = new VersionHealth(ctx.metrics, ctx.logger, ctx.modelName, version);
      hooks = batcherHooks(ctx.metrics, ctx.modelName, version, health);
      const batcher = new Batcher(batching, runner, { hooks, groupOf: (item) => item.key });
      const cache = manifest.responseCache ? new ResponseCache<HostTensor[]>(manifest.responseCache, (v) => v.reduce((n, t) => n + valuesByteLength(t.values), 0), ctx.metrics, ctx.modelName, version) : undefined;
      if (ctx.warmup) await warmTensors(runner, sessions.length, batcher, io, ctx);
      return new TensorVersion(info, io, sessions, batcher, health, cache, hooks);
    } catch (err) {
      hooks?.release();
      await releaseAll(sessions);
      throw err;
    }
  }

  /**
   * Checks a request's input names, datatypes and shapes against the model before any data is
   * read; returns its rows (INVALID_ARGUMENT naming the input otherwise). Rows per request are
   * bounded by the queue (maxQueueSize): a request's rows are split over as many batches as needed.
   */
  check(inputs: readonly InputHead[]): { rows: number } {
    return checkInputs(this.io, this.info.model, inputs, this.info.batching.maxQueueSize);
  }

  /**
   * Runs one checked request: `inputs` in the model's input order (as `check` accepted them),
   * `outputs` the specs to answer with. Answers from the response cache when the model has one and
   * the same request was answered before.
   */
  async infer(inputs: readonly HostTensor[], outputs: readonly TensorSpec[], options: TensorInferOptions, startedAtMs = performance.now()): Promise<TensorAnswer> {
    const key = this.cache?.key(cacheKeyParts(inputs, outputs));
    const hit = key === undefined ? undefined : this.cache!.get(key);
    if (hit) return { outputs: hit, batchSize: 0, timing: { preprocessMs: 0, queueMs: 0, inferenceMs: 0, totalMs: performance.now() - startedAtMs, cached: true } };
    const batched = this.io.batch.kind !== 'none';
    const rows = batched ? inputs[0]!.dims[0]! : 1;
    this.admission.admit(rows, { startedAtMs, timeoutMs: options.timeoutMs });
    this.active.enter();
    try {
      const items = batched ? splitRows(inputs, rows) : [{ key: '', values: inputs.map((t) => t.values), dims: inputs.map((t) => t.dims) }];
      const done = await allOrCancel(items, (item, signal) => this.batcher.submit(item, { timeoutMs: options.timeoutMs, startedAtMs, signal }), options.signal);
      const answer = outputs.map((spec) => gather(spec, this.io.outputs.indexOf(spec), done.map((d) => d.result), batched));
      if (key !== undefined) this.cache!.set(key, answer);
      const max = (f: (d: Batched<ItemResult>) => number): number => done.reduce((m, d) => Math.max(m, f(d)), 0);
      return { outputs: answer, batchSize: max((d) => d.batchSize), timing: { preprocessMs: 0, queueMs: max((d) => d.queueMs), inferenceMs: max((d) => d.inferenceMs), totalMs: performance.now() - startedAtMs, cached: false } };
    } finally {
      this.active.exit();
    }
  }

  /** Requests inside this version. */
  get pending(): number {
    return this.active.size;
  }

  /** Waits until no request is inside, then releases the sessions and the cache. */
  close(): Promise<void> {
    const forget = (): void => {
      this.hooks.release();
      this.cache?.clear();
    };
    return closeVersion({ active: this.active, batchers: [this.batcher], sessions: this.sessions, forget });
  }
}

/** What decides a tensor request's answer: every input's name, datatype, shape and bytes, and the outputs asked for. */
function cacheKeyParts(inputs: readonly HostTensor[], outputs: readonly TensorSpec[]): (string | Uint8Array)[] {
  const parts: (string | Uint8Array)[] = [];
  for (const t of inputs) {
    parts.push(t.datatype, t.dims.join('x'));
    if (Array.isArray(t.values)) for (const s of t.values) parts.push(s);
    else parts.push(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
  }
  parts.push('outputs', ...outputs.map((o) => o.name));
  return parts;
}

/** One queue item per row: views of every input's row (no copy), keyed by the shape beyond the batch axis. */
function splitRows(inputs: readonly HostTensor[], rows: number): TensorItem[] {
  const rowDims = inputs.map((t) => t.dims.slice(1));
  const rowSizes = rowDims.map((d) => d.reduce((a, b) => a * b, 1));
  const key = rowDims.map((d) => d.join('x')).join(';');
  return Array.from({ length: rows }, (_, r) => ({ key, values: inputs.map((t, i) => sliceValues(t.values, r * rowSizes[i]!, (r + 1) * rowSizes[i]!)), dims: rowDims }));
}

/** One output of a request, stacked from its items' results (rows) or taken whole. */
function gather(spec: TensorSpec, index: number, results: readonly ItemResult[], batched: boolean): HostTensor {
  if (!batched) {
    const r = results[0]![index]!;
    return { datatype: spec.datatype, values: r.values, dims: r.dims };
  }
  const rowDims = results[0]![index]!.dims;
  const rowSize = rowDims.reduce((a, b) => a * b, 1);
  const values = DATATYPE_SPECS[spec.datatype].make(results.length * rowSize);
  results.forEach((r, i) => {
    const row = r[index]!;
    if (row.dims.join('x') !== rowDims.join('x')) throw new GatewayError('INFERENCE_FAILED', `output "${spec.name}" has rows of different shapes ([${rowDims.join(', ')}] and [${row.dims.join(', ')}]) within one request`);
    copyValues(values, row.values, i * rowSize);
  });
  return { datatype: spec.datatype, values, dims: [results.length, ...rowDims] };
}

/**
 * Runs one batch: stacks the items' rows into one tensor per input (padded with zero rows up to a
 * fixed batch), runs every model output, and splits the outputs back per item.
 */
async function runBatch(session: ModelSession, io: TensorModelIo, items: readonly TensorItem[]): Promise<ItemResult[]> {
  const mode = io.batch;
  const names = io.outputs.map((o) => o.name);
  if (mode.kind === 'none') {
    return Promise.all(
      items.map(async (item) => {
        const outputs = await session.runAny(feedsOf(io, item.values, item.dims), names);
        return io.outputs.map((o) => outputs[o.name]!).map((t) => ({ values: t.data, dims: t.dims }));
      }),
    );
  }
  const n = items.length;
  const batchRows = mode.kind === 'fixed' ? mode.size : n;
  const first = items[0]!;
  const values = io.inputs.map((spec, i) => {
    const rowSize = first.dims[i]!.reduce((a, b) => a * b, 1);
    const batch = DATATYPE_SPECS[spec.datatype].make(batchRows * rowSize);
    items.forEach((item, r) => copyValues(batch, item.values[i]!, r * rowSize));
    return batch;
  });
  const outputs = await session.runAny(
    feedsOf(
      io,
      values,
      first.dims.map((d) => [batchRows, ...d]),
    ),
    names,
  );
  const split = io.outputs.map((spec) => {
    const t = outputs[spec.name]!;
    if (t.dims[0] !== batchRows) throw new GatewayError('INFERENCE_FAILED', `output "${spec.name}" has shape [${t.dims.join(', ')}] for a batch of ${batchRows}; its first dimension must be the batch`);
    const rowDims = t.dims.slice(1);
    const rowSize = rowDims.reduce((a, b) => a * b, 1);
    return { t, rowDims, rowSize };
  });
  return items.map((_, r) => split.map(({ t, rowDims, rowSize }) => ({ values: sliceValues(t.data, r * rowSize, (r + 1) * rowSize), dims: rowDims })));
}

/** The session feeds of one run: each input with its onnxruntime type named (a Uint16Array may be FP16 bits). */
function feedsOf(io: TensorModelIo, values: readonly TensorValues[], dims: readonly (readonly number[])[]): Record<string, TensorData> {
  return Object.fromEntries(io.inputs.map((spec, i) => [spec.name, { type: DATATYPE_SPECS[spec.datatype].ort, data: values[i]!, dims: dims[i]! }]));
}

/**
 * Warm-up on zero tensors (dynamic dimensions beyond the batch axis set to 1): batches of one and
 * of maxBatchSize on every instance. A graph that cannot run on such inputs (a dynamic length it
 * needs to be longer, say) still serves; it only starts without a latency estimate.
 */
async function warmTensors(runner: (items: readonly TensorItem[], instance: number) => Promise<ItemResult[]>, instances: number, batcher: Batcher<TensorItem, ItemResult>, io: TensorModelIo, ctx: LoadContext): Promise<void> {
  const batched = io.batch.kind !== 'none';
  const dims = io.inputs.map((s) => (batched ? s.shape.slice(1) : s.shape).map((d) => (d === -1 ? 1 : d)));
  const makeItem = (): TensorItem => ({ key: '', values: io.inputs.map((s, i) => DATATYPE_SPECS[s.datatype].make(dims[i]!.reduce((a, b) => a * b, 1))), dims });
  try {
    await warmUp(runner, instances, batcher.latency, batcher.config.maxBatchSize, makeItem);
  } catch (err) {
    ctx.logger.warn({ model: ctx.modelName, err: err instanceof Error ? err.message : String(err) }, 'tensor model warm-up on zero inputs failed; serving without it');
  }
}
