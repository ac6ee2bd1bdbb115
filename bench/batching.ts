// Benchmark (not a test): the gateway with batching off (maxBatchSize 1) and on (maxBatchSize 32),
// each started as its own process on the same model, driven by 32 concurrent gRPC clients for a
// fixed number of requests. Prints throughput, p50/p99 latency and the batched/unbatched ratio.
//   npm run bench:batching -- [--model shapes-mobilenetv3] [--requests 3000] [--concurrency 32]
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import sharp from 'sharp';
import { serializeRequest } from './lib/grpc-client.js';
import { H2UnaryCaller } from './lib/h2-grpc.js';
import { processCpuSeconds } from './lib/observe.js';
import { ROOT, startGatewayWith } from './lib/server-process.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'shapes-mobilenetv3' },
    'models-dir': { type: 'string', default: join(ROOT, 'models') },
    requests: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    'max-batch': { type: 'string', default: '32' },
    'queue-delay-ms': { type: 'string', default: '2' },
    policy: { type: 'string', default: 'adaptive' },
  },
});
const model = values.model;
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

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
  const images = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      sharp({ create: { width: 64, height: 64, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 100 + i * 5, sigma: 40 } } })
        .png()
        .toBuffer(),
    ),
  );
  const results: Result[] = [];
  for (const maxBatchSize of [1, Number(values['max-batch'])]) {
    results.push(await runOne(maxBatchSize, images));
  }
  const [off, on] = results as [Result, Result];
  console.log(`\nmodel ${model}, ${requests} requests, ${concurrency} concurrent gRPC clients, CPU`);
  console.log('| batching | throughput (req/s) | p50 (ms) | p99 (ms) | mean batch | gateway CPU ms/request | load generator CPU ms/request |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.label} | ${r.throughput.toFixed(1)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.meanBatch.toFixed(2)} | ${r.gatewayCpuMs.toFixed(2)} | ${r.clientCpuMs.toFixed(2)} |`);
  }
  console.log(`\nbatched/unbatched throughput ratio: ${(on.throughput / off.throughput).toFixed(2)}x; p99 ratio ${(on.p99 / off.p99).toFixed(2)}`);
}

async function runOne(maxBatchSize: number, images: Buffer[]): Promise<Result> {
  const gateway = await startGatewayWith(join(values['models-dir'], model), { maxBatchSize, maxQueueDelayMs: Number(values['queue-delay-ms']), preferredBatchSizes: [], maxQueueSize: 4096, policy: values.policy });
  const { grpcPort, httpPort } = gateway;
  // Requests serialized once and sent through the lean HTTP/2 caller: the load generator shares
  // the machine's cores, and @grpc/grpc-js as a client costs about twice its CPU per call.
  const frames = images.map((image) => H2UnaryCaller.frame(serializeRequest('Classify', { model, image, top_k: 1 })));
  const client = new H2UnaryCaller(`127.0.0.1:${grpcPort}`, '/gateway.v1.InferenceGateway/Classify');
  try {
    await drive(client, frames, Math.min(200, requests)); // warm-up
    const batchesBefore = await batchStats(httpPort);
    const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const cpu0 = { gateway: (await processCpuSeconds(gateway.pid)) ?? NaN, client: process.cpuUsage() };
    const t0 = performance.now();
    await drive(client, frames, requests, (us) => hist.recordValue(us));
    const seconds = (performance.now() - t0) / 1000;
    const gatewayCpuMs = ((((await processCpuSeconds(gateway.pid)) ?? NaN) - cpu0.gateway) * 1000) / requests;
    const clientCpu = process.cpuUsage(cpu0.client);
    const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000 / requests;
    const batchesAfter = await batchStats(httpPort);
    const meanBatch = (batchesAfter.sum - batchesBefore.sum) / Math.max(1, batchesAfter.count - batchesBefore.count);
    const result = { label: `maxBatchSize ${maxBatchSize}`, throughput: requests / seconds, p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99) / 1000, meanBatch, gatewayCpuMs, clientCpuMs };
    console.log(`${result.label}: ${result.throughput.toFixed(1)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, mean batch ${meanBatch.toFixed(2)}, CPU per request: gateway ${gatewayCpuMs.toFixed(2)} ms, load generator ${clientCpuMs.toFixed(2)} ms`);
    return result;
  } finally {
    client.close();
    await gateway.stop();
  }
}

/** Keeps `concurrency` calls in flight until `total` have completed. */
async function drive(client: H2UnaryCaller, frames: Buffer[], total: number, record?: (micros: number) => void): Promise<void> {
  let issued = 0;
  let done = 0;
  let lastReport = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (issued >= total) return;
      const i = issued++;
      const start = performance.now();
      client.call(frames[i % frames.length]!).then((answer) => {
        if (answer.status !== 0) {
          reject(new Error(`call failed: grpc-status ${answer.status} ${answer.message}`));
          return;
        }
        record?.(Math.round((performance.now() - start) * 1000));
        done++;
        if (record && process.stderr.isTTY && done - lastReport >= total / 20) {
          lastReport = done;
          process.stderr.write(`\r  ${done}/${total}`);
        }
        if (done === total) resolve();
        else next();
      }, reject);
    };
    for (let c = 0; c < concurrency; c++) next();
  });
  if (record && process.stderr.isTTY) process.stderr.write('\r');
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
