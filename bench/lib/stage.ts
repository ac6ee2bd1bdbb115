// One measured stage against a server process: the load result plus what the server reported
// over the same window (batch sizes and deadline sheds from /metrics deltas) and its peak RSS.
import { performance } from 'node:perf_hooks';
import type { ImageSet } from './images.js';
import { type LoadResult, closedLoop, openLoop } from './load.js';
import { type BatchSizeStats, type PromSample, RssSampler, batchSizeDelta, histogramOf, processCpuSeconds, scrapeMetrics, sumOf } from './observe.js';
import { note } from './progress.js';
import type { ServerProcess } from './server-process.js';
import { type Target, grpcTarget, httpTarget } from './targets.js';

/** A measured stage as it goes into the report. */
export interface StageRecord {
  /** Unique id, e.g. "gateway/grpc/64px/c32". */
  readonly id: string;
  /** Which server configuration, e.g. "gateway", "gateway maxBatchSize 1", "naive". */
  readonly server: string;
  readonly images: string;
  readonly result: LoadResult;
  /** From the gateway's gateway_batch_size histogram (absent for servers without it). */
  readonly batch?: BatchSizeStats;
  /** gateway_shed_requests_total{reason="deadline"} over the window. */
  readonly shedDeadline?: number;
  /** Peak VmRSS of the server process sampled during the stage, MB. */
  readonly peakRssMb?: number;
  /** VmHWM of the server process at the end of the stage: its peak RSS since it started, MB. */
  readonly lifetimePeakRssMb?: number;
  /** CPU used over the whole stage (warm-up included), in cores: server process, and the load generator (this process). */
  readonly serverCpuCores?: number;
  readonly generatorCpuCores: number;
  /**
   * Over the measured window only: the server process's CPU (/proc/<pid>/stat, every thread of it
   * and nothing else) per OK answer that arrived in the window, ms; and the load generator's.
   */
  readonly serverCpuMsPerRequest?: number;
  readonly generatorCpuMsPerRequest?: number;
}

/** Where a stage sends: the server, which protocol, which images, which model. */
export interface StageTarget {
  readonly server: ServerProcess;
  /** Server configuration name for the report. */
  readonly serverName: string;
  /** False for servers without /metrics batch figures (the naive baseline). */
  readonly hasMetrics: boolean;
  readonly model: string;
}

export type StageLoad =
  | { readonly mode: 'closed'; readonly concurrency: number }
  | { readonly mode: 'open'; readonly ratePerSec: number; readonly seed: number; readonly deadlineMs: number };

export interface StageSpec {
  readonly protocol: 'grpc' | 'http';
  readonly images: ImageSet;
  readonly load: StageLoad;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Unrecorded warm-up load: the summary line says so. */
  readonly isWarmUp?: boolean;
  /** Appended to the stage id, e.g. "r2" for the second headline round. */
  readonly tag?: string;
}

function makeTarget(t: StageTarget, spec: StageSpec): Target {
  if (spec.protocol === 'grpc') {
    if (t.server.grpcPort === undefined) throw new Error(`${t.serverName} has no gRPC port`);
    return grpcTarget(t.server.grpcPort, t.model, spec.images);
  }
  const connections = spec.load.mode === 'closed' ? spec.load.concurrency : 256;
  return httpTarget(t.server.httpPort, t.model, spec.images, connections);
}

/**
 * The order configurations run in at load level `level`: rotated by one per level, so drift in
 * the machine's background load does not always land on the same configuration.
 */
export function rotated<T>(items: readonly T[], level: number): T[] {
  return items.map((_, k) => items[(level + k) % items.length]!);
}

export function stageId(t: StageTarget, spec: StageSpec): string {
  const load = spec.load.mode === 'closed' ? `c${spec.load.concurrency}` : `open${Math.round(spec.load.ratePerSec)}`;
  return `${spec.isWarmUp ? 'warm-up ' : ''}${t.serverName}/${spec.protocol}/${spec.images.name}/${load}${spec.tag ? `/${spec.tag}` : ''}`;
}

