// Benchmark (not a test): two gateways side by side, each started once as its own process on the
// same model, driven by 32 concurrent gRPC clients for a fixed number of requests, in --repeats
// rounds (order rotating per round, so drift in the machine's speed favours neither). With >= 2 CPUs
// the gateways run on one half of them and this load generator on the other (lib/pinning.ts).
// Prints throughput, p50/p99 and the gateway's CPU per request per round, the B/A ratios, then the
// median and spread (min-max) of each.
//   A/B by default: batching off (maxBatchSize 1) / on (maxBatchSize 32) of this checkout.
//   --checkouts DIR_A,DIR_B: the gateway of each checkout (its own src/ and node_modules, after
//   `npm ci` there), same model and batching: a before/after comparison of two commits.
//   --queue-delays MS_A,MS_B: this checkout at maxBatchSize --max-batch with two maxQueueDelayMs.
//   --batching-a JSON, --batching-b JSON: more manifest batching fields for A or B (any mode), e.g.
//   --checkouts X,X --batching-b '{"saturatedQueueDelayMs":50}' compares one setting of one build.
//   --env-a JSON, --env-b JSON: environment variables added for A's or B's gateway process, e.g.
//   --env-b '{"LD_PRELOAD":"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}'.
//   npm run bench:batching -- [--model shapes-mobilenetv3] [--requests 3000] [--concurrency 32] [--repeats 3] [--no-pin]
//                             [--checkouts A,B | --queue-delays A,B] [--queue-delay-ms 2] [--policy adaptive] [--size 64]
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import sharp from 'sharp';
import { serializeRequest } from './lib/grpc-client.js';
import { H2UnaryCaller, driveClosedLoop } from './lib/h2-grpc.js';
import { median } from './lib/limit.js';
import { processCpuSeconds } from './lib/observe.js';
import { choosePinning, pinGenerator } from './lib/pinning.js';
import { ROOT, type ServerProcess, startGatewayWith } from './lib/server-process.js';
import { rotated } from './lib/stage.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'shapes-mobilenetv3' },
    'models-dir': { type: 'string', default: join(ROOT, 'models') },
    requests: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    'max-batch': { type: 'string', default: '32' },
    'queue-delay-ms': { type: 'string', default: '2' },
    policy: { type: 'string', default: 'adaptive' },
    repeats: { type: 'string', default: '3' },
    'no-pin': { type: 'boolean', default: false },
    checkouts: { type: 'string' },
    'queue-delays': { type: 'string' },
    'batching-a': { type: 'string' },
    'batching-b': { type: 'string' },
    'env-a': { type: 'string' },
    'env-b': { type: 'string' },
    size: { type: 'string', default: '64' },
  },
});
const model = values.model;
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
/** Side of the square test images, px (the report's 64px and 224px stages). */
const size = Number(values.size);

interface Result {
  label: string;
  throughput: number;
  p50: number;
  p99: number;
  meanBatch: number;
  /** CPU milliseconds per request: the gateway process, and this load generator. */
  gatewayCpuMs: number;
  clientCpuMs: number;
}

