// `npm run bench`: one run that measures, on the same model and the same procedural images,
//   1. the headline, in --repeats rounds (default 3; median and min-max in the report): the
//      in-process limit (decode + preprocess + onnxruntime, no network, its own process), the
//      gateway over gRPC at 32 clients (64px, 224px) and at one client, and the gateway at
//      maxBatchSize 1; pinned throughput ratios, server CPU per request against the limit's CPU per
//      image, the low-load overhead, batched / unbatched;
//   2. the rest of the gateway's closed-loop sweep over gRPC and HTTP;
//   3. deadline-aware batching: capacity, then open-loop Poisson arrivals at 50/80/95/130% of it
//      with a 100 ms deadline, adaptive policy vs fixed maxQueueDelayMs values;
//   4. a naive fastify + sharp + session.run-per-request server (bench/naive-server.ts) at 32
//      concurrent HTTP clients against the gateway at 32;
//   5. the protocols alone (bench/transport-server.ts: canned answers, no model work), which with
//      the limit bounds what any server on gRPC or HTTP can serve on these cores.
// Every server is its own child process. With >= 2 CPUs the servers and the limit run on one half
// of them and the load generator on the other (lib/pinning.ts, taskset). Writes
// bench/results/<date>/report.{json,md} + SVG charts.
//   npm run bench [-- --quick | --full] [--repeats 3] [--model-dir models/shapes-mobilenetv3] [--out DIR] [--seed N]
//                 [--execution-provider cpu|cuda] [--no-pin | --server-cpus 0 --generator-cpus 1]
//   npm run bench -- --soak [--soak-minutes 5]     (memory soak, bench/soak.ts)
//   npm run bench -- --from-json DIR/report.json --out DIR   (re-render report.md and charts)
import { mkdir, readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BatchingSchema } from '../src/models/manifest.js';
import { type AdaptiveLevel, type AdaptiveScenario, compareLevel, levelFigures } from './lib/adaptive.js';
import { type ImageSet, makeImageSet } from './lib/images.js';
import { type LimitResult, type SingleLatency, measureLimitsIn, median } from './lib/limit.js';
import { machineInfo } from './lib/machine.js';
import { note } from './lib/progress.js';
import { type BenchReport, type Comparison, writeReport } from './lib/report.js';
import { type HeadlineFigure, type HeadlineRound, figure } from './lib/headline.js';
import { choosePinning, pinGenerator } from './lib/pinning.js';
import { ROOT, setExecutionProvider, startGatewayWith, startServer } from './lib/server-process.js';
import { type StageRecord, type StageSpec, type StageTarget, rotated, runStage } from './lib/stage.js';
import { runSoak } from './soak.js';

const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: join(ROOT, 'models', 'shapes-mobilenetv3') },
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    'soak-minutes': { type: 'string', default: '5' },
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'from-json': { type: 'string' },
    repeats: { type: 'string', default: '3' },
    'no-pin': { type: 'boolean', default: false },
    'server-cpus': { type: 'string' },
    'generator-cpus': { type: 'string' },
    'execution-provider': { type: 'string', default: 'cpu' },
  },
});

type Mode = 'quick' | 'default' | 'full';

/** What each mode runs; durations in ms. */
interface Plan {
  readonly stageMs: number;
  /** Measured window of each open-loop stage of the deadline scenario. */
  readonly openMs: number;
  readonly warmupMs: number;
  /** Unrecorded load on each freshly started server (V8 and onnxruntime reach steady state only after a few seconds). */
  readonly serverWarmupMs: number;
  readonly limitStageMs: number;
  readonly limitBatchSizes: readonly number[];
  readonly limitBatchSizesLarge: readonly number[];
  readonly singleIterations: number;
  readonly grpcSweep: readonly number[];
  readonly httpSweep: readonly number[];
  /** Protocols measured with the large images (at NAIVE_CONCURRENCY). */
  readonly largeProtocols: readonly ('grpc' | 'http')[];
  readonly unbatchedProtocols: readonly ('grpc' | 'http')[];
  readonly naiveLarge: boolean;
  readonly fixedDelaysMs: readonly number[];
  /** Offered load as fractions of the closed-loop capacity; 1.3 is an overload, where shedding decides goodput. */
  readonly loadFractions: readonly number[];
}

