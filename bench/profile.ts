// `npm run bench:profile`: where the gateway's CPU per request goes, under the report's load
// (closed loop, gRPC, 32 clients, pinned as in `npm run bench`). One gateway process runs with
// node's perf map (lib/perf.ts) and the inspector on a loopback port:
//   1. a measured window: per-thread CPU of the gateway from /proc/<pid>/task/*/stat, and Linux
//      perf's CPU samples of every thread over the same window attributed to the request path's
//      stages (lib/stages.ts), per answered request;
//   2. an allocation window: V8's sampling heap profiler over the main thread, objects collected
//      by GC included, so the bytes each stage allocates per request.
// Needs `perf` (linux-perf) and permission to use it (root, or kernel.perf_event_paranoid <= 1).
// Prints markdown and writes DIR/profile.md (perf.data and node's jitdump stay in a temporary folder).
//   npm run bench:profile -- [--seconds 10] [--size 64] [--concurrency 32] [--out DIR] [--no-pin]
import { mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'undici';
import { PERF_NODE_FLAGS, type PerfStages, perfStages, perfUsable, shortUrl, startPerf } from './lib/perf.js';
import { type CallFrame, stageResolver } from './lib/stages.js';
import { makeImageSet } from './lib/images.js';
import { closedLoop } from './lib/load.js';
import { machineInfo } from './lib/machine.js';
import { note } from './lib/progress.js';
import { choosePinning, pinGenerator } from './lib/pinning.js';
import { measureLimitsIn } from './lib/limit.js';
import { type PromSample, batchSizeDelta, histogramOf, scrapeMetrics } from './lib/observe.js';
import { ROOT, startGatewayWith } from './lib/server-process.js';
import { runStage } from './lib/stage.js';
import { grpcTarget } from './lib/targets.js';

const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: join(ROOT, 'models', 'shapes-mobilenetv3') },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '10' },
    size: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '32' },
    out: { type: 'string' },
    'no-pin': { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const CLOCK_TICKS_PER_SEC = 100;

interface ThreadSample {
  readonly ticks: number;
  /** Start time after boot, clock ticks: threads started with the process come first. */
  readonly startTicks: number;
}

async function threads(pid: number): Promise<Map<number, ThreadSample>> {
  const out = new Map<number, ThreadSample>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    try {
      const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { ticks: Number(f[11]) + Number(f[12]), startTicks: Number(f[19]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** The system call a thread is blocked in (its role at rest: event loops wait in epoll, pools on a futex). */
async function blockedIn(pid: number, tid: number): Promise<string> {
  const nr = (await readFile(`/proc/${pid}/task/${tid}/syscall`, 'utf8').catch(() => '')).split(' ')[0];
  const names: Record<string, string> = { '7': 'poll', '202': 'futex', '232': 'epoll_wait', '281': 'epoll_pwait', '441': 'epoll_pwait2', '0': 'read', '230': 'clock_nanosleep', '35': 'nanosleep' };
  return names[nr ?? ''] ?? (nr === 'running' ? 'running' : `syscall ${nr}`);
}

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (event) => {
      const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(msg.error.message));
      else p?.resolve(msg.result);
    });
  }

  static async connect(port: number): Promise<Inspector> {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('inspector connection failed')));
    });
    return new Inspector(ws);
  }

  send<T>(method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

interface HeapNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

type Role = 'main' | 'loops' | 'pools';

/**
 * CPU ns per stage and thread role. A pool thread's samples whose stack was cut short (native code
 * without frame pointers) go to what that thread otherwise did most: libuv and libvips threads
 * decode, V8's collect garbage or compile.
 */
function stagesByRole(samples: PerfStages, roleOf: (tid: number) => Role): Map<string, Record<Role, number>> {
  const UNATTRIBUTED = 'native / unattributed';
  const byStage = new Map<string, Record<Role, number>>();
  const add = (stage: string, role: Role, ns: number): void => {
    const e = byStage.get(stage) ?? { main: 0, loops: 0, pools: 0 };
    e[role] += ns;
    byStage.set(stage, e);
  };
  const dominant = new Map<number, string>();
  for (const [stage, perThread] of samples.byStageThread) {
    if (stage === UNATTRIBUTED) continue;
    for (const [tid, ns] of perThread) {
      const best = dominant.get(tid);
      if (best === undefined || (samples.byStageThread.get(best)?.get(tid) ?? 0) < ns) dominant.set(tid, stage);
    }
  }
  for (const [stage, perThread] of samples.byStageThread) {
    for (const [tid, ns] of perThread) {
      const role = roleOf(tid);
      add(stage === UNATTRIBUTED && role === 'pools' ? (dominant.get(tid) ?? stage) : stage, role, ns);
    }
  }
  return byStage;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const table = (header: readonly string[], rows: readonly (readonly string[])[]): string =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

async function main(): Promise<void> {
  const out = resolve(values.out ?? join(tmpdir(), `bench-profile-${Date.now()}`));
  await mkdir(out, { recursive: true });
  // perf.data, node's jitdump and the .so files perf inject makes: large, kept out of --out (which may be bench/results/).
  const raw = await mkdtemp(join(tmpdir(), 'bench-profile-raw-'));
  const noPerf = await perfUsable();
  if (noPerf) throw new Error(`${noPerf}: install linux-perf and run as root or with kernel.perf_event_paranoid <= 1`);
  const machine = machineInfo(); // before pinning, which narrows what this process sees
  const choice = choosePinning({ disabled: values['no-pin'] });
  if (choice.pinning) pinGenerator(choice.pinning);
  const model = values['model-dir'].split('/').at(-1)!;
  const images = await makeImageSet(Number(values.size), 16, 1);
  const inspectPort = await freePort();
  process.env.BENCH_SERVER_NODE_ARGS = `${PERF_NODE_FLAGS} --inspect=127.0.0.1:${inspectPort}`;
  process.env.BENCH_SERVER_CWD = raw; // node writes its jitdump there
  // The gateway's session workers import 'tsx' from the working directory when run from source.
  await symlink(join(ROOT, 'node_modules'), join(raw, 'node_modules')).catch(() => undefined);
  const gateway = await startGatewayWith(values['model-dir'], { policy: 'adaptive' });
  delete process.env.BENCH_SERVER_NODE_ARGS;
  delete process.env.BENCH_SERVER_CWD;
  const pid = gateway.pid;
  const t = { server: gateway, serverName: 'gateway', hasMetrics: true, model };
  let cpu: { before: Map<number, ThreadSample>; after: Map<number, ThreadSample>; answered: number; durationS: number; throughput: number; meanLoad: number; meanBatch: number };
  const perfFile = join(raw, 'perf.data');
  let heap: { root: HeapNode; answered: number };
  const states = new Map<number, string>();
  try {
    note(`profiling the gateway (pid ${pid}${choice.pinning ? `, CPUs ${choice.pinning.serverCpus}; load generator on ${choice.pinning.generatorCpus}` : ', not pinned'}), load average ${loadavg()[0]!.toFixed(2)}`);
    await runStage(t, { protocol: 'grpc', images, load: { mode: 'closed', concurrency }, durationMs: Number(values['warmup-seconds']) * 1000, warmupMs: 0, isWarmUp: true });

    // 1. CPU: per-thread /proc and the profiles' samples over one window.
    const target = grpcTarget(gateway.grpcPort!, model, images);
    let before = new Map<number, ThreadSample>();
    let after = new Map<number, ThreadSample>();
    let perf: { stop(): Promise<void> } | undefined;
    let metricsBefore: PromSample[] = [];
    let metricsAfter: PromSample[] = [];
    const result = await closedLoop({
      target,
      concurrency,
      durationMs: seconds * 1000,
      warmupMs: 500,
      label: 'profile window',
      onWindowStart: async () => {
        metricsBefore = await scrapeMetrics(gateway.httpPort);
        before = await threads(pid);
        perf = startPerf(pid, perfFile);
      },
      onWindowEnd: async () => {
        after = await threads(pid);
        await perf?.stop();
        metricsAfter = await scrapeMetrics(gateway.httpPort);
      },
    });
    await target.close();
    const meanBatch = batchSizeDelta(histogramOf(metricsBefore, 'gateway_batch_size'), histogramOf(metricsAfter, 'gateway_batch_size')).mean;
    cpu = { before, after, answered: result.answeredInWindow, durationS: result.durationS, throughput: result.throughputPerSec, meanLoad: loadavg()[0]!, meanBatch };
    note(`  window: ${result.throughputPerSec.toFixed(1)}/s, ${result.answeredInWindow} answers, mean batch ${meanBatch.toFixed(2)}`);

    // 2. Allocations of the main thread over a second window, objects already collected included.
    const inspector = await Inspector.connect(inspectPort);
    await inspector.send('HeapProfiler.enable');
    await inspector.send('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const heapTarget = grpcTarget(gateway.grpcPort!, model, images);
    const heapResult = await closedLoop({ target: heapTarget, concurrency, durationMs: Math.min(5000, seconds * 1000), warmupMs: 0, label: 'allocation window' });
    await heapTarget.close();
    const { profile } = await inspector.send<{ profile: { head: HeapNode } }>('HeapProfiler.stopSampling');
    inspector.close();
    // Answers sent and received in the window; allocations of requests in flight at its edges roughly cancel.
    heap = { root: profile.head, answered: heapResult.ok };
    for (const tid of (await threads(pid)).keys()) states.set(tid, await blockedIn(pid, tid));
  } finally {
    await gateway.stop();
  }

  // 3. The in-process limit on the same CPUs, at the gateway's mean batch size (rounded), sampled
  // by perf over its measured window: the same stages per image, for the comparison.
  const limitBatch = Math.max(1, Math.round(cpu.meanBatch));
  const limitPerf = join(raw, 'limit-perf.data');
  let limitRecorder: ReturnType<typeof startPerf> | undefined;
  const limitJob = await measureLimitsIn(
    { modelDir: values['model-dir'], provider: 'cpu', seed: 1, stageMs: seconds * 1000, sets: [{ size: images.width, batchSizes: [limitBatch] }] },
    {
      nodeArgs: PERF_NODE_FLAGS.split(' '),
      cwd: raw,
      // Attached once the limit's threads exist: attached at its spawn, perf sampled under half of
      // its CPU (its decode threads were never seen).
      onReady: async (limitPid) => {
        limitRecorder = startPerf(limitPid, limitPerf);
        await limitRecorder.attached;
      },
    },
  );
  await limitRecorder?.stop();
  const limitPoint = limitJob.limits[0]!.points.find((p) => p.workers === 1) ?? limitJob.limits[0]!.best;
  const limitImages = limitPoint.imagesPerSec * ((limitPoint.windowNs![1] - limitPoint.windowNs![0]) / 1e9);
  const limitSamples = await perfStages(limitPerf, limitPoint.windowNs);
  note(`  limit at batch ${limitBatch}: ${limitPoint.imagesPerSec.toFixed(1)} images/s, ${limitPoint.cpuMsPerImage.toFixed(3)} ms CPU/image`);

  // Per-thread CPU, ms per answered request.
  const perRequestMs = (ticks: number): number => ((ticks / CLOCK_TICKS_PER_SEC) * 1000) / cpu.answered;
  const rows: { tid: number; ms: number; role: string; startTicks: number }[] = [];
  const mainStart = cpu.after.get(pid)?.startTicks ?? 0;
  for (const [tid, a] of cpu.after) {
    const ticks = a.ticks - (cpu.before.get(tid)?.ticks ?? 0);
    if (ticks <= 0) continue;
    rows.push({ tid, ms: perRequestMs(ticks), role: tid === pid ? 'main thread' : '', startTicks: a.startTicks - mainStart });
  }
  const totalMs = rows.reduce((s, r) => s + r.ms, 0);
  rows.sort((a, b) => b.ms - a.ms);

  // perf samples of the window, by stage and by the thread's role.
  const samples = await perfStages(perfFile);
  const roleOf = (tid: number): Role => (tid === pid ? 'main' : (states.get(tid) ?? '').startsWith('epoll') ? 'loops' : 'pools');
  const lines: string[] = [];
  lines.push(`# Gateway CPU profile under load`, '');
  lines.push(`Command: \`npm run bench:profile${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`; ${new Date().toISOString()}; ${machine.cpuModel}, ${machine.cores} cores; load average at start ${machine.loadAverage1m}, at the end of the window ${cpu.meanLoad.toFixed(2)}.`);
  lines.push(
    `Load: closed loop, gRPC Classify, ${concurrency} clients, ${images.name} images, ${model}, ${choice.pinning ? `gateway on CPUs ${choice.pinning.serverCpus}, load generator on CPUs ${choice.pinning.generatorCpus}` : 'not pinned'}. ` +
      `Window ${cpu.durationS.toFixed(1)} s: ${cpu.throughput.toFixed(1)} answers/s, ${cpu.answered} answers; gateway CPU **${totalMs.toFixed(3)} ms per answered request** (all threads, /proc; perf sampled ${(samples.totalNs / 1e6 / cpu.answered).toFixed(3)} ms).`,
    '',
  );
  lines.push('## Per thread (/proc/<pid>/task/*/stat over the window)', '');
  const roles = rows.map((r) => r.role || `blocked in ${states.get(r.tid) ?? '?'}`);
  lines.push(table(['thread', 'started (s after main)', 'state after the run', 'CPU ms/request', 'share'], rows.map((r, i) => [String(r.tid), (r.startTicks / CLOCK_TICKS_PER_SEC).toFixed(2), roles[i]!, r.ms.toFixed(3), `${((r.ms / totalMs) * 100).toFixed(1)} %`])), '');
  lines.push('State: the system call each thread waited in once the load had stopped: event loops (the main thread, the session worker) wait in epoll, pool threads (libuv, libvips, V8) on a futex; `?` = the thread had ended.', '');
  lines.push('## By stage of the request path (perf cpu-clock samples over the window)', '');
  const us = (ns: number): string => (ns / 1000 / cpu.answered).toFixed(1);
  const byStage = stagesByRole(samples, roleOf);
  const stageRows = [...byStage.entries()].map(([stage, by]) => ({ stage, ...by, total: by.main + by.loops + by.pools })).sort((a, b) => b.total - a.total);
  lines.push(
    table(
      ['stage', 'main thread (µs/request)', 'other event loops: session worker (µs/request)', 'pool threads: libuv, libvips, V8 (µs/request)', 'total (µs/request)', 'share'],
      stageRows.map((r) => [r.stage, us(r.main), us(r.loops), us(r.pools), `**${us(r.total)}**`, `${((r.total / samples.totalNs) * 100).toFixed(1)} %`]),
    ),
    '',
  );
  lines.push(
    'Each sample goes to the nearest frame from the leaf up that belongs to a known module (lib/stages.ts): Node internals and the kernel count for the JS or library frame that called them. ' +
      "On pool threads, samples whose stack native code without frame pointers cut short go to that thread's main stage (libuv/libvips threads: sharp decode; V8's: GC or compiling). " +
      '"native / unattributed" is the rest (V8 runtime and builtin calls whose caller was lost). glibc has no frame pointers, so malloc/free are shown apart: their callers are not recorded.',
    '',
  );
  lines.push(`## Gateway per request against the in-process limit per image (same CPUs, limit at batch ${limitBatch} = the gateway's mean batch)`, '');
  lines.push(
    `The limit: ${limitPoint.layout}, ${limitPoint.imagesPerSec.toFixed(1)} images/s, ${limitPoint.cpuMsPerImage.toFixed(3)} ms of CPU per image (process CPU over its window); perf sampled ${(limitSamples.totalNs / 1e6 / limitImages).toFixed(3)} ms. ` +
      `The gateway: ${(samples.totalNs / 1e6 / cpu.answered).toFixed(3)} ms sampled per request. Ratio of the sampled totals: **${(samples.totalNs / cpu.answered / (limitSamples.totalNs / limitImages)).toFixed(2)}x**.`,
    '',
  );
  const limitByStage = new Map([...stagesByRole(limitSamples, (tid) => (tid === limitJob.pid ? 'main' : 'pools')).entries()].map(([stage, by]) => [stage, by.main + by.loops + by.pools]));
  const allStages = [...new Set([...stageRows.map((r) => r.stage), ...limitByStage.keys()])];
  const gwOf = (stage: string): number => (stageRows.find((r) => r.stage === stage)?.total ?? 0) / 1000 / cpu.answered;
  const limOf = (stage: string): number => (limitByStage.get(stage) ?? 0) / 1000 / limitImages;
  lines.push(
    table(
      ['stage', 'gateway (µs/request)', 'limit (µs/image)', 'gateway - limit (µs)'],
      allStages.sort((a, b) => gwOf(b) - limOf(b) - (gwOf(a) - limOf(a))).map((st) => [st, gwOf(st).toFixed(1), limOf(st).toFixed(1), `**${(gwOf(st) - limOf(st)).toFixed(1)}**`]),
    ),
    '',
  );
  lines.push("(The limit's threads other than its idle main thread are treated as pool threads for cut-short stacks.)", '');
  lines.push('Heaviest leaf symbols (gateway):', '');
  lines.push(table(['symbol', 'stage', 'µs per request'], samples.topSymbols.slice(0, 25).map((t) => [`\`${t.symbol.replace(/\|/g, '\\|')}\``, t.stage, us(t.ns)])), '');

  // Allocations by stage.
  const nodes = new Map<number, HeapNode>();
  const parent = new Map<number, number>();
  const walk = (n: HeapNode): void => {
    nodes.set(n.id, n);
    for (const c of n.children) {
      parent.set(c.id, n.id);
      walk(c);
    }
  };
  walk(heap.root);
  const stageOf = stageResolver((id) => nodes.get(id)!.callFrame, (id) => parent.get(id));
  const bytes = new Map<string, number>();
  const byFn = new Map<string, { stage: string; bytes: number }>();
  let totalBytes = 0;
  for (const n of nodes.values()) {
    if (n.selfSize === 0) continue;
    const stage = stageOf(n.id);
    bytes.set(stage, (bytes.get(stage) ?? 0) + n.selfSize);
    const f = n.callFrame;
    const name = `${f.functionName || '(anonymous)'} (${shortUrl(f.url)})`;
    const e = byFn.get(name) ?? { stage, bytes: 0 };
    e.bytes += n.selfSize;
    byFn.set(name, e);
    totalBytes += n.selfSize;
  }
  lines.push('## Main-thread allocations (V8 sampling heap profiler, collected objects included)', '');
  lines.push(`${heap.answered} answers; **${(totalBytes / heap.answered / 1024).toFixed(1)} KiB allocated on the JS heap per request** (estimate from 16 KiB sampling; ArrayBuffer contents outside the heap not counted).`, '');
  lines.push(table(['stage', 'KiB per request', 'share'], [...bytes.entries()].sort((a, b) => b[1] - a[1]).map(([s, b]) => [s, (b / heap.answered / 1024).toFixed(2), `${((b / totalBytes) * 100).toFixed(1)} %`])), '');
  lines.push(table(['allocating function', 'stage', 'KiB per request'], [...byFn.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, 15).map(([n, e]) => [`\`${n}\``, e.stage, (e.bytes / heap.answered / 1024).toFixed(2)])), '');

  const md = lines.join('\n');
  await writeFile(join(out, 'profile.md'), md);
  process.stdout.write(`${md}\n`);
  note(`wrote ${join(out, 'profile.md')} (perf.data in ${raw})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