async function main(): Promise<void> {
  const choice = choosePinning({ disabled: values['no-pin'] });
  if (choice.pinning) pinGenerator(choice.pinning);
  const pinned = choice.pinning ? `gateways on CPUs ${choice.pinning.serverCpus}, load generator on CPUs ${choice.pinning.generatorCpus} (taskset)` : `not pinned (${'reason' in choice ? choice.reason : ''})`;
  console.log(`bench:batching: ${pinned}; load average ${loadavg()[0]!.toFixed(2)}`);
  const images = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      sharp({ create: { width: size, height: size, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 100 + i * 5, sigma: 40 } } })
        .png()
        .toBuffer(),
    ),
  );
  const repeats = Math.max(1, Number(values.repeats));
  const maxBatch = Number(values['max-batch']);
  const checkouts = values.checkouts?.split(',').map((dir) => resolve(dir));
  if (checkouts && checkouts.length !== 2) throw new Error('--checkouts takes two directories: A,B');
  const delays = values['queue-delays']?.split(',').map(Number);
  if (delays && (delays.length !== 2 || delays.some((d) => !(d >= 0)))) throw new Error('--queue-delays takes two delays in ms: A,B');
  if (checkouts && delays) throw new Error('--checkouts and --queue-delays do not combine');
  const delay = Number(values['queue-delay-ms']);
  const variants: Variant[] = checkouts
    ? checkouts.map((root) => ({ label: `${basename(root)} @ ${commitOf(root)}`, root, maxBatchSize: maxBatch, maxQueueDelayMs: delay }))
    : delays
      ? delays.map((maxQueueDelayMs) => ({ label: `maxQueueDelayMs ${maxQueueDelayMs}`, root: ROOT, maxBatchSize: maxBatch, maxQueueDelayMs }))
      : [1, maxBatch].map((maxBatchSize) => ({ label: `maxBatchSize ${maxBatchSize}`, root: ROOT, maxBatchSize, maxQueueDelayMs: delay }));
  const extra = [values['batching-a'], values['batching-b']].map((json) => (json ? (JSON.parse(json) as Record<string, unknown>) : {}));
  const envs = [values['env-a'], values['env-b']].map((json) => (json ? (JSON.parse(json) as Record<string, string>) : {}));
  variants.forEach((v, i) => {
    if (Object.keys(extra[i]!).length > 0) variants[i] = { ...variants[i]!, label: `${variants[i]!.label} ${JSON.stringify(extra[i])}`, extra: extra[i]! };
    if (Object.keys(envs[i]!).length > 0) variants[i] = { ...variants[i]!, label: `${variants[i]!.label} env ${JSON.stringify(envs[i])}`, env: envs[i]! };
  });
  const gateways = await Promise.all(variants.map((v) => start(v, images)));
  const results = new Map<string, Result[]>(variants.map((v) => [v.label, []]));
  const loads: number[] = [];
  try {
    for (const g of gateways) await driveClosedLoop(g.client, g.frames, Math.min(200, requests), concurrency); // warm-up
    for (let round = 1; round <= repeats; round++) {
      loads.push(Math.round(loadavg()[0]! * 100) / 100);
      for (const g of rotated(gateways, round)) results.get(g.variant.label)!.push(await measure(g, round));
    }
  } finally {
    for (const g of gateways) {
      g.client.close();
      await g.gateway.stop();
    }
  }
  const [a, b] = variants.map((v) => results.get(v.label)!) as [Result[], Result[]];
  const spread = (xs: readonly number[], digits = 2): string => `**${median(xs).toFixed(digits)}** (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
  console.log(`\nmodel ${model}, ${size}px images, ${requests} requests per run, ${concurrency} concurrent gRPC clients, CPU; ${pinned}; load average at each round's start: ${loads.join(', ')}`);
  console.log(`A = ${variants[0]!.label}, B = ${variants[1]!.label}`);
  console.log('| round | gateway | throughput (req/s) | p50 (ms) | p99 (ms) | mean batch | gateway CPU ms/request | load generator CPU ms/request |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (let i = 0; i < repeats; i++) {
    for (const r of [a[i]!, b[i]!]) {
      console.log(`| ${i + 1} | ${r.label} | ${r.throughput.toFixed(1)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.meanBatch.toFixed(2)} | ${r.gatewayCpuMs.toFixed(3)} | ${r.clientCpuMs.toFixed(3)} |`);
    }
  }
  const throughputRatios = b.map((r, i) => r.throughput / a[i]!.throughput);
  const cpuRatios = b.map((r, i) => r.gatewayCpuMs / a[i]!.gatewayCpuMs);
  console.log(`\nmedian (min-max) over ${repeats} rounds:`);
  console.log(`- B/A throughput ratio: ${spread(throughputRatios)}x (rounds: ${throughputRatios.map((r) => r.toFixed(2)).join(', ')})`);
  console.log(`- B/A gateway CPU per request: ${spread(cpuRatios)}x (rounds: ${cpuRatios.map((r) => r.toFixed(2)).join(', ')})`);
  for (const [v, rs] of [[variants[0]!, a], [variants[1]!, b]] as const) {
    console.log(`- ${v.label}: ${spread(rs.map((r) => r.throughput), 1)} req/s, gateway CPU ${spread(rs.map((r) => r.gatewayCpuMs), 3)} ms/request, p50 ${spread(rs.map((r) => r.p50))} ms, mean batch ${spread(rs.map((r) => r.meanBatch))}`);
  }
}