const PLANS: Readonly<Record<Mode, Plan>> = {
  quick: {
    stageMs: 1200,
    openMs: 1200,
    warmupMs: 300,
    serverWarmupMs: 600,
    limitStageMs: 250,
    limitBatchSizes: [1, 8, 32],
    limitBatchSizesLarge: [8],
    singleIterations: 100,
    grpcSweep: [1, 32],
    httpSweep: [32],
    largeProtocols: ['grpc'],
    unbatchedProtocols: ['grpc'],
    naiveLarge: false,
    fixedDelaysMs: [0, 5],
    loadFractions: [0.5, 0.8, 0.95],
  },
  default: {
    stageMs: 2500,
    openMs: 2000,
    warmupMs: 500,
    serverWarmupMs: 8000,
    limitStageMs: 400,
    limitBatchSizes: [1, 4, 8, 16, 32],
    limitBatchSizesLarge: [1, 8, 32],
    singleIterations: 300,
    grpcSweep: [1, 8, 32, 64],
    httpSweep: [32, 64],
    largeProtocols: ['grpc'],
    unbatchedProtocols: ['grpc'],
    naiveLarge: false,
    fixedDelaysMs: [0, 2, 5],
    loadFractions: [0.5, 0.8, 0.95, 1.3],
  },
  full: {
    stageMs: 10_000,
    openMs: 10_000,
    warmupMs: 2000,
    serverWarmupMs: 8000,
    limitStageMs: 2000,
    limitBatchSizes: [1, 2, 4, 8, 16, 32, 64],
    limitBatchSizesLarge: [1, 4, 8, 16, 32, 64],
    singleIterations: 1000,
    grpcSweep: [1, 2, 4, 8, 16, 32, 64, 128],
    httpSweep: [1, 2, 4, 8, 16, 32, 64, 128],
    largeProtocols: ['grpc', 'http'],
    unbatchedProtocols: ['grpc', 'http'],
    naiveLarge: true,
    fixedDelaysMs: [0, 1, 2, 5, 10],
    loadFractions: [0.5, 0.8, 0.95, 1.3],
  },
};

/** Concurrency of the naive-server comparison (and of the batched/unbatched one). */
const NAIVE_CONCURRENCY = 32;
const DEADLINE_MS = 100;
/** Issue 17's targets (the naive-server one from the earlier report). */
const TARGETS = {
  limit64: { op: '>=', value: 0.85 },
  limit224: { op: '>=', value: 0.9 },
  cpuRatio: { op: '<=', value: 1.15 },
  overheadMs: { op: '<=', value: 0.6 },
  batched: { op: '>=', value: 1.8 },
  naiveRatio: 2,
} as const;

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

