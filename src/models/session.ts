// The only module that imports onnxruntime-node. It opens sessions on the configured execution
// provider (a frozen table maps names to providers, as transformers.js does), falls back from
// CUDA to CPU under `auto` with the reason logged, and exposes a small typed run() so the rest
// of the gateway never sees onnxruntime types.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

export type ProviderSetting = 'auto' | 'cpu' | 'cuda';
export type Provider = 'cpu' | 'cuda';

const PROVIDERS: Readonly<Record<Provider, readonly string[]>> = Object.freeze({
  cpu: Object.freeze(['cpu']),
  cuda: Object.freeze(['cuda', 'cpu']),
});

export interface SessionOptions {
  readonly provider: ProviderSetting;
  /** onnxruntime intra-op threads; 0 = onnxruntime's default (one per core). */
  readonly intraOpThreads: number;
}

/** A dense tensor as plain typed data (row-major). */
export interface TensorData {
  readonly data: Float32Array | BigInt64Array | Int32Array;
  readonly dims: readonly number[];
}

export interface IoInfo {
  readonly name: string;
  readonly type: string;
  /** Dimensions; a string or -1 marks a symbolic (dynamic) axis. */
  readonly shape: readonly (number | string)[];
}

/** One onnxruntime session on one provider. */
export class ModelSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The provider actually serving this session. */
    readonly provider: Provider,
    /** Why `auto` fell back to CPU, if it did. */
    readonly fallbackReason: string | undefined,
  ) {}

  /** Opens `path` on the configured provider; `cuda` fails if CUDA cannot load, `auto` falls back. */
  static async open(path: string, options: SessionOptions): Promise<ModelSession> {
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
    };
    if (options.provider === 'cpu') {
      return new ModelSession(await ort.InferenceSession.create(path, { ...base, executionProviders: [...PROVIDERS.cpu] }), 'cpu', undefined);
    }
    const missing = cudaLibraryMissing();
    if (missing && options.provider === 'auto') {
      const session = await ort.InferenceSession.create(path, { ...base, executionProviders: [...PROVIDERS.cpu] });
      return new ModelSession(session, 'cpu', `CUDA unavailable (${missing}); using CPU`);
    }
    try {
      // Probe quietly: a missing CUDA provider library is expected on CPU-only hosts under auto.
      const session = await ort.InferenceSession.create(path, { ...base, logSeverityLevel: options.provider === 'auto' ? 4 : 3, executionProviders: [...PROVIDERS.cuda] });
      return new ModelSession(session, 'cuda', undefined);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (options.provider === 'cuda') throw new Error(`CUDA execution provider requested but unavailable: ${reason}`, { cause: err });
      if (!/execution provider|shared library|cuda/i.test(reason)) throw err; // the graph itself is bad
      const session = await ort.InferenceSession.create(path, { ...base, executionProviders: [...PROVIDERS.cpu] });
      return new ModelSession(session, 'cpu', `CUDA unavailable (${reason}); using CPU`);
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Declared inputs of the graph with their shapes. */
  get inputs(): readonly IoInfo[] {
    return this.session.inputMetadata.map(toIoInfo);
  }

  get outputs(): readonly IoInfo[] {
    return this.session.outputMetadata.map(toIoInfo);
  }

  /** Runs the graph; returns the requested outputs as Float32 data. */
  async run(feeds: Readonly<Record<string, TensorData>>, outputNames: readonly string[]): Promise<Record<string, { data: Float32Array; dims: readonly number[] }>> {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.data, t.dims);
    const outputs = await this.session.run(inputs, [...outputNames]);
    const result: Record<string, { data: Float32Array; dims: readonly number[] }> = {};
    for (const name of outputNames) {
      const tensor = outputs[name];
      if (!tensor) throw new Error(`graph produced no output "${name}"`);
      if (tensor.type !== 'float32') throw new Error(`output "${name}" is ${tensor.type}, expected float32`);
      result[name] = { data: tensor.data as Float32Array, dims: tensor.dims };
    }
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toIoInfo(meta: ort.InferenceSession.ValueMetadata): IoInfo {
  if (meta.isTensor) return { name: meta.name, type: meta.type, shape: [...meta.shape] };
  return { name: meta.name, type: 'non-tensor', shape: [] };
}

/**
 * Why the CUDA provider cannot load, without trying (onnxruntime logs a loud error when it tries):
 * the npm package ships CPU binaries only; its install script adds the CUDA provider library.
 */
function cudaLibraryMissing(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const binDir = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
    const lib = join(binDir, 'libonnxruntime_providers_cuda.so');
    if (process.platform === 'linux' && !existsSync(lib)) {
      return `${lib} not installed; install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a CUDA host`;
    }
  } catch {
    // Unknown layout: let onnxruntime try.
  }
  return undefined;
}

/** Backends this onnxruntime build knows, and whether each ships in the package. */
export function listBackends(): readonly { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends();
}