/** One gateway of the comparison: which checkout runs it and its batch size. */
interface Variant {
  readonly label: string;
  readonly root: string;
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  /** More manifest batching fields (--batching-a / --batching-b). */
  readonly extra?: Record<string, unknown>;
  /** More environment variables for its process (--env-a / --env-b). */
  readonly env?: Record<string, string>;
}

function commitOf(root: string): string {
  return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
}

interface Started {
  readonly variant: Variant;
  readonly gateway: ServerProcess;
  readonly client: H2UnaryCaller;
  readonly frames: Buffer[];
}

async function start(variant: Variant, images: Buffer[]): Promise<Started> {
  const batching = { maxBatchSize: variant.maxBatchSize, maxQueueDelayMs: variant.maxQueueDelayMs, preferredBatchSizes: [], maxQueueSize: 4096, policy: values.policy, ...variant.extra };
  const gateway = await startGatewayWith(join(values['models-dir'], model), batching, [], variant.root, variant.env ? { ...process.env, ...variant.env } : undefined);
  // Requests serialized once and sent through the lean HTTP/2 caller: @grpc/grpc-js as a client
  // costs about twice its CPU per call.
  const frames = images.map((image) => H2UnaryCaller.frame(serializeRequest('Classify', { model, image, top_k: 1 })));
  return { variant, gateway, client: new H2UnaryCaller(`127.0.0.1:${gateway.grpcPort!}`, '/gateway.v1.InferenceGateway/Classify'), frames };
}

async function measure(g: Started, round: number): Promise<Result> {
  const { gateway, client, frames } = g;
  const batchesBefore = await batchStats(gateway.httpPort);
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const cpu0 = { gateway: (await processCpuSeconds(gateway.pid)) ?? NaN, client: process.cpuUsage() };
  const t0 = performance.now();
  await driveClosedLoop(client, frames, requests, concurrency, (us) => hist.recordValue(us));
  const seconds = (performance.now() - t0) / 1000;
  const gatewayCpuMs = ((((await processCpuSeconds(gateway.pid)) ?? NaN) - cpu0.gateway) * 1000) / requests;
  const clientCpu = process.cpuUsage(cpu0.client);
  const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000 / requests;
  const batchesAfter = await batchStats(gateway.httpPort);
  const meanBatch = (batchesAfter.sum - batchesBefore.sum) / Math.max(1, batchesAfter.count - batchesBefore.count);
  const result = { label: g.variant.label, throughput: requests / seconds, p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99) / 1000, meanBatch, gatewayCpuMs, clientCpuMs };
  hist.destroy();
  console.log(`round ${round}, ${result.label}: ${result.throughput.toFixed(1)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, mean batch ${meanBatch.toFixed(2)}, CPU per request: gateway ${gatewayCpuMs.toFixed(3)} ms, load generator ${clientCpuMs.toFixed(3)} ms`);
  return result;
}

async function batchStats(httpPort: number): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const read = (name: string): number => text.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
  return { sum: read('gateway_batch_size_sum'), count: read('gateway_batch_size_count') };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