/** Runs one stage and prints a one-line summary on stderr. */
export async function runStage(t: StageTarget, spec: StageSpec): Promise<StageRecord> {
  const id = stageId(t, spec);
  const target = makeTarget(t, spec);
  const rss = new RssSampler(t.server.pid);
  let before: PromSample[] | undefined;
  type CpuMark = { readonly server: number | undefined; readonly generator: NodeJS.CpuUsage; readonly atMs: number };
  const cpuMark = async (): Promise<CpuMark> => ({ server: await processCpuSeconds(t.server.pid), generator: process.cpuUsage(), atMs: performance.now() });
  let windowStart: CpuMark | undefined;
  let windowEnd: CpuMark | undefined;
  const onWindowStart = async (): Promise<void> => {
    if (t.hasMetrics) before = await scrapeMetrics(t.server.httpPort);
    windowStart = await cpuMark();
  };
  const onWindowEnd = async (): Promise<void> => {
    windowEnd = await cpuMark();
  };
  const cpu0 = { server: await processCpuSeconds(t.server.pid), generator: process.cpuUsage(), wallMs: performance.now() };
  let result: LoadResult;
  try {
    const common = { target, durationMs: spec.durationMs, warmupMs: spec.warmupMs, label: id, onWindowStart, onWindowEnd };
    result =
      spec.load.mode === 'closed'
        ? await closedLoop({ ...common, concurrency: spec.load.concurrency })
        : await openLoop({ ...common, ratePerSec: spec.load.ratePerSec, arrivals: 'poisson', seed: spec.load.seed, deadlineMs: spec.load.deadlineMs });
  } finally {
    await target.close();
  }
  const wallS = (performance.now() - cpu0.wallMs) / 1000;
  const generator = process.cpuUsage(cpu0.generator);
  const serverCpu = await processCpuSeconds(t.server.pid);
  const after = t.hasMetrics ? await scrapeMetrics(t.server.httpPort) : undefined;
  const { peakRssMb, lifetimePeakRssMb } = await rss.stop();
  // CPU per answer from the two marks' own times, so a late timer does not skew it.
  let perRequest: { serverCpuMsPerRequest?: number; generatorCpuMsPerRequest?: number } = {};
  if (windowStart && windowEnd && result.answeredInWindow > 0) {
    const answersPerSec = result.answeredInWindow / result.durationS;
    const markS = (windowEnd.atMs - windowStart.atMs) / 1000;
    const generatorS = (windowEnd.generator.user + windowEnd.generator.system - windowStart.generator.user - windowStart.generator.system) / 1e6;
    perRequest = { generatorCpuMsPerRequest: ((generatorS / markS) * 1000) / answersPerSec };
    if (windowStart.server !== undefined && windowEnd.server !== undefined) perRequest.serverCpuMsPerRequest = (((windowEnd.server - windowStart.server) / markS) * 1000) / answersPerSec;
  }
  const record: StageRecord = {
    id,
    server: t.serverName,
    images: spec.images.name,
    result,
    ...(before && after
      ? {
          batch: batchSizeDelta(histogramOf(before, 'gateway_batch_size'), histogramOf(after, 'gateway_batch_size')),
          shedDeadline: sumOf(after, 'gateway_shed_requests_total', { reason: 'deadline' }) - sumOf(before, 'gateway_shed_requests_total', { reason: 'deadline' }),
        }
      : {}),
    ...(peakRssMb !== undefined ? { peakRssMb } : {}),
    ...(lifetimePeakRssMb !== undefined ? { lifetimePeakRssMb } : {}),
    ...(serverCpu !== undefined && cpu0.server !== undefined ? { serverCpuCores: (serverCpu - cpu0.server) / wallS } : {}),
    generatorCpuCores: (generator.user + generator.system) / 1e6 / wallS,
    ...perRequest,
  };
  note(describe(record));
  for (const [code, message] of Object.entries(result.errorExamples)) if (code !== 'DEADLINE_EXCEEDED') note(`    ${code}: ${message}`);
  return record;
}

/** One line: throughput, goodput, latency, errors, batch, RSS. */
export function describe(r: StageRecord): string {
  const l = r.result.latencyMs;
  const errors = Object.entries(r.result.errors)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return (
    `  ${r.id}: ${r.result.throughputPerSec.toFixed(1)}/s ok` +
    (r.result.deadlineMs !== undefined ? `, goodput ${r.result.goodputPerSec.toFixed(1)}/s` : '') +
    `, p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} max ${l.max.toFixed(1)} ms` +
    (errors ? `, errors: ${errors}` : '') +
    (r.batch ? `, mean batch ${r.batch.mean.toFixed(2)}` : '') +
    (r.peakRssMb !== undefined ? `, RSS ${r.peakRssMb.toFixed(0)} MB` : '') +
    `, CPU ${r.serverCpuCores !== undefined ? `server ${r.serverCpuCores.toFixed(2)} + ` : ''}generator ${r.generatorCpuCores.toFixed(2)} cores` +
    (r.serverCpuMsPerRequest !== undefined ? `, server CPU ${r.serverCpuMsPerRequest.toFixed(3)} ms/request` : '')
  );
}