async function main(): Promise<void> {
  const mode: Mode = values.full ? 'full' : values.quick ? 'quick' : 'default';
  const modelDir = resolve(values['model-dir']);
  const outDir = resolve(values.out ?? join(ROOT, 'bench', 'results', today()));
  await mkdir(outDir, { recursive: true });
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (values['from-json']) {
    // Re-renders report.md and the charts of an earlier run (e.g. after a report format change).
    const report = JSON.parse(await readFile(values['from-json'], 'utf8')) as BenchReport;
    const files = await writeReport(outDir, report);
    note(`wrote ${files.paths.map((p) => relative(process.cwd(), p)).join(', ')}`);
    return;
  }
  if (values.soak) {
    await runSoak({ modelDir, outDir, minutes: Number(values['soak-minutes']), command });
    return;
  }
  const plan = PLANS[mode];
  const seed = Number(values.seed);
  const repeats = Math.max(1, Number(values.repeats));
  const provider = values['execution-provider'];
  if (provider !== 'cpu' && provider !== 'cuda') throw new Error(`--execution-provider must be cpu or cuda, not ${provider}`);
  setExecutionProvider(provider);
  const startedAt = new Date();
  const machine = machineInfo();
  const pinningChoice = choosePinning({ disabled: values['no-pin'], ...(values['server-cpus'] ? { serverCpus: values['server-cpus'] } : {}), ...(values['generator-cpus'] ? { generatorCpus: values['generator-cpus'] } : {}) });
  const pinning = pinningChoice.pinning;
  if (pinning) pinGenerator(pinning);
  note(`bench (${mode}): ${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadAverage1m}, node ${machine.node}, onnxruntime-node ${machine.onnxruntimeNode}, provider ${provider}`);
  note(pinning ? `pinned with taskset: servers and the in-process limit on CPUs ${pinning.serverCpus}, load generator on CPUs ${pinning.generatorCpus}` : `not pinned: ${'reason' in pinningChoice ? pinningChoice.reason : ''}`);
  const small = await makeImageSet(64, 16, seed);
  const large = await makeImageSet(224, 16, seed);
  const model = modelDir.split('/').at(-1)!;
  const stages: StageRecord[] = [];
  const stage = async (t: StageTarget, spec: Omit<StageSpec, 'durationMs' | 'warmupMs'> & Partial<StageSpec>): Promise<StageRecord> => {
    const record = await runStage(t, { durationMs: plan.stageMs, warmupMs: plan.warmupMs, ...spec });
    stages.push(record);
    return record;
  };
  const closed = (protocol: 'grpc' | 'http', images: ImageSet, concurrency: number): Omit<StageSpec, 'durationMs' | 'warmupMs'> => ({ protocol, images, load: { mode: 'closed', concurrency } });
  const policySupported = BatchingSchema.safeParse({ policy: 'fixed' }).success;

  // 1. The headline, repeated: each round measures the in-process limit (its own process, on the
  // server CPUs, nothing else running there), then the shipped gateway and the same gateway at
  // maxBatchSize 1 (both started once, warm, the order rotating per round).
  const adaptiveBatching = policySupported ? { policy: 'adaptive' } : {};
  const gateway = await startGatewayWith(modelDir, adaptiveBatching);
  const gw: StageTarget = { server: gateway, serverName: 'gateway', hasMetrics: true, model };
  const limits: (LimitResult & { round: number })[] = [];
  const limitsAtGatewayBatch: (LimitResult & { round: number })[] = [];
  const singlesByRound: SingleLatency[] = [];
  const rounds: HeadlineRound[] = [];
  const roundStages: { shipped64: StageRecord; shipped224: StageRecord; one: StageRecord; unbatched: StageRecord }[] = [];
  const grpcSweep: StageRecord[] = [];
  const httpSweep: StageRecord[] = [];
  const unbatched: StageRecord[] = [];
  try {
    const unbatchedGateway = await startGatewayWith(modelDir, { ...adaptiveBatching, maxBatchSize: 1 });
    const ub: StageTarget = { server: unbatchedGateway, serverName: 'gateway maxBatchSize 1', hasMetrics: true, model };
    try {
      await warmUp(gw, small, plan);
      await warmUp(ub, small, plan);
      for (let round = 1; round <= repeats; round++) {
        const tag = `r${round}`;
        const loadAverage1m = Math.round(loadavg()[0]! * 100) / 100;
        note(`headline round ${round}/${repeats} (load average ${loadAverage1m}): in-process limit${pinning ? ` on CPUs ${pinning.serverCpus}` : ''}`);
        const job = await measureLimitsIn({
          modelDir,
          provider,
          seed,
          stageMs: plan.limitStageMs,
          // The best point measured again over a gateway stage's window: the figure the headline
          // divides by is then neither shorter nor luckier than the gateway's (limit.ts).
          confirmMs: plan.stageMs,
          sets: [
            { size: small.width, batchSizes: plan.limitBatchSizes },
            { size: large.width, batchSizes: plan.limitBatchSizesLarge },
          ],
          // The faster of one intra-op thread (the gateway's default here) and onnxruntime's default,
          // so the overhead figure never credits the gateway's thread choice.
          single: { iterations: plan.singleIterations, intraOpThreads: [1, 0] },
        });
        for (const l of job.limits) {
          limits.push({ ...l, round });
          const searched = l.selected ? ` (the search's ${l.selected.imagesPerSec.toFixed(1)}/s, ${l.selected.cpuMsPerImage.toFixed(3)} ms)` : '';
          note(`  limit ${l.images}: ${l.best.imagesPerSec.toFixed(1)} images/s, ${l.best.cpuMsPerImage.toFixed(3)} ms CPU/image (${l.best.layout}, batch ${l.best.batchSize})${searched}`);
        }
        const single = job.singles.reduce((a, b) => (b.p50TotalMs < a.p50TotalMs ? b : a));
        singlesByRound.push(single);
        note(`  single request in-process ${small.name}: p50 ${single.p50TotalMs.toFixed(3)} ms, ${single.intraOpThreads || 'default'} intra-op thread(s)`);
        const measured: Partial<(typeof roundStages)[number]> = {};
        for (const t of rotated([gw, ub], round)) {
          if (t === ub) {
            measured.unbatched = await stage(ub, { ...closed('grpc', small, NAIVE_CONCURRENCY), tag });
            unbatched.push(measured.unbatched);
          } else {
            measured.shipped64 = await stage(gw, { ...closed('grpc', small, NAIVE_CONCURRENCY), tag });
            measured.shipped224 = await stage(gw, { ...closed('grpc', large, NAIVE_CONCURRENCY), tag });
            measured.one = await stage(gw, { ...closed('grpc', small, 1), tag });
          }
        }
        roundStages.push(measured as (typeof roundStages)[number]);
        // The limit again at the batch sizes the gateway formed in this round (its own process, the
        // same CPUs, a stage's window): the CPU ratio against it is the gateway's own path alone,
        // and the headline ratio's remainder is the batch size 32 closed-loop clients allow.
        const own = await measureLimitsIn({
          modelDir,
          provider,
          seed,
          stageMs: plan.stageMs,
          sets: [
            { size: small.width, batchSizes: [meanBatchOf(measured.shipped64!)] },
            { size: large.width, batchSizes: [meanBatchOf(measured.shipped224!)] },
          ],
        });
        for (const l of own.limits) {
          limitsAtGatewayBatch.push({ ...l, round });
          note(`  limit ${l.images} at the gateway's batch ${l.best.batchSize}: ${l.best.imagesPerSec.toFixed(1)} images/s, ${l.best.cpuMsPerImage.toFixed(3)} ms CPU/image`);
        }
        rounds.push({ round, loadAverage1m, stageIds: [...job.limits.map((l) => `limit ${l.images}`), measured.shipped64!.id, measured.shipped224!.id, measured.one!.id, measured.unbatched!.id] });
      }
      for (const p of plan.unbatchedProtocols.filter((p) => p !== 'grpc')) unbatched.push(await stage(ub, closed(p, small, NAIVE_CONCURRENCY)));
    } finally {
      await unbatchedGateway.stop();
    }

    // 2. The rest of the gateway's sweep (the headline's first round supplies 1 and 32 gRPC clients).
    const first = roundStages[0]!;
    grpcSweep.push(first.one, first.shipped64);
    for (const c of plan.grpcSweep.filter((c) => c !== 1 && c !== NAIVE_CONCURRENCY)) grpcSweep.push(await stage(gw, closed('grpc', small, c)));
    grpcSweep.sort((a, b) => a.result.concurrency! - b.result.concurrency!);
    for (const c of plan.httpSweep) httpSweep.push(await stage(gw, closed('http', small, c)));
    for (const p of plan.largeProtocols.filter((p) => p !== 'grpc')) await stage(gw, closed(p, large, NAIVE_CONCURRENCY));
  } finally {
    await gateway.stop();
  }
  const capacity = best(grpcSweep);
  const single = singlesByRound[0]!;
  const headline = headlineFigures(limits, limitsAtGatewayBatch, singlesByRound, roundStages, small, large);

  // 3. Deadline scenario: one warm gateway per policy configuration, all started up front, and the
  // load levels interleaved (each level runs every configuration back to back, in a rotating
  // order) so drift in the machine's background load does not favour one configuration.
  const rates = plan.loadFractions.map((f) => f * capacity.result.throughputPerSec);
  note(`deadline scenario: capacity ${capacity.result.throughputPerSec.toFixed(1)}/s (${capacity.id}); Poisson arrivals, ${DEADLINE_MS} ms deadline`);
  const configs: { name: string; delayMs: number | undefined; batching: Record<string, unknown> }[] = [{ name: policySupported ? 'gateway adaptive' : 'gateway', delayMs: undefined, batching: adaptiveBatching }];
  if (policySupported) {
    for (const delayMs of plan.fixedDelaysMs) configs.push({ name: `gateway fixed ${delayMs} ms`, delayMs, batching: { policy: 'fixed', maxQueueDelayMs: delayMs } });
  } else {
    note("  fixed policy skipped: this tree's model.json schema has no batching.policy field yet");
  }
  const servers: StageTarget[] = [];
  const runs = new Map<string, StageRecord[]>(configs.map((c) => [c.name, []]));
  try {
    for (const c of configs) {
      const server = await startGatewayWith(modelDir, c.batching);
      servers.push({ server, serverName: c.name, hasMetrics: true, model });
      await warmUp(servers.at(-1)!, small, plan);
    }
    for (const [i, rate] of rates.entries()) {
      for (const t of rotated(servers, i)) {
        const spec = { protocol: 'grpc', images: small, load: { mode: 'open', ratePerSec: rate, seed: seed * 1000 + i, deadlineMs: DEADLINE_MS }, durationMs: plan.openMs } as const;
        runs.get(t.serverName)!.push(await stage(t, spec));
      }
    }
  } finally {
    await Promise.all(servers.map((t) => t.server.stop()));
  }
  const adaptiveRuns = runs.get(configs[0]!.name)!;
  const fixedRuns = new Map(configs.filter((c) => c.delayMs !== undefined).map((c) => [c.delayMs!, runs.get(c.name)!]));

  // 4. The naive server.
  const naive = await startServer('bench/naive-server.ts', ['--model-dir', modelDir]);
  const naiveRuns: StageRecord[] = [];
  try {
    const t: StageTarget = { server: naive, serverName: 'naive', hasMetrics: false, model };
    await warmUp(t, small, plan, 'http');
    naiveRuns.push(await stage(t, closed('http', small, NAIVE_CONCURRENCY)));
    if (plan.naiveLarge) naiveRuns.push(await stage(t, closed('http', large, NAIVE_CONCURRENCY)));
  } finally {
    await naive.stop();
  }

  // 5. The protocols alone: the same Classify calls answered with a canned response (no decoding,
  // no inference), at one client and at each protocol's saturating concurrency.
  const transport = await startServer('bench/transport-server.ts', []);
  const transportRuns: StageRecord[] = [];
  try {
    const t: StageTarget = { server: transport, serverName: 'transport', hasMetrics: false, model };
    await warmUp(t, small, plan);
    transportRuns.push(await stage(t, closed('grpc', small, 1)));
    transportRuns.push(await stage(t, closed('grpc', small, capacity.result.concurrency ?? NAIVE_CONCURRENCY)));
    transportRuns.push(await stage(t, closed('http', small, best(httpSweep).result.concurrency ?? NAIVE_CONCURRENCY)));
  } finally {
    await transport.stop();
  }

  // Figures.
  const shippedDelayMs = await shippedMaxQueueDelayMs(modelDir);
  const adaptive: AdaptiveScenario = {
    capacityPerSec: capacity.result.throughputPerSec,
    capacityStage: capacity.id,
    deadlineMs: DEADLINE_MS,
    adaptiveMaxQueueDelayMs: shippedDelayMs,
    fixedDelaysMs: policySupported ? plan.fixedDelaysMs : [],
    levels: plan.loadFractions.map((fraction, i): AdaptiveLevel =>
      compareLevel(
        fraction,
        rates[i]!,
        levelFigures(adaptiveRuns[i]!),
        [...fixedRuns.entries()].map(([maxQueueDelayMs, runs]) => ({ maxQueueDelayMs, ...levelFigures(runs[i]!) })),
      ),
    ),
    ...(policySupported ? {} : { fixedSkipped: 'the model.json schema of this tree has no batching.policy field' }),
  };
  const comparisons = compare(limits, grpcSweep, httpSweep, stages, naiveRuns, transportRuns, small);
  const finishedAt = new Date();
  const report: BenchReport = {
    tool: 'npm run bench',
    command,
    mode,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine,
    loadAverage1mAtEnd: Math.round(loadavg()[0]! * 100) / 100,
    model,
    modelDir: relative(ROOT, modelDir) || modelDir,
    images: [small, large].map((s) => ({ name: s.name, count: s.images.length, width: s.width, height: s.height, meanBytes: Math.round(s.meanBytes), formats: 'PNG and JPEG q90, alternating', seed })),
    plan: { ...plan, naiveConcurrency: NAIVE_CONCURRENCY, deadlineMs: DEADLINE_MS, repeats },
    executionProvider: provider,
    pinning: pinning ?? { reason: 'reason' in pinningChoice ? pinningChoice.reason : 'unknown' },
    headline,
    rounds,
    limits,
    limitsAtGatewayBatch,
    singleLatency: single,
    stages,
    comparisons,
    adaptive,
  };
  const files = await writeReport(outDir, report);
  process.stdout.write(files.markdown);
  note(`\nwrote ${files.paths.map((p) => relative(process.cwd(), p)).join(', ')} in ${report.wallSeconds.toFixed(0)} s`);
}

