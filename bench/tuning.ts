// `npm run bench:tuning`: how the batching and threading knobs trade latency for throughput on
// this machine, one knob at a time from the shipped configuration (adaptive policy, maxBatchSize
// 32, maxQueueDelayMs 2, one instance, intra-op threads chosen by the gateway). Each
// configuration is a fresh gateway process, warmed up, then measured closed-loop over gRPC at one
// request at a time (latency floor) and at 32 concurrent clients (throughput). The figures feed
// docs/performance.md; bench/results/<date>/tuning.{json,md}.
//   npm run bench:tuning [-- --stage-ms 5000] [--model-dir models/shapes-mobilenetv3] [--out DIR]
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeImageSet } from './lib/images.js';
import { machineInfo } from './lib/machine.js';
import { note } from './lib/progress.js';
import { intraOpThreadsFor } from '../src/models/instances.js';
import { ROOT, startGatewayWith } from './lib/server-process.js';
import { type StageRecord, runStage } from './lib/stage.js';

const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: join(ROOT, 'models', 'shapes-mobilenetv3') },
    'stage-ms': { type: 'string', default: '5000' },
    out: { type: 'string' },
  },
});

interface Config {
  readonly knob: string;
  readonly name: string;
  readonly batching: Record<string, unknown>;
  /** Extra gateway flags (thread settings). */
  readonly args?: readonly string[];
}

const SHIPPED = { policy: 'adaptive', maxBatchSize: 32, maxQueueDelayMs: 2, instances: 1, maxQueueSize: 4096 };

const CORES = availableParallelism();

const CONFIGS: readonly Config[] = [
  { knob: 'shipped', name: `adaptive, maxBatchSize 32, delay 2 ms, 1 instance, ${intraOpThreadsFor(0, 1)} intra-op thread(s) (half the cores), not spinning`, batching: SHIPPED },
  { knob: 'maxBatchSize', name: 'maxBatchSize 1', batching: { ...SHIPPED, maxBatchSize: 1 } },
  { knob: 'maxBatchSize', name: 'maxBatchSize 8', batching: { ...SHIPPED, maxBatchSize: 8 } },
  { knob: 'policy / maxQueueDelayMs', name: 'fixed, delay 0 ms', batching: { ...SHIPPED, policy: 'fixed', maxQueueDelayMs: 0 } },
  { knob: 'policy / maxQueueDelayMs', name: 'fixed, delay 2 ms', batching: { ...SHIPPED, policy: 'fixed', maxQueueDelayMs: 2 } },
  { knob: 'policy / maxQueueDelayMs', name: 'fixed, delay 10 ms', batching: { ...SHIPPED, policy: 'fixed', maxQueueDelayMs: 10 } },
  { knob: 'instances x intra-op threads', name: `1 instance x ${CORES} threads (one per core), not spinning`, batching: SHIPPED, args: ['--intra-op-threads', String(CORES)] },
  { knob: 'instances x intra-op threads', name: `1 instance x ${CORES} threads, spinning (onnxruntime's own defaults)`, batching: SHIPPED, args: ['--intra-op-threads', String(CORES), '--intra-op-spinning', 'true'] },
  { knob: 'instances x intra-op threads', name: '2 instances x 1 thread', batching: { ...SHIPPED, instances: 2 }, args: ['--intra-op-threads', '1'] },
];

interface Row {
  readonly knob: string;
  readonly name: string;
  readonly single: StageRecord;
  readonly loaded: StageRecord;
}

async function main(): Promise<void> {
  const stageMs = Number(values['stage-ms']);
  const modelDir = values['model-dir'];
  const model = modelDir.split('/').at(-1)!;
  const images = await makeImageSet(64, 16, 1);
  const machine = machineInfo();
  const startedAt = new Date();
  note(`bench:tuning: ${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadAverage1m}`);
  const rows: Row[] = [];
  for (const c of CONFIGS) {
    note(`${c.name}`);
    const server = await startGatewayWith(modelDir, c.batching, c.args ?? []);
    try {
      const t = { server, serverName: c.name, hasMetrics: true, model };
      await runStage(t, { protocol: 'grpc', images, load: { mode: 'closed', concurrency: 32 }, durationMs: 2000, warmupMs: 0, isWarmUp: true });
      const single = await runStage(t, { protocol: 'grpc', images, load: { mode: 'closed', concurrency: 1 }, durationMs: stageMs, warmupMs: 300 });
      const loaded = await runStage(t, { protocol: 'grpc', images, load: { mode: 'closed', concurrency: 32 }, durationMs: stageMs, warmupMs: 500 });
      rows.push({ knob: c.knob, name: c.name, single, loaded });
    } finally {
      await server.stop();
    }
  }
  const outDir = values.out ?? join(ROOT, 'bench', 'results', startedAt.toISOString().slice(0, 10));
  await mkdir(outDir, { recursive: true });
  const command = `npm run bench:tuning${stageMs === 5000 ? '' : ` -- --stage-ms ${stageMs}`}`;
  await writeFile(join(outDir, 'tuning.json'), `${JSON.stringify({ command, startedAt, machine, model, rows }, null, 2)}\n`);
  const lines = [
    `# Tuning sweep: ${model}, ${startedAt.toISOString().slice(0, 10)}`,
    '',
    `Command: \`${command}\`; ${machine.cpuModel}, ${machine.cores} cores, load average ${machine.loadAverage1m} at start, ${machineInfo().loadAverage1m} at end. gRPC, 64px images, closed loop, ${stageMs / 1000} s per stage after a warm-up; each configuration a fresh gateway process.`,
    '',
    '| knob | configuration | 1 client: p50 / p99 (ms) | 32 clients: throughput (/s) | 32 clients: p50 / p99 (ms) | mean batch | server CPU (cores) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.knob} | ${r.name} | ${r.single.result.latencyMs.p50.toFixed(2)} / ${r.single.result.latencyMs.p99.toFixed(2)} | ${r.loaded.result.throughputPerSec.toFixed(1)} | ${r.loaded.result.latencyMs.p50.toFixed(1)} / ${r.loaded.result.latencyMs.p99.toFixed(1)} | ${r.loaded.batch?.mean.toFixed(2) ?? '-'} | ${r.loaded.serverCpuCores?.toFixed(2) ?? '-'} |`,
    ),
    '',
  ];
  await writeFile(join(outDir, 'tuning.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
  note(`wrote ${join(outDir, 'tuning.md')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
