// Benchmark (not a test): the deadline scenario of `npm run bench` on its own, quicker to repeat.
// One warm gateway per policy configuration, all started up front; capacity measured with 64
// closed-loop gRPC clients on the first one (or given); then open-loop Poisson arrivals at each
// load fraction with a 100 ms deadline, every configuration back to back per level in a rotating
// order. With --sample, each stage also prints the gateway's state every 500 ms: CPU, requests
// waiting to decode, decoding, queued, and the shed count (where a standing queue forms).
//   npm run bench:deadline -- [--configs adaptive,fixed2,fixed5] [--levels 0.5,0.8,0.95]
//                             [--capacity N] [--duration-ms 6000] [--deadline-ms 100] [--sample]
//                             [--rounds N]
// With --rounds N every level is run N times (each round rotates the order again and draws a new
// arrival sequence, the same for every configuration within a round), and a summary gives each
// configuration's median goodput and p99 per level over the rounds: on a host whose stalls land on
// whichever configuration is running, one round cannot rank them.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { makeImageSet } from './lib/images.js';
import { median } from './lib/limit.js';
import { processCpuSeconds, scrapeMetrics, sumOf } from './lib/observe.js';
import { ROOT, startGatewayWith } from './lib/server-process.js';
import { type StageTarget, rotated, runStage } from './lib/stage.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'shapes-mobilenetv3' },
    configs: { type: 'string', default: 'adaptive,fixed0,fixed2,fixed5' },
    levels: { type: 'string', default: '0.5,0.8,0.95' },
    capacity: { type: 'string' },
    'duration-ms': { type: 'string', default: '6000' },
    'deadline-ms': { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    sample: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
  },
});
const model = values.model;
const durationMs = Number(values['duration-ms']);
const deadlineMs = Number(values['deadline-ms']);
const seed = Number(values.seed);

/** `adaptive`, `adaptive<max delay ms>` or `fixed<delay ms>` as a manifest batching patch. */
function batchingOf(config: string): Record<string, unknown> {
  if (config === 'adaptive') return { policy: 'adaptive' };
  const match = /^(fixed|adaptive)(\d+(?:\.\d+)?)$/.exec(config);
  if (!match) throw new Error(`unknown configuration "${config}": adaptive, adaptive<ms> (its maxQueueDelayMs) or fixed<ms>, e.g. fixed2`);
  return { policy: match[1], maxQueueDelayMs: Number(match[2]) };
}

async function sampleWhile(t: StageTarget, running: Promise<unknown>): Promise<void> {
  let done = false;
  void running.finally(() => (done = true));
  let lastCpu = (await processCpuSeconds(t.server.pid)) ?? NaN;
  let lastMs = performance.now();
  while (!done) {
    await new Promise((r) => setTimeout(r, 500));
    const m = await scrapeMetrics(t.server.httpPort);
    const cpu = (await processCpuSeconds(t.server.pid)) ?? NaN;
    const nowMs = performance.now();
    const labels = { model };
    console.log(
      `    ${t.serverName}: cpu ${((cpu - lastCpu) / ((nowMs - lastMs) / 1000)).toFixed(2)} cores, waiting to decode ${sumOf(m, 'gateway_preprocessing_requests', { ...labels, state: 'waiting' })}, decoding ${sumOf(m, 'gateway_preprocessing_requests', { ...labels, state: 'decoding' })}, queued ${sumOf(m, 'gateway_queue_length', labels)}, shed ${sumOf(m, 'gateway_shed_requests_total', labels)}`,
    );
    lastCpu = cpu;
    lastMs = nowMs;
  }
}

async function main(): Promise<void> {
  const modelDir = join(ROOT, 'models', model);
  const images = await makeImageSet(64, 16, seed);
  const configs = values.configs.split(',').map((c) => c.trim());
  const levels = values.levels.split(',').map(Number);
  const servers: StageTarget[] = [];
  try {
    for (const c of configs) {
      const server = await startGatewayWith(modelDir, batchingOf(c));
      servers.push({ server, serverName: c, hasMetrics: true, model });
      await runStage(servers.at(-1)!, { protocol: 'grpc', images, load: { mode: 'closed', concurrency: 32 }, durationMs: 3000, warmupMs: 0, isWarmUp: true });
    }
    let capacity = Number(values.capacity ?? NaN);
    if (!(capacity > 0)) {
      const r = await runStage(servers[0]!, { protocol: 'grpc', images, load: { mode: 'closed', concurrency: 64 }, durationMs: 4000, warmupMs: 500 });
      capacity = r.result.throughputPerSec;
      console.log(`capacity ${capacity.toFixed(1)}/s (64 closed-loop gRPC clients on ${servers[0]!.serverName}, mean batch ${r.batch?.mean.toFixed(2)})`);
    }
    const rounds = Math.max(1, Number(values.rounds));
    /** level index -> config name -> one record per round */
    const results = levels.map(() => new Map<string, { goodput: number; p99: number }[]>(configs.map((c) => [c, []])));
    console.log(`| round | load | config | goodput (/s) | p50 (ms) | p99 (ms) | DEADLINE_EXCEEDED | other errors | shed by gateway | mean batch | server CPU (cores) |`);
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (let round = 0; round < rounds; round++) {
      for (const [i, level] of levels.entries()) {
        for (const t of rotated(servers, i + round)) {
          const stage = runStage(t, { protocol: 'grpc', images, load: { mode: 'open', ratePerSec: level * capacity, seed: seed * 1000 + round * 100 + i, deadlineMs }, durationMs, warmupMs: 1000 });
          if (values.sample) await sampleWhile(t, stage);
          const r = await stage;
          const de = r.result.errors['DEADLINE_EXCEEDED'] ?? 0;
          const other = Object.values(r.result.errors).reduce((s, v) => s + v, 0) - de;
          results[i]!.get(t.serverName)!.push({ goodput: r.result.goodputPerSec, p99: r.result.latencyMs.p99 });
          console.log(
            `| ${round + 1} | ${(level * 100).toFixed(0)}% (${(level * capacity).toFixed(1)}/s) | ${t.serverName} | ${r.result.goodputPerSec.toFixed(1)} | ${r.result.latencyMs.p50.toFixed(1)} | ${r.result.latencyMs.p99.toFixed(1)} | ${de} | ${other} | ${r.shedDeadline ?? 0} | ${r.batch?.mean.toFixed(2) ?? '-'} | ${r.serverCpuCores?.toFixed(2) ?? '-'} |`,
          );
        }
      }
    }
    if (rounds > 1) {
      console.log(`\nmedians over ${rounds} rounds (goodput /s, p99 ms)\n`);
      console.log(`| load | ${configs.join(' | ')} |`);
      console.log(`|---|${configs.map(() => '---|').join('')}`);
      for (const [i, level] of levels.entries()) {
        const cells = configs.map((c) => {
          const runs = results[i]!.get(c)!;
          return `${median(runs.map((r) => r.goodput)).toFixed(1)}, ${median(runs.map((r) => r.p99)).toFixed(1)}`;
        });
        console.log(`| ${(level * 100).toFixed(0)}% | ${cells.join(' | ')} |`);
      }
    }
  } finally {
    await Promise.all(servers.map((t) => t.server.stop()));
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