/** Unrecorded closed-loop load so JIT, sessions and the latency model are warm before measuring. */
async function warmUp(t: StageTarget, images: ImageSet, plan: Plan, protocol: 'grpc' | 'http' = t.server.grpcPort === undefined ? 'http' : 'grpc'): Promise<void> {
  await runStage(t, { protocol, images, load: { mode: 'closed', concurrency: NAIVE_CONCURRENCY }, durationMs: plan.serverWarmupMs, warmupMs: 0, isWarmUp: true });
}

/** The stage's mean batch, rounded (at least 1): the batch size the limit is measured at beside it. */
function meanBatchOf(s: StageRecord): number {
  return Math.max(1, Math.round(s.batch?.mean ?? 1));
}

function best(records: readonly StageRecord[]): StageRecord {
  return records.reduce((a, b) => (b.result.throughputPerSec > a.result.throughputPerSec ? b : a));
}

async function shippedMaxQueueDelayMs(modelDir: string): Promise<number> {
  const manifest = JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')) as { batching?: unknown };
  return BatchingSchema.parse(manifest.batching ?? {}).maxQueueDelayMs;
}

/** The headline figures, one value per round, with the targets of issue 17. */
function headlineFigures(
  limits: readonly (LimitResult & { round: number })[],
  atGatewayBatch: readonly (LimitResult & { round: number })[],
  singles: readonly SingleLatency[],
  rounds: readonly { shipped64: StageRecord; shipped224: StageRecord; one: StageRecord; unbatched: StageRecord }[],
  small: ImageSet,
  large: ImageSet,
): HeadlineFigure[] {
  const limitOf = (round: number, images: string): LimitResult => limits.find((l) => l.round === round && l.images === images)!;
  const ownBatchOf = (round: number, images: string): LimitResult => atGatewayBatch.find((l) => l.round === round && l.images === images)!;
  const per = <T>(fn: (r: (typeof rounds)[number], round: number) => T): T[] => rounds.map((r, i) => fn(r, i + 1));
  const throughputRatio = (s: StageRecord, l: LimitResult): { value: number; detail: string } => ({
    value: s.result.throughputPerSec / l.best.imagesPerSec,
    detail: `${s.result.throughputPerSec.toFixed(1)}/s (${s.id}) / ${l.best.imagesPerSec.toFixed(1)}/s (limit: ${l.best.layout}, batch ${l.best.batchSize})`,
  });
  const cpuRatio = (s: StageRecord, l: LimitResult): { value: number; detail: string } => ({
    value: (s.serverCpuMsPerRequest ?? NaN) / l.best.cpuMsPerImage,
    detail: `${s.serverCpuMsPerRequest?.toFixed(3) ?? '-'} ms (${s.id}, mean batch ${s.batch?.mean.toFixed(2) ?? '-'}) / ${l.best.cpuMsPerImage.toFixed(3)} ms (limit: ${l.best.layout}, batch ${l.best.batchSize})`,
  });
  const ms = (v: number | undefined, detail: string): { value: number; detail: string } => ({ value: v ?? NaN, detail });
  return [
    figure('grpc_vs_limit_64', `pinned throughput: gateway gRPC, ${NAIVE_CONCURRENCY} clients / in-process limit, ${small.name}`, 'ratio', per((r, i) => throughputRatio(r.shipped64, limitOf(i, small.name))), TARGETS.limit64),
    figure('grpc_vs_limit_224', `pinned throughput: gateway gRPC, ${NAIVE_CONCURRENCY} clients / in-process limit, ${large.name}`, 'ratio', per((r, i) => throughputRatio(r.shipped224, limitOf(i, large.name))), TARGETS.limit224),
    figure('cpu_vs_limit_64', `server CPU per request: gateway gRPC / in-process limit per image, ${small.name}`, 'ratio', per((r, i) => cpuRatio(r.shipped64, limitOf(i, small.name))), TARGETS.cpuRatio),
    figure('cpu_vs_limit_224', `server CPU per request: gateway gRPC / in-process limit per image, ${large.name}`, 'ratio', per((r, i) => cpuRatio(r.shipped224, limitOf(i, large.name))), TARGETS.cpuRatio),
    figure('cpu_vs_limit_own_batch_64', `the same against the limit at the gateway's mean batch (the gateway's own path alone), ${small.name}`, 'ratio', per((r, i) => cpuRatio(r.shipped64, ownBatchOf(i, small.name)))),
    figure('cpu_vs_limit_own_batch_224', `the same against the limit at the gateway's mean batch, ${large.name}`, 'ratio', per((r, i) => cpuRatio(r.shipped224, ownBatchOf(i, large.name)))),
    figure('gateway_cpu_ms_64', `gateway server CPU per answered request, gRPC ${NAIVE_CONCURRENCY} clients, ${small.name}`, 'ms', per((r) => ms(r.shipped64.serverCpuMsPerRequest, r.shipped64.id))),
    figure('limit_cpu_ms_64', `in-process limit CPU per image, ${small.name}`, 'ms', per((_, i) => { const l = limitOf(i, small.name); return ms(l.best.cpuMsPerImage, `${l.best.layout}, batch ${l.best.batchSize}`); })),
    figure('gateway_cpu_ms_224', `gateway server CPU per answered request, gRPC ${NAIVE_CONCURRENCY} clients, ${large.name}`, 'ms', per((r) => ms(r.shipped224.serverCpuMsPerRequest, r.shipped224.id))),
    figure('limit_cpu_ms_224', `in-process limit CPU per image, ${large.name}`, 'ms', per((_, i) => { const l = limitOf(i, large.name); return ms(l.best.cpuMsPerImage, `${l.best.layout}, batch ${l.best.batchSize}`); })),
    figure('overhead_p50_ms', 'low-load overhead: gRPC p50, one request at a time, minus in-process single request p50', 'ms', per((r, i) => ({
      value: r.one.result.latencyMs.p50 - singles[i - 1]!.p50TotalMs,
      detail: `${r.one.result.latencyMs.p50.toFixed(3)} ms (${r.one.id}) - ${singles[i - 1]!.p50TotalMs.toFixed(3)} ms in-process (${singles[i - 1]!.intraOpThreads || 'default'} intra-op threads)`,
    })), TARGETS.overheadMs),
    figure('batched_vs_unbatched_grpc', `batched / maxBatchSize 1, gRPC ${NAIVE_CONCURRENCY} clients, ${small.name}, pinned`, 'ratio', per((r) => ({
      value: r.shipped64.result.throughputPerSec / r.unbatched.result.throughputPerSec,
      detail: `${r.shipped64.result.throughputPerSec.toFixed(1)}/s (${r.shipped64.id}) / ${r.unbatched.result.throughputPerSec.toFixed(1)}/s (${r.unbatched.id})`,
    })), TARGETS.batched),
  ];
}

