// `npm run bench -- --soak [--soak-minutes N]`: a memory soak. Constant moderate load (open loop,
// Poisson, half the gateway's measured capacity, gRPC, 64px and 224px images alternating) on one
// gateway process for N minutes (default 5); every few seconds samples the gateway's RSS
// (/proc/<pid>/status) and V8 heap used (its /metrics `nodejs_heap_size_used_bytes`, main thread),
// then fits least-squares slopes (MB/min) after a warm-up (one minute, or a fifth of short runs).
// Writes soak.json, soak.md and soak.svg into the results folder.
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type ImageSet, makeImageSet } from './lib/images.js';
import { type LoadResult, closedLoop, openLoop } from './lib/load.js';
import { type MachineInfo, machineInfo } from './lib/machine.js';
import { processMemory, scrapeMetrics, sumOf } from './lib/observe.js';
import { note } from './lib/progress.js';
import { startGatewayWith } from './lib/server-process.js';
import { lineChart } from './lib/svg.js';
import { grpcTarget } from './lib/targets.js';

export interface SoakSample {
  /** Seconds since the load started. */
  readonly t: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
}

export interface SoakReport {
  readonly command: string;
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly model: string;
  readonly minutes: number;
  readonly warmupSeconds: number;
  readonly sampleEverySeconds: number;
  readonly capacityPerSec: number;
  readonly offeredPerSec: number;
  readonly deadlineMs: number;
  readonly load: LoadResult;
  /** Least-squares slopes after the warm-up, MB per minute. */
  readonly rssSlopeMbPerMin: number;
  readonly heapSlopeMbPerMin: number;
  readonly samples: readonly SoakSample[];
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
  }
  return sxx === 0 ? NaN : sxy / sxx;
}

/** Alternates the images of two sets (one set object, so the targets cycle through both). */
function mixed(a: ImageSet, b: ImageSet): ImageSet {
  const images = a.images.flatMap((img, i) => [img, b.images[i % b.images.length]!]);
  const contentTypes = a.contentTypes.flatMap((ct, i) => [ct, b.contentTypes[i % b.contentTypes.length]!]);
  return { name: `${a.name}+${b.name}`, width: b.width, height: b.height, images, contentTypes, meanBytes: (a.meanBytes + b.meanBytes) / 2 };
}

