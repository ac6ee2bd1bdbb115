// CPU samples of a running process from Linux `perf` (cpu-clock, call graphs), attributed to the
// request path's stages (stages.ts) per thread. Unlike V8's own profiler, perf samples CPU time of
// every thread, native ones included (libvips, onnxruntime, V8's collector), and a thread that is
// runnable but preempted is not sampled, so shares are of CPU, not of wall time. JS frames are
// named through the jitdump node writes with --perf-prof (in its working directory), merged by
// `perf inject --jit`, which keeps each code address's name for the time it held that code
// (--perf-basic-prof's map cannot: freed code's addresses are reused and misnamed);
// --interpreted-frames-native-stack shows interpreted functions too.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type CallFrame, stageResolver } from './stages.js';

export const PERF_NODE_FLAGS = '--perf-prof --interpreted-frames-native-stack';

/** Whether `perf record` can sample here (installed, and allowed by perf_event_paranoid or root). */
export async function perfUsable(): Promise<string | undefined> {
  try {
    await promisify(execFile)('perf', ['record', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true']);
    return undefined;
  } catch (err) {
    return `perf record failed: ${(err as Error).message.split('\n')[0]}`;
  }
}

/**
 * Starts sampling `pid` (every thread) at `hz` into `file`; `attached` resolves once perf has
 * written its file header (it attaches right before); stop() ends it and waits for the file.
 */
export function startPerf(pid: number, file: string, hz = 997): { readonly attached: Promise<void>; stop(): Promise<void> } {
  // -k mono: the clock of node's jitdump records, so perf inject can match code to samples.
  const child: ChildProcess = spawn('perf', ['record', '-k', 'mono', '-e', 'cpu-clock', '-F', String(hz), '-g', '-p', String(pid), '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const attached = (async () => {
    for (let i = 0; i < 200; i++) {
      if (((await stat(file).catch(() => undefined))?.size ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // The header is written as the events are opened on every thread; leave it a moment more.
    await new Promise((r) => setTimeout(r, 250));
  })();
  return {
    attached,
    stop: async () => {
      child.kill('SIGINT');
      const code = await exited;
      if (code !== 0 && code !== null) throw new Error(`perf record exited with ${code}: ${stderr}`);
    },
  };
}

export interface PerfStages {
  /** CPU ns per stage per thread id. */
  readonly byStageThread: ReadonlyMap<string, ReadonlyMap<number, number>>;
  /** CPU ns per thread id (sum of sample periods). */
  readonly byThread: ReadonlyMap<number, number>;
  /** Heaviest leaf symbols: CPU ns, with their stage. */
  readonly topSymbols: readonly { readonly symbol: string; readonly stage: string; readonly ns: number }[];
  readonly totalNs: number;
}

/** `JS:~name file:///...:12:3` (perf-basic-prof) -> name and URL; native symbols keep their library as URL. */
function frameOf(symbol: string, dso: string): CallFrame {
  const js = /^(?:JS|LazyCompile|Function|Script):[~^*+]?(.*?) ?(\S+):\d+:\d+$/.exec(symbol);
  if (js) return { functionName: js[1] ?? '', url: js[2]! };
  return { functionName: symbol.replace(/\+0x[0-9a-f]+$/, ''), url: dso };
}

/** A script or library path shortened to what identifies it: src/..., node_modules/..., or the file name. */
export function shortUrl(url: string): string {
  const m = /(?:^|\/)((?:src|node_modules)\/.*)$/.exec(url);
  return m ? m[1]! : url.slice(url.lastIndexOf('/') + 1);
}

/** Merges the JIT code names into `file` (perf inject --jit), reads it with `perf script` and attributes every sample. */
export async function perfStages(file: string, windowNs?: readonly [number, number]): Promise<PerfStages> {
  const run = promisify(execFile);
  await run('perf', ['inject', '--jit', '-i', file, '-o', `${file}.jit`], { maxBuffer: 1 << 26 });
  const { stdout } = await run('perf', ['script', '-i', `${file}.jit`, '-F', 'tid,time,period,ip,sym,dso'], { maxBuffer: 1 << 30 });
  const frames: CallFrame[] = [];
  const frameIds = new Map<string, number>();
  // Each distinct stack (built from the root down) gets an id, so the resolver can memoise per
  // stack and walk to the caller's stack as the parent.
  const parent = new Map<number, number>();
  const stackIds = new Map<string, number>();
  const leafFrame: number[] = [];
  const idOfChain = (chain: readonly number[]): number => {
    let id = -1;
    for (let i = chain.length - 1; i >= 0; i--) {
      const key = `${id}:${chain[i]}`;
      let next = stackIds.get(key);
      if (next === undefined) {
        next = leafFrame.length;
        leafFrame.push(chain[i]!);
        stackIds.set(key, next);
        if (id >= 0) parent.set(next, id);
      }
      id = next;
    }
    return id;
  };
  const resolve = stageResolver((id) => frames[leafFrame[id]!]!, (id) => parent.get(id));
  const byStageThread = new Map<string, Map<number, number>>();
  const byThread = new Map<number, number>();
  const bySymbol = new Map<string, { stage: string; ns: number }>();
  let totalNs = 0;
  const flush = (tid: number, period: number, chain: number[]): void => {
    if (chain.length === 0 || period === 0) return;
    const stage = resolve(idOfChain(chain));
    const perThread = byStageThread.get(stage) ?? new Map<number, number>();
    perThread.set(tid, (perThread.get(tid) ?? 0) + period);
    byStageThread.set(stage, perThread);
    byThread.set(tid, (byThread.get(tid) ?? 0) + period);
    const leaf = frames[chain[0]!]!;
    const symbol = `${leaf.functionName || '(anonymous)'} (${shortUrl(leaf.url)})`;
    const entry = bySymbol.get(symbol) ?? { stage, ns: 0 };
    entry.ns += period;
    bySymbol.set(symbol, entry);
    totalNs += period;
  };
  let tid = 0;
  let period = 0;
  let chain: number[] = [];
  for (const line of stdout.split('\n')) {
    const header = /^\s*(\d+)\s+(\d+)\.(\d+):\s+(\d+)\s*$/.exec(line);
    if (header) {
      flush(tid, period, chain);
      tid = Number(header[1]);
      const atNs = Number(header[2]) * 1e9 + Number(header[3]!.padEnd(9, '0'));
      // Outside the window: sampled, but not counted.
      period = windowNs && (atNs < windowNs[0] || atNs > windowNs[1]) ? 0 : Number(header[4]);
      chain = [];
      continue;
    }
    const frame = /^\s+[0-9a-f]+ (.*) \((.*)\)$/.exec(line);
    if (!frame) continue;
    const key = `${frame[1]}\u0000${frame[2]}`;
    let id = frameIds.get(key);
    if (id === undefined) {
      id = frames.length;
      frames.push(frameOf(frame[1]!, frame[2]!));
      frameIds.set(key, id);
    }
    chain.push(id);
  }
  flush(tid, period, chain);
  const topSymbols = [...bySymbol.entries()].map(([symbol, e]) => ({ symbol, ...e })).sort((a, b) => b.ns - a.ns).slice(0, 30);
  return { byStageThread, byThread, topSymbols, totalNs };
}