/** Figures measured once (not repeated): HTTP, the protocol bound, the naive server, a bare gRPC call. */
function compare(
  limits: readonly LimitResult[],
  grpcSweep: readonly StageRecord[],
  httpSweep: readonly StageRecord[],
  stages: readonly StageRecord[],
  naiveRuns: readonly StageRecord[],
  transportRuns: readonly StageRecord[],
  small: ImageSet,
): Comparison[] {
  const out: Comparison[] = [];
  const find = (server: string, protocol: string, images: string, concurrency: number): StageRecord | undefined =>
    stages.find((s) => s.server === server && s.result.protocol === protocol && s.images === images && s.result.mode === 'closed' && s.result.concurrency === concurrency);
  const ratio = (key: string, label: string, num: StageRecord | undefined, den: number, target?: number, denLabel = ''): void => {
    if (!num) return;
    const value = num.result.throughputPerSec / den;
    out.push({
      key,
      label,
      value,
      unit: 'ratio',
      ...(target !== undefined ? { target: `>= ${target}`, met: value >= target } : {}),
      detail: `${num.result.throughputPerSec.toFixed(1)}/s (${num.id}) / ${den.toFixed(1)}/s${denLabel}`,
    });
  };
  // The limit of these once-measured figures: the median over the headline rounds.
  const limit64 = median(limits.filter((l) => l.images === small.name).map((l) => l.best.imagesPerSec));
  const limDesc = ' (in-process limit, median of the rounds)';
  ratio('http_vs_limit_64', `gateway HTTP at saturation / in-process limit, ${small.name}`, best(httpSweep), limit64, TARGETS.limit64.value, limDesc);
  // What any server on these protocols could serve here: each request costs the in-process work
  // plus one bare call of the protocol, both measured on the server CPUs (1/L + 1/T seconds of
  // them per request). Not a target; it says how much of the gap to the limit is the protocol.
  for (const sweep of [grpcSweep, httpSweep]) {
    const g = best(sweep);
    const bare = transportRuns.find((t) => t.result.protocol === g.result.protocol && t.result.concurrency === g.result.concurrency);
    if (!bare) continue;
    const bound = 1 / (1 / limit64 + 1 / bare.result.throughputPerSec);
    const name = g.result.protocol === 'grpc' ? 'gRPC' : 'HTTP';
    ratio(
      `${g.result.protocol}_vs_protocol_bound_64`,
      `gateway ${name} at saturation / in-process limit plus a bare ${name} call per request, ${small.name}`,
      g,
      bound,
      undefined,
      ` (1 / (1/${limit64.toFixed(1)} + 1/${bare.result.throughputPerSec.toFixed(1)}); bare ${name}: ${bare.id})`,
    );
  }
  for (const n of naiveRuns) {
    const g = find('gateway', 'http', n.images, NAIVE_CONCURRENCY);
    ratio(`gateway_vs_naive_${n.images}`, `gateway / naive server, HTTP ${NAIVE_CONCURRENCY} clients, ${n.images}`, g, n.result.throughputPerSec, TARGETS.naiveRatio, ` (${n.id})`);
  }
  const bareOne = transportRuns.find((t) => t.result.protocol === 'grpc' && t.result.concurrency === 1);
  if (bareOne) {
    out.push({
      key: 'bare_grpc_p50_ms',
      label: "the protocol's share of the low-load overhead: bare gRPC call p50, one at a time (canned answer, no model work)",
      value: bareOne.result.latencyMs.p50,
      unit: 'ms',
      detail: `${bareOne.id}`,
    });
  }
  const bareCpu = transportRuns.find((t) => t.result.protocol === 'grpc' && t.result.concurrency !== 1);
  if (bareCpu?.serverCpuMsPerRequest !== undefined) {
    out.push({ key: 'bare_grpc_cpu_ms', label: 'server CPU of a bare gRPC call (canned answer, no model work)', value: bareCpu.serverCpuMsPerRequest, unit: 'ms', detail: bareCpu.id });
  }
  return out;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