export async function runSoak(options: { modelDir: string; outDir: string; minutes: number; command: string }): Promise<void> {
  const { modelDir, outDir, minutes, command } = options;
  if (!(minutes > 0)) throw new Error('--soak-minutes must be a positive number');
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const model = modelDir.split('/').at(-1)!;
  const images = mixed(await makeImageSet(64, 16, 1), await makeImageSet(224, 16, 1));
  const durationS = minutes * 60;
  const warmupSeconds = Math.min(60, durationS / 5);
  const everySeconds = Math.min(5, Math.max(1, durationS / 60));
  const deadlineMs = 1000;
  const gateway = await startGatewayWith(modelDir, {});
  try {
    const target = grpcTarget(gateway.grpcPort!, model, images);
    note('soak: measuring capacity (closed loop, 32 clients, 3 s)');
    const capacity = await closedLoop({ target, concurrency: 32, durationMs: 3000, warmupMs: 1000, label: 'capacity' });
    const offeredPerSec = capacity.throughputPerSec / 2;
    note(`soak: capacity ${capacity.throughputPerSec.toFixed(1)}/s; ${minutes} min at ${offeredPerSec.toFixed(1)}/s, sampling every ${everySeconds} s`);
    const samples: SoakSample[] = [];
    const t0 = performance.now();
    const sample = async (): Promise<void> => {
      const [mem, metrics] = await Promise.all([processMemory(gateway.pid), scrapeMetrics(gateway.httpPort)]);
      samples.push({ t: (performance.now() - t0) / 1000, rssMb: (mem?.rssBytes ?? NaN) / 2 ** 20, heapUsedMb: sumOf(metrics, 'nodejs_heap_size_used_bytes') / 2 ** 20 });
    };
    await sample();
    const timer = setInterval(() => void sample().catch(() => {}), everySeconds * 1000);
    let load: LoadResult;
    try {
      load = await openLoop({ target, ratePerSec: offeredPerSec, arrivals: 'poisson', seed: 7, durationMs: durationS * 1000, deadlineMs, label: 'soak' });
    } finally {
      clearInterval(timer);
    }
    await sample();
    await target.close();
    const after = samples.filter((s) => s.t >= warmupSeconds);
    const rssSlopeMbPerMin = slope(after.map((s) => ({ x: s.t / 60, y: s.rssMb })));
    const heapSlopeMbPerMin = slope(after.map((s) => ({ x: s.t / 60, y: s.heapUsedMb })));
    const report: SoakReport = {
      command,
      startedAt,
      machine,
      model,
      minutes,
      warmupSeconds,
      sampleEverySeconds: everySeconds,
      capacityPerSec: capacity.throughputPerSec,
      offeredPerSec,
      deadlineMs,
      load,
      rssSlopeMbPerMin,
      heapSlopeMbPerMin,
      samples,
    };
    await writeFile(join(outDir, 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(
      join(outDir, 'soak.svg'),
      lineChart({
        title: `Gateway memory under constant load (${offeredPerSec.toFixed(0)}/s, ${minutes} min)`,
        xLabel: 'time since the load started (s)',
        yLabel: 'MB',
        series: [
          { name: `RSS (${rssSlopeMbPerMin.toFixed(2)} MB/min)`, points: samples.map((s) => ({ x: s.t, y: s.rssMb })) },
          { name: `V8 heap used (${heapSlopeMbPerMin.toFixed(2)} MB/min)`, points: samples.map((s) => ({ x: s.t, y: s.heapUsedMb })) },
        ],
      }),
    );
    const md = soakMarkdown(report);
    await writeFile(join(outDir, 'soak.md'), md);
    process.stdout.write(md);
    note(`\nwrote ${['soak.json', 'soak.md', 'soak.svg'].map((f) => relative(process.cwd(), join(outDir, f))).join(', ')}`);
  } finally {
    await gateway.stop();
  }
}

function soakMarkdown(r: SoakReport): string {
  const first = r.samples[0];
  const last = r.samples.at(-1);
  const l = r.load.latencyMs;
  const errors = Object.entries(r.load.errors).map(([k, v]) => `${k} ${v}`).join(', ') || '0';
  return [
    `# Memory soak: ${r.model}, ${r.startedAt.slice(0, 10)}`,
    '',
    `Command: \`${r.command}\`. Machine: ${r.machine.cpuModel}, ${r.machine.cores} cores, Node ${r.machine.node}, onnxruntime-node ${r.machine.onnxruntimeNode}, load average ${r.machine.loadAverage1m} at start.`,
    '',
    `Load: open loop, Poisson, ${r.offeredPerSec.toFixed(1)}/s (half the measured capacity ${r.capacityPerSec.toFixed(1)}/s), gRPC, 64px and 224px images alternating, deadline ${r.deadlineMs} ms, ${r.minutes} min. ` +
      `Answers: ${r.load.ok} OK (${r.load.throughputPerSec.toFixed(1)}/s), errors ${errors}, p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms, max ${l.max.toFixed(1)} ms.`,
    '',
    `Samples every ${r.sampleEverySeconds} s; slopes are least-squares fits over the samples after the first ${r.warmupSeconds} s.`,
    '',
    '| metric | first sample (MB) | last sample (MB) | slope after warm-up (MB/min) |',
    '|---|---|---|---|',
    `| RSS (VmRSS) | ${first?.rssMb.toFixed(1)} | ${last?.rssMb.toFixed(1)} | ${r.rssSlopeMbPerMin.toFixed(3)} |`,
    `| V8 heap used (nodejs_heap_size_used_bytes) | ${first?.heapUsedMb.toFixed(1)} | ${last?.heapUsedMb.toFixed(1)} | ${r.heapSlopeMbPerMin.toFixed(3)} |`,
    '',
    '![soak.svg](soak.svg)',
    '',
  ].join('\n');
}
