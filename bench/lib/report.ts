// Writes a `npm run bench` run: report.json (every figure), report.md (tables, ratios, command,
// machine) and SVG charts beside them.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdaptiveScenario } from './adaptive.js';
import { type HeadlineFigure, type HeadlineRound, formatValue } from './headline.js';
import type { LimitPoint, LimitResult, SingleLatency } from './limit.js';
import type { MachineInfo } from './machine.js';
import type { Pinning } from './pinning.js';
import type { StageRecord } from './stage.js';
import { barChart, lineChart } from './svg.js';

/** A headline figure, with its target where the issue sets one. */
export interface Comparison {
  readonly key: string;
  readonly label: string;
  readonly value: number;
  readonly unit: 'ratio' | 'ms';
  readonly target?: string;
  readonly met?: boolean;
  readonly detail: string;
}

export interface BenchReport {
  readonly tool: 'npm run bench';
  readonly command: string;
  readonly mode: 'quick' | 'default' | 'full';
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly wallSeconds: number;
  readonly machine: MachineInfo;
  /** 1-minute load average when the run finished (compare with machine.loadAverage1m). */
  readonly loadAverage1mAtEnd?: number;
  readonly model: string;
  readonly modelDir: string;
  readonly images: readonly { name: string; count: number; width: number; height: number; meanBytes: number; formats: string; seed: number }[];
  readonly plan: Readonly<Record<string, unknown>>;
  readonly executionProvider?: 'cpu' | 'cuda';
  /** Where servers and the load generator ran, or why they were not pinned. */
  readonly pinning?: Pinning | { readonly reason: string };
  /** Figures repeated once per round (median and spread). */
  readonly headline?: readonly HeadlineFigure[];
  readonly rounds?: readonly HeadlineRound[];
  /** Every round's limit search (`round` from 1). */
  readonly limits: readonly (LimitResult & { readonly round?: number })[];
  /** Every round's limit at the batch sizes the gateway formed in that round (absent before 2026-12-01). */
  readonly limitsAtGatewayBatch?: readonly (LimitResult & { readonly round?: number })[];
  readonly singleLatency: SingleLatency;
  readonly stages: readonly StageRecord[];
  readonly comparisons: readonly Comparison[];
  readonly adaptive: AdaptiveScenario;
}

const f1 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(1));
const f2 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(2));
const yesNo = (v: boolean | undefined): string => (v === undefined ? '-' : v ? 'yes' : '**no**');

