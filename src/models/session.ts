// A model instance: one onnxruntime session hosted in its own worker thread (session-worker.ts;
// onnxruntime-node's run is synchronous native code and would otherwise block the event loop for
// the whole batch). The main thread sees only this small typed proxy: open, metadata, run, release.
// Input buffers that span their whole ArrayBuffer are transferred to the worker, not copied; a
// caller that pools its batch buffers asks for them back with the result.
import { Worker } from 'node:worker_threads';
import type { IoInfo, OutputData, Provider, SessionOptions, TensorData } from './ort.js';

export type { IoInfo, OutputData, Provider, ProviderSetting, SessionOptions, TensorData } from './ort.js';

type Outputs = Record<string, { data: Float32Array; dims: readonly number[] }>;
type AnyOutputs = Record<string, OutputData>;

interface Opened {
  type: 'opened';
  provider: Provider;
  fallbackReason: string | undefined;
  /** Why the worker could not lower its thread's priority (SessionOptions.niceOffset), if so. */
  priorityProblem: string | undefined;
  inputNames: string[];
  outputNames: string[];
  inputs: IoInfo[];
  outputs: IoInfo[];
}

type WorkerMessage =
  | Opened
  | { type: 'open-failed'; message: string }
  | { type: 'result'; id: number; outputs: AnyOutputs; inputs?: ArrayBuffer[] }
  | { type: 'error'; id: number; message: string; inputs?: ArrayBuffer[] };

interface Waiter {
  resolve: (o: AnyOutputs) => void;
  reject: (e: Error) => void;
  recycle?: ((buffer: ArrayBuffer) => void) | undefined;
}

/** Starts the worker: the compiled .js next to this file, or (running from TypeScript sources) the .ts through tsx. */
function spawnWorker(workerData: unknown): Worker {
  if (import.meta.url.endsWith('.ts')) {
    const url = new URL('./session-worker.ts', import.meta.url).href;
    return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`, { eval: true, workerData });
  }
  return new Worker(new URL('./session-worker.js', import.meta.url), { workerData });
}

/** One onnxruntime session on one provider, in its own thread. */
export class ModelSession {
  private nextId = 0;
  private readonly pending = new Map<number, Waiter>();
  private dead: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly meta: Opened,
  ) {
    worker.on('message', (msg: WorkerMessage) => {
      if (msg.type !== 'result' && msg.type !== 'error') return;
      const waiter = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (waiter?.recycle) for (const buffer of msg.inputs ?? []) waiter.recycle(buffer);
      if (msg.type === 'result') waiter?.resolve(msg.outputs);
      else waiter?.reject(new Error(msg.message));
    });
    const fail = (err: Error): void => {
      this.dead = err;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`session worker crashed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`session worker exited (${code})`)));
  }

  /** Opens `path` on the configured provider in a new worker; `cuda` fails if CUDA cannot load, `auto` falls back. */
  static async open(path: string, options: SessionOptions): Promise<ModelSession> {
    const worker = spawnWorker({ path, options });
    let detach = (): void => {};
    const opened = await new Promise<Opened>((resolve, reject) => {
      const onMessage = (msg: WorkerMessage): void => {
        if (msg.type === 'opened') resolve(msg);
        else if (msg.type === 'open-failed') reject(new Error(msg.message));
      };
      const onExit = (code: number): void => reject(new Error(`session worker exited (${code}) while opening ${path}`));
      worker.on('message', onMessage).on('error', reject).on('exit', onExit);
      // Only ours: Worker keeps internal listeners that must survive.
      detach = () => void worker.off('message', onMessage).off('error', reject).off('exit', onExit);
    })
      .catch(async (err: unknown) => {
        await worker.terminate();
        throw err;
      })
      .finally(() => detach());
    return new ModelSession(worker, opened);
  }

  /** The provider actually serving this session. */
  get provider(): Provider {
    return this.meta.provider;
  }

  /** Why the session thread's priority could not be lowered as asked, if so. */
  get priorityProblem(): string | undefined {
    return this.meta.priorityProblem;
  }

  /** Why `auto` fell back to CPU, if it did. */
  get fallbackReason(): string | undefined {
    return this.meta.fallbackReason;
  }

  get inputNames(): readonly string[] {
    return this.meta.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.meta.outputNames;
  }

  /** Declared inputs of the graph with their shapes. */
  get inputs(): readonly IoInfo[] {
    return this.meta.inputs;
  }

  get outputs(): readonly IoInfo[] {
    return this.meta.outputs;
  }

  /**
   * Runs the graph in the worker; returns the requested outputs as Float32 data (fails when the
   * graph answers another type). A feed whose typed array spans its whole ArrayBuffer is
   * transferred (the caller must not touch it afterwards); any other feed is copied. With
   * `recycle`, a feed that starts at offset 0 of a larger buffer is transferred with that whole
   * buffer too, the worker hands the input buffers back once the run is over (success or failure),
   * and each is passed to `recycle` before the promise settles.
   */
  async run(feeds: Readonly<Record<string, TensorData>>, outputNames: readonly string[], recycle?: (buffer: ArrayBuffer) => void): Promise<Outputs> {
    const outputs = await this.runAny(feeds, outputNames, recycle);
    for (const [name, t] of Object.entries(outputs)) {
      if (t.type !== 'float32') throw new Error(`output "${name}" is ${t.type}, expected float32`);
    }
    return outputs as Outputs;
  }

  /** As `run`, for outputs of any type (string tensors arrive as arrays of strings). */
  runAny(feeds: Readonly<Record<string, TensorData>>, outputNames: readonly string[], recycle?: (buffer: ArrayBuffer) => void): Promise<AnyOutputs> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    const sendable: Record<string, TensorData> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(feeds)) {
      if (Array.isArray(t.data)) {
        sendable[name] = { type: t.type, data: t.data, dims: [...t.dims] }; // cloned with the message
        continue;
      }
      // Node drops a message whose transfer list holds a detached buffer without a word, so a
      // feed whose buffer an earlier run took would leave this promise unsettled for good.
      if (t.data.buffer.byteLength === 0 && t.dims.some((d) => d !== 0)) {
        return Promise.reject(new Error(`feed "${name}" has a detached buffer (an earlier run took it); pass a fresh array`));
      }
      // A view over part of a buffer moves with its whole buffer only when the caller pools it
      // (it may share a slab with other data otherwise: Node's small Buffers do).
      const whole = t.data.byteLength === t.data.buffer.byteLength || recycle !== undefined;
      const movable = t.data.byteOffset === 0 && whole && t.data.buffer instanceof ArrayBuffer && !transfer.includes(t.data.buffer);
      const data = movable ? t.data : t.data.slice();
      sendable[name] = { type: t.type, data, dims: [...t.dims] };
      transfer.push(data.buffer as ArrayBuffer);
    }
    return new Promise<AnyOutputs>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, recycle });
      this.worker.postMessage({ type: 'run', id, feeds: sendable, outputNames: [...outputNames], returnInputs: recycle !== undefined }, transfer);
    });
  }

  /** Releases the session and ends its thread. */
  async release(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'release' });
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }
}
