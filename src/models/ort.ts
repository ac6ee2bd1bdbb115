// The only module that imports onnxruntime-node, loaded inside session worker threads (its
// session.run is synchronous native code: on the main thread it would block all I/O). It opens
// sessions on the configured execution provider (a frozen table maps names to providers, as
// transformers.js does) and falls back from CUDA to CPU under `auto` with the reason.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { OrtType, TensorValues } from './dtypes.js';

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
  /**
   * Whether idle intra-op threads spin waiting for work (onnxruntime's default) instead of
   * sleeping. Spinning buys microseconds per parallel section on an otherwise idle machine, but a
   * gateway's cores are shared with image decoding and the protocol: there a spinning pool burns
   * the CPU those need (measured in docs/performance.md).
   */
  readonly intraOpSpinning?: boolean;
  /**
   * Added to the nice value of the thread that runs this session (Linux; 0 or absent = unchanged,
   * at most 19 in all). The session worker applies it to itself before opening the session, so
   * onnxruntime's intra-op threads inherit it. See session-worker.ts for why.
   */
  readonly niceOffset?: number;
}

/**
 * A dense tensor as plain typed data (row-major). `type` names the onnxruntime type where the
 * array alone is ambiguous (a Uint16Array is uint16 or float16 bits, a Uint8Array uint8 or bool);
 * without it the array's own type decides.
 */
export interface TensorData {
  readonly type?: OrtType;
  readonly data: TensorValues;
  readonly dims: readonly number[];
}

/** An output tensor as onnxruntime produced it (`type` is onnxruntime's type name). */
export interface OutputData {
  readonly type: string;
  readonly data: TensorValues;
  readonly dims: readonly number[];
}

export interface IoInfo {
  readonly name: string;
  readonly type: string;
  /** Dimensions; a string or -1 marks a symbolic (dynamic) axis. */
  readonly shape: readonly (number | string)[];
}

export interface OpenedSession {
  readonly session: ort.InferenceSession;
  readonly provider: Provider;
  readonly fallbackReason: string | undefined;
}

/** Opens `path` on the configured provider; `cuda` fails if CUDA cannot load, `auto` falls back. */
export async function openOrtSession(path: string, options: SessionOptions): Promise<OpenedSession> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: options.intraOpSpinning === true ? '1' : '0' } } },
  };
  const cpu = async (): Promise<ort.InferenceSession> => ort.InferenceSession.create(path, { ...base, executionProviders: [...PROVIDERS.cpu] });
  if (options.provider === 'cpu') return { session: await cpu(), provider: 'cpu', fallbackReason: undefined };
  const missing = cudaLibraryMissing();
  if (missing && options.provider === 'auto') return { session: await cpu(), provider: 'cpu', fallbackReason: `CUDA unavailable (${missing}); using CPU` };
  try {
    // Probe quietly: a missing CUDA provider library is expected on CPU-only hosts under auto.
    const session = await ort.InferenceSession.create(path, { ...base, logSeverityLevel: options.provider === 'auto' ? 4 : 3, executionProviders: [...PROVIDERS.cuda] });
    return { session, provider: 'cuda', fallbackReason: undefined };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (options.provider === 'cuda') throw new Error(`CUDA execution provider requested but unavailable: ${reason}`, { cause: err });
    if (!/execution provider|shared library|cuda/i.test(reason)) throw err; // the graph itself is bad
    return { session: await cpu(), provider: 'cpu', fallbackReason: `CUDA unavailable (${reason}); using CPU` };
  }
}

/** Runs the graph; returns the requested outputs with their onnxruntime types. */
export async function runOrtSession(session: ort.InferenceSession, feeds: Readonly<Record<string, TensorData>>, outputNames: readonly string[]): Promise<Record<string, OutputData>> {
  const inputs: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.type ?? ortTypeOf(t.data), t.data, t.dims);
  const outputs = await session.run(inputs, [...outputNames]);
  const result: Record<string, OutputData> = {};
  for (const name of outputNames) {
    const tensor = outputs[name];
    if (!tensor) throw new Error(`graph produced no output "${name}"`);
    result[name] = { type: tensor.type, data: tensor.data, dims: tensor.dims };
  }
  return result;
}

/** The onnxruntime type an array holds when the feed names none. */
function ortTypeOf(data: TensorValues): OrtType {
  if (Array.isArray(data)) return 'string';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

export function ioInfo(metadata: readonly ort.InferenceSession.ValueMetadata[]): IoInfo[] {
  return metadata.map((meta) => (meta.isTensor ? { name: meta.name, type: meta.type, shape: [...meta.shape] } : { name: meta.name, type: 'non-tensor', shape: [] }));
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