function errorsText(errors: Readonly<Record<string, number>>): string {
  const entries = Object.entries(errors);
  return entries.length === 0 ? '0' : entries.map(([k, v]) => `${k} ${v}`).join(', ');
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** One row of the limit tables: round, images, layout, batch, images/s (with `mark`), CPU per image. */
function limitRow(l: LimitResult & { readonly round?: number }, p: LimitPoint, mark = ''): string[] {
  return [String(l.round ?? 1), l.images, p.layout, String(p.batchSize), `${f1(p.imagesPerSec)}${mark}`, p.cpuMsPerImage === undefined ? '-' : p.cpuMsPerImage.toFixed(3)];
}

/** Stages whose batch-size distribution is charted: low load, saturation, HTTP, adaptive at the highest load. */
function distributionStages(report: BenchReport): StageRecord[] {
  const withBatch = report.stages.filter((s) => s.batch && s.batch.batches > 0);
  const pick = (pred: (s: StageRecord) => boolean): StageRecord | undefined => withBatch.find(pred);
  const chosen = [
    pick((s) => s.server === 'gateway' && s.result.protocol === 'grpc' && s.result.concurrency === 1),
    pick((s) => s.server === 'gateway' && s.result.protocol === 'grpc' && s.result.concurrency === 32 && s.images === '64px'),
    pick((s) => s.server === 'gateway' && s.result.protocol === 'http' && s.result.concurrency === 32 && s.images === '64px'),
    report.adaptive.levels.at(-1) && withBatch.find((s) => s.id === report.adaptive.levels.at(-1)!.adaptive.stageId),
  ];
  return chosen.filter((s): s is StageRecord => s !== undefined);
}

function charts(report: BenchReport): Record<string, string> {
  const out: Record<string, string> = {};
  const sweep = (protocol: string): StageRecord[] =>
    report.stages
      .filter((s) => s.server === 'gateway' && s.images === '64px' && s.result.mode === 'closed' && s.result.protocol === protocol)
      .sort((a, b) => a.result.concurrency! - b.result.concurrency!);
  const grpc = sweep('grpc');
  const http = sweep('http');
  const limit = report.limits.find((l) => l.images === '64px');
  out['throughput-vs-concurrency.svg'] = lineChart({
    title: `Gateway throughput vs concurrency (${report.model}, 64px images)`,
    xLabel: 'concurrent clients (closed loop)',
    yLabel: 'answers OK per second',
    xLog2: true,
    series: [
      { name: 'gRPC', points: grpc.map((s) => ({ x: s.result.concurrency!, y: s.result.throughputPerSec })) },
      { name: 'HTTP', points: http.map((s) => ({ x: s.result.concurrency!, y: s.result.throughputPerSec })) },
    ],
    ...(limit ? { references: [{ label: `in-process limit ${limit.best.imagesPerSec.toFixed(0)}/s`, y: limit.best.imagesPerSec }] } : {}),
  });
  out['latency-vs-concurrency.svg'] = lineChart({
    title: `Gateway latency vs concurrency (${report.model}, 64px images)`,
    xLabel: 'concurrent clients (closed loop)',
    yLabel: 'latency (ms)',
    xLog2: true,
    series: [
      { name: 'gRPC p50', color: 0, points: grpc.map((s) => ({ x: s.result.concurrency!, y: s.result.latencyMs.p50 })) },
      { name: 'gRPC p99', color: 0, dashed: true, points: grpc.map((s) => ({ x: s.result.concurrency!, y: s.result.latencyMs.p99 })) },
      { name: 'HTTP p50', color: 1, points: http.map((s) => ({ x: s.result.concurrency!, y: s.result.latencyMs.p50 })) },
      { name: 'HTTP p99', color: 1, dashed: true, points: http.map((s) => ({ x: s.result.concurrency!, y: s.result.latencyMs.p99 })) },
    ],
  });
  const a = report.adaptive;
  if (a.levels.length > 0) {
    const pct = (f: number): number => Math.round(f * 100);
    const configs: { name: string; pick: (l: (typeof a.levels)[number]) => { p50Ms: number; p99Ms: number; goodputPerSec: number } | undefined }[] = [
      { name: 'adaptive', pick: (l) => l.adaptive },
      ...a.fixedDelaysMs.map((d) => ({ name: `fixed ${d} ms`, pick: (l: (typeof a.levels)[number]) => l.fixed.find((x) => x.maxQueueDelayMs === d) })),
    ];
    out['latency-vs-load.svg'] = lineChart({
      title: `Latency vs offered load (Poisson, ${a.deadlineMs} ms deadline, gRPC)`,
      xLabel: `offered load (% of capacity ${a.capacityPerSec.toFixed(0)}/s)`,
      yLabel: 'latency of OK answers (ms)',
      series: configs.flatMap((c, i) => [
        { name: `${c.name} p99`, color: i, points: a.levels.map((l) => ({ x: pct(l.loadFraction), y: c.pick(l)?.p99Ms ?? NaN })) },
        { name: `${c.name} p50`, color: i, dashed: true, points: a.levels.map((l) => ({ x: pct(l.loadFraction), y: c.pick(l)?.p50Ms ?? NaN })) },
      ]),
    });
    const categories = a.levels.map((l) => `${pct(l.loadFraction)}% (${l.offeredPerSec.toFixed(0)}/s)`);
    out['adaptive-vs-fixed-p99.svg'] = barChart({
      title: `p99 latency per load level: adaptive vs fixed delay (${a.deadlineMs} ms deadline)`,
      xLabel: 'offered load',
      yLabel: 'p99 of OK answers (ms)',
      categories,
      series: configs.map((c) => ({ name: c.name, values: a.levels.map((l) => c.pick(l)?.p99Ms ?? NaN) })),
    });
    out['adaptive-vs-fixed-goodput.svg'] = barChart({
      title: `Goodput per load level: adaptive vs fixed delay (${a.deadlineMs} ms deadline)`,
      xLabel: 'offered load',
      yLabel: 'OK answers within the deadline per second',
      categories,
      series: configs.map((c) => ({ name: c.name, values: a.levels.map((l) => c.pick(l)?.goodputPerSec ?? NaN) })),
    });
  }
  const dist = distributionStages(report);
  if (dist.length > 0) {
    const buckets = dist[0]!.batch!.distribution.map((d) => d.bucket);
    const used = buckets.filter((b) => dist.some((s) => (s.batch!.distribution.find((d) => d.bucket === b)?.batches ?? 0) > 0));
    out['batch-size-distribution.svg'] = barChart({
      title: 'Batch-size distribution (gateway_batch_size over each stage)',
      xLabel: 'requests per batch (histogram bucket)',
      yLabel: '% of batches',
      categories: used,
      series: dist.map((s) => ({
        name: `${s.result.protocol === 'grpc' ? 'gRPC' : 'HTTP'} ${s.result.mode === 'closed' ? `${s.result.concurrency} clients` : `${s.result.offeredPerSec!.toFixed(0)}/s open`}, mean ${s.batch!.mean.toFixed(1)}`,
        values: used.map((b) => ((s.batch!.distribution.find((d) => d.bucket === b)?.batches ?? 0) / s.batch!.batches) * 100),
      })),
    });
  }
  return out;
}

function markdown(report: BenchReport, chartFiles: readonly string[]): string {
  const m = report.machine;
  // Each stage's server CPU per answer beside the limit's CPU per image for the same images (median of the rounds).
  const limitCpu = new Map<string, number>();
  for (const name of new Set(report.limits.map((l) => l.images))) {
    const values = report.limits.filter((l) => l.images === name).map((l) => l.best.cpuMsPerImage).filter((v) => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
    if (values.length > 0) limitCpu.set(name, values[values.length >> 1]!);
  }
  const cpuCell = (r: StageRecord): string => {
    if (r.serverCpuMsPerRequest === undefined) return '-';
    const lim = limitCpu.get(r.images);
    return `${r.serverCpuMsPerRequest.toFixed(3)}${lim !== undefined ? ` (${(r.serverCpuMsPerRequest / lim).toFixed(2)}x)` : ''}`;
  };
  const lines: string[] = [];
  lines.push(`# Benchmark: ${report.model}, ${report.startedAt.slice(0, 10)}`, '');
  lines.push(`Command: \`${report.command}\` (mode ${report.mode}), started ${report.startedAt}, ${report.wallSeconds.toFixed(0)} s wall.`, '');
  lines.push('## Machine', '');
  lines.push(table(['CPU', 'cores', 'memory', 'load avg (1 min) at start / end', 'OS', 'Node', 'onnxruntime-node', 'sharp (libvips)'], [[m.cpuModel, String(m.cores), `${m.memoryGiB} GiB`, `${m.loadAverage1m} / ${report.loadAverage1mAtEnd ?? '-'}`, m.os, m.node, m.onnxruntimeNode, `${m.sharp} (${m.libvips})`]]));
  lines.push('', `Images: ${report.images.map((i) => `${i.count} x ${i.name} (${i.formats}, mean ${i.meanBytes} bytes, seed ${i.seed})`).join('; ')}.`, '');

  lines.push('The load average at the end includes the benchmark\'s own processes (the gateway\'s session, sharp and gRPC threads); the one at the start shows other work on the machine.', '');
  const pin = report.pinning;
  if (pin && 'serverCpus' in pin) {
    lines.push(`Pinned with \`${pin.tool}\` (util-linux): every server under test and the in-process limit on CPUs ${pin.serverCpus} (${pin.serverCpuCount}), the load generator on CPUs ${pin.generatorCpus} (${pin.generatorCpuCount}). Execution provider: ${report.executionProvider ?? 'cpu'}.`, '');
  } else if (pin) {
    lines.push(`**Not pinned** (${pin.reason}): servers, the limit and the load generator shared every core. Execution provider: ${report.executionProvider ?? 'cpu'}.`, '');
  }
  if (m.loadAverage1m > m.cores * 0.5) {
    lines.push(`**Warning:** the machine had other work when the run started (load average ${m.loadAverage1m} on ${m.cores} cores): the gateway, the load generator and other jobs shared the CPU, so these figures are not reliable. Run again on a quiet machine.`, '');
  }
  if (report.headline && report.rounds) {
    lines.push('## Headline', '');
    lines.push(
      `Each figure measured in ${report.rounds.length} rounds of this run (load average at each round's start: ${report.rounds.map((r) => r.loadAverage1m).join(', ')}); the target applies to the median. ` +
        'A difference smaller than the spread is not a difference.',
      '',
    );
    lines.push(
      table(
        ['figure', 'median', 'spread (min-max)', 'per round', 'target', 'met'],
        report.headline.map((h) => [h.label, `**${formatValue(h.unit, h.median)}**`, `${formatValue(h.unit, h.min)} - ${formatValue(h.unit, h.max)}`, h.values.map((v) => formatValue(h.unit, v)).join(', '), h.target ? `${h.target.op} ${h.unit === 'ratio' ? h.target.value : `${h.target.value} ms`}` : '-', yesNo(h.met)]),
      ),
      '',
    );
    lines.push('How each round\'s value was computed:', '');
    for (const h of report.headline) lines.push(`- ${h.key}: ${h.details.map((d, i) => `r${i + 1} ${d}`).join('; ')}`);
    lines.push('');
  }
  lines.push(report.headline ? '## Measured once' : '## Headline', '');
  lines.push(
    table(
      ['comparison', 'value', 'target', 'met', 'how'],
      report.comparisons.map((c) => [c.label, c.unit === 'ratio' ? `${f2(c.value)}x` : `${c.value.toFixed(3)} ms`, c.target ?? '-', yesNo(c.met), c.detail]),
    ),
  );
  lines.push('');

  const a = report.adaptive;
  lines.push('## Deadline-aware batching: adaptive vs fixed delay', '');
  lines.push(
    `Capacity ${f1(a.capacityPerSec)}/s (closed-loop saturation, \`${a.capacityStage}\`). Open loop, Poisson arrivals (same seeded sequence for every policy), gRPC deadline ${a.deadlineMs} ms counted from each request's scheduled send time, 64px images. ` +
      `Adaptive runs with the shipped maxQueueDelayMs ${a.adaptiveMaxQueueDelayMs}; fixed delays tried: ${a.fixedDelaysMs.length ? a.fixedDelaysMs.map((d) => `${d} ms`).join(', ') : 'none'}. ` +
      'Best fixed per level = highest goodput, then lowest p99 (marked *). Goodput within 1% counts as equal.',
    '',
  );
  if (a.fixedSkipped) lines.push(`Fixed policy not run: ${a.fixedSkipped}.`, '');
  const rows: string[][] = [];
  for (const l of a.levels) {
    const load = `${Math.round(l.loadFraction * 100)}% (${f1(l.offeredPerSec)}/s)`;
    const lag = (id: string): string => f1(report.stages.find((st) => st.id === id)?.result.maxSendLagMs);
    const row = (name: string, x: typeof l.adaptive): string[] => [load, name, f1(x.goodputPerSec), f2(x.p50Ms), f2(x.p99Ms), String(x.deadlineExceeded), String(x.serverShed), String(x.otherErrors), f2(x.meanBatch), lag(x.stageId)];
    rows.push(row('adaptive', l.adaptive));
    for (const fx of l.fixed) rows.push(row(`fixed ${fx.maxQueueDelayMs} ms${fx.maxQueueDelayMs === l.bestFixedDelayMs ? ' *' : ''}`, fx));
  }
  lines.push(table(['load', 'policy', 'goodput (/s)', 'p50 (ms)', 'p99 (ms)', 'DEADLINE_EXCEEDED', 'shed by gateway', 'other errors', 'mean batch', 'max send lag (ms)'], rows), '');
  lines.push('A max send lag that is a sizeable part of the deadline means the load generator itself was starved of CPU: those requests reached the gateway with little of their deadline left, whatever the policy.', '');
  lines.push(
    table(
      ['load', 'best fixed', 'adaptive goodput >= best fixed', 'adaptive p99 lower', 'adaptive better'],
      a.levels.map((l) => [`${Math.round(l.loadFraction * 100)}%`, l.bestFixedDelayMs === undefined ? '-' : `${l.bestFixedDelayMs} ms`, yesNo(l.goodputAtLeastEqual), yesNo(l.lowerP99), yesNo(l.adaptiveBetter)]),
    ),
    '',
  );

  lines.push('## In-process limit', '');
  lines.push('The gateway\'s own preprocessing (sharp decode, resize, normalize) plus onnxruntime session.run in worker threads, the next batch decoded while the current one runs; no network, no queue.', '');
  lines.push(
    table(
      ['round', 'images', 'layout', 'batch', 'images/s', 'CPU per image (ms)'],
      report.limits.flatMap((l) => {
        const chosen = l.selected ?? l.best;
        const searched = l.points.map((p) => limitRow(l, p, p.batchSize === chosen.batchSize && p.layout === chosen.layout ? (l.selected ? ' (best of the search)' : ' (best)') : ''));
        return l.selected ? [...searched, limitRow(l, l.best, ' **measured again: the limit**')] : searched;
      }),
    ),
  );
  if (report.limits.some((l) => l.selected)) {
    lines.push('', "Each search point is a short window; the search's best point is measured again over a stage's window, and that measurement is the limit the headline divides by (a short window is noisy, and slower while onnxruntime and V8 warm up; the best of several noisy points is chosen partly by its noise).");
  }
  if (report.limitsAtGatewayBatch && report.limitsAtGatewayBatch.length > 0) {
    lines.push('', "At the gateway's own batch: after each round's gateway stages, the limit at the mean batch the gateway formed (rounded), over a stage's window.", '');
    lines.push(
      table(
        ['round', 'images', 'layout', 'batch', 'images/s', 'CPU per image (ms)'],
        report.limitsAtGatewayBatch.map((l) => limitRow(l, l.best)),
      ),
    );
  }
  const s = report.singleLatency;
  lines.push('', `Single request in-process (${s.images}, one after another, intra-op threads ${s.intraOpThreads || 'default'}, ${s.iterations} requests): p50 ${s.p50TotalMs.toFixed(3)} ms (preprocess ${s.p50PreprocessMs.toFixed(3)} + run ${s.p50RunMs.toFixed(3)}), mean ${s.meanTotalMs.toFixed(3)} ms.`, '');

  lines.push('## Every stage', '');
  lines.push(
    table(
      ['stage', 'load', 'throughput (/s)', 'goodput (/s)', 'p50', 'p90', 'p99', 'p99.9', 'max (ms)', 'errors', 'mean batch', 'peak RSS, stage / since start (MB)', 'CPU server / generator (cores)', 'server CPU per answer, ms (/ limit per image)', 'max send lag (ms)'],
      report.stages.map((r) => {
        const x = r.result;
        const l = x.latencyMs;
        const load = x.mode === 'closed' ? `closed, ${x.concurrency} clients` : `open ${f1(x.offeredPerSec)}/s, deadline ${x.deadlineMs} ms`;
        return [`\`${r.id}\``, load, f1(x.throughputPerSec), f1(x.goodputPerSec), f2(l.p50), f2(l.p90), f2(l.p99), f2(l.p999), f1(l.max), errorsText(x.errors), r.batch ? f2(r.batch.mean) : '-', `${f1(r.peakRssMb)} / ${f1(r.lifetimePeakRssMb)}`, `${f2(r.serverCpuCores)} / ${f2(r.generatorCpuCores)}`, cpuCell(r), f1(x.maxSendLagMs)];
      }),
    ),
    '',
  );

  const examples = report.stages.flatMap((r) => Object.entries(r.result.errorExamples ?? {}).map(([code, message]) => [`\`${r.id}\``, code, String(r.result.errors[code] ?? 0), message.replace(/\|/g, '\\|').replace(/\n/g, ' ')]));
  if (examples.length > 0) {
    lines.push('## Errors', '', 'The first message of each error code in each stage.', '');
    lines.push(table(['stage', 'code', 'count', 'first message'], examples), '');
  }

  const dist = distributionStages(report);
  if (dist.length > 0) {
    lines.push('## Batch sizes', '', 'Batches per `gateway_batch_size` bucket over each stage (delta of /metrics before and after).', '');
    const buckets = dist[0]!.batch!.distribution.map((d) => d.bucket);
    lines.push(table(['batch size', ...dist.map((d) => `\`${d.id}\``)], buckets.map((b) => [b, ...dist.map((d) => String(d.batch!.distribution.find((x) => x.bucket === b)?.batches ?? 0))])), '');
  }

  lines.push('## Charts', '');
  for (const f of chartFiles) lines.push(`![${f}](${f})`, '');

  lines.push('## Method', '');
  lines.push(
    [
      '- Every server runs as its own child process (`node --import tsx src/main.ts ... --execution-provider <provider>` over a temporary copy of the model folder with the batching edits, or `bench/naive-server.ts`); the load generator runs in the parent. With at least two CPUs and `taskset` (util-linux), servers and the in-process limit start under `taskset -c <server CPUs>` and every thread of the load generator is moved to the other CPUs (`taskset -a -p`); the run checks each process\'s affinity.',
      '- Headline rounds: each round runs the in-process limit (its own process, on the server CPUs, nothing else running there; short windows to find its best layout and batch, then that point again over a stage\'s window, which is the figure used), then the shipped gateway (gRPC, 32 clients, 64px and 224px; one client, 64px) and the same gateway at maxBatchSize 1 (gRPC, 32 clients), both started once and warm, in an order rotating per round. Each headline figure is a per-round value; the table gives the median and the min-max over the rounds.',
      '- Server CPU per request: CPU time of the server process alone (/proc/<pid>/stat, all its threads) between the start and the end of the measured window, divided by the OK answers that arrived in the window. The limit\'s CPU per image: CPU time of the limit\'s process over its measured window divided by the images it processed.',
      '- Closed loop: N callers, each sending its next request when the previous answer arrives; counts requests sent and answered inside the window after a warm-up. Saturation = the best point of the concurrency sweep.',
      '- Open loop: Poisson arrivals from a seeded PRNG at a fixed rate; latency from the *scheduled* send time, so generator lag and queueing are not hidden (coordinated omission); each request waits for its answer. "max send lag" = the latest a request left after its scheduled instant (a large value means the load generator itself fell behind).',
      '- Throughput = OK answers per second; goodput = OK answers within the deadline per second; errors by gRPC status name or `HTTP <status>`. Latency percentiles are of OK answers, from an HDR histogram (3 significant digits).',
      '- Deadline scenario: one gateway process per policy configuration, each warmed up, all started before the first level; each load level runs every configuration back to back in a rotating order, so drift in background load does not favour one of them.',
      '- CPU (cores): CPU time over the stage (warm-up included) divided by its wall time, for the server process (/proc/<pid>/stat) and for the load generator (this process); on a small machine the generator\'s share is CPU the server did not get.',
      '- Mean batch and distribution: delta of the gateway\'s `gateway_batch_size` histogram over the window; peak RSS: VmRSS of the server process sampled every 200 ms during the stage, and its VmHWM (peak since the process started) at the end.',
      '- The naive server preprocesses with the gateway\'s own ImagePreprocessor (same image work per request) and runs one session.run per request on its main thread with onnxruntime\'s default options.',
      '- The transport server (`bench/transport-server.ts`) answers every Classify with a canned response on the gateway\'s own gRPC service definition (@grpc/grpc-js) and on fastify: what the protocols cost with no model work. The "protocol bound" is 1 / (1/limit + 1/bare calls per second): each request costing the in-process work plus one bare call, both measured on the server CPUs.',
    ].join('\n'),
    '',
  );
  return lines.join('\n');
}

/** Writes report.json, report.md and the charts into `outDir`; returns the markdown and the paths. */
export async function writeReport(outDir: string, report: BenchReport): Promise<{ markdown: string; paths: string[] }> {
  const svgs = charts(report);
  const paths: string[] = [];
  for (const [name, svg] of Object.entries(svgs)) {
    const path = join(outDir, name);
    await writeFile(path, svg);
    paths.push(path);
  }
  const md = markdown(report, Object.keys(svgs));
  await writeFile(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(outDir, 'report.md'), md);
  return { markdown: md, paths: [join(outDir, 'report.json'), join(outDir, 'report.md'), ...paths] };
}
