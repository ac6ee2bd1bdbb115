// Benchmark (not a test): the gateway with batching off (maxBatchSize 1) and on (maxBatchSize 32),
// each started as its own process on the same model, driven by 32 concurrent gRPC clients for a
// fixed number of requests. Prints throughput, p50/p99 latency and the batched/unbatched ratio.
//   npm run bench:batching -- [--model shapes-mobilenetv3] [--requests 3000] [--concurrency 32]
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import sharp from 'sharp';
import { GatewayClient } from '../test/helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'shapes-mobilenetv3' },
    'models-dir': { type: 'string', default: join(ROOT, 'models') },
    requests: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    'max-batch': { type: 'string', default: '32' },
    'queue-delay-ms': { type: 'string', default: '2' },
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
  console.log('| batching | throughput (req/s) | p50 (ms) | p99 (ms) | mean batch |');
  console.log('|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.label} | ${r.throughput.toFixed(1)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.meanBatch.toFixed(2)} |`);
  console.log(`\nbatched/unbatched throughput ratio: ${(on.throughput / off.throughput).toFixed(2)}x; p99 ratio ${(on.p99 / off.p99).toFixed(2)}`);
}

async function runOne(maxBatchSize: number, images: Buffer[]): Promise<Result> {
  const root = await mkdtemp(join(tmpdir(), 'bench-models-'));
  await cp(join(values['models-dir'], model), join(root, model), { recursive: true });
  const manifestPath = join(root, model, 'model.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { batching?: Record<string, unknown> };
  manifest.batching = { ...manifest.batching, maxBatchSize, maxQueueDelayMs: Number(values['queue-delay-ms']), preferredBatchSizes: [], maxQueueSize: 4096 };
  await writeFile(manifestPath, JSON.stringify(manifest));
  const { child, grpcPort, httpPort } = await startGateway(root);
  const client = new GatewayClient(`127.0.0.1:${grpcPort}`);
  try {
    await drive(client, images, Math.min(200, requests)); // warm-up
    const batchesBefore = await batchStats(httpPort);
    const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const t0 = performance.now();
    await drive(client, images, requests, (us) => hist.recordValue(us));
    const seconds = (performance.now() - t0) / 1000;
    const batchesAfter = await batchStats(httpPort);
    const meanBatch = (batchesAfter.sum - batchesBefore.sum) / Math.max(1, batchesAfter.count - batchesBefore.count);
    const result = { label: `maxBatchSize ${maxBatchSize}`, throughput: requests / seconds, p50: hist.getValueAtPercentile(50) / 1000, p99: hist.getValueAtPercentile(99) / 1000, meanBatch };
    console.log(`${result.label}: ${result.throughput.toFixed(1)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, mean batch ${meanBatch.toFixed(2)}`);
    return result;
  } finally {
    client.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(root, { recursive: true, force: true });
  }
}

/** Keeps `concurrency` calls in flight until `total` have completed. */
async function drive(client: GatewayClient, images: Buffer[], total: number, record?: (micros: number) => void): Promise<void> {
  let issued = 0;
  let done = 0;
  let lastReport = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (issued >= total) return;
      const i = issued++;
      const start = performance.now();
      client.classify({ model, image: images[i % images.length]!, top_k: 1 }).then(() => {
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

async function startGateway(modelsDir: string): Promise<{ child: ChildProcess; grpcPort: number; httpPort: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/main.ts'), '--grpc-port', '0', '--http-port', '0', '--models-dir', modelsDir, '--execution-provider', 'cpu'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let ports: { grpcPort: number; httpPort: number } | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const log = JSON.parse(line) as { msg: string; grpcPort?: number; httpPort?: number; unavailable?: string[] };
    if (log.msg === 'gateway listening') ports = { grpcPort: log.grpcPort!, httpPort: log.httpPort! };
    if (log.msg === 'gateway ready') {
      if (log.unavailable?.length) throw new Error(`model unavailable: ${log.unavailable.join(', ')}`);
      break;
    }
  }
  if (!ports) throw new Error('gateway did not start');
  child.stdout.resume();
  return { child, ...ports };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
