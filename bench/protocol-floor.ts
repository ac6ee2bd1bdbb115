// Benchmark (not a test): what the gRPC protocol alone costs the server per unary call, @grpc/grpc-js
// against a bare node:http2 stream handler with the same codecs and framing (both in
// bench/transport-server.ts, canned answers, no model work). The difference bounds what a lean unary
// path in the gateway could save per request. One server process, its two listeners driven in
// alternating rounds by the same lean HTTP/2 client at the same concurrency; server pinned to one
// half of the CPUs and this load generator to the other, as in `npm run bench`.
//   npm run bench:protocol-floor -- [--requests 20000] [--concurrency 32] [--repeats 5] [--size 64]
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { serializeRequest } from './lib/grpc-client.js';
import { H2UnaryCaller, driveClosedLoop } from './lib/h2-grpc.js';
import { makeImageSet } from './lib/images.js';
import { median } from './lib/limit.js';
import { processCpuSeconds } from './lib/observe.js';
import { choosePinning, pinGenerator } from './lib/pinning.js';
import { startServer } from './lib/server-process.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    repeats: { type: 'string', default: '5' },
    size: { type: 'string', default: '64' },
    'no-pin': { type: 'boolean', default: false },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

interface Round {
  readonly perSec: number;
  /** Server CPU per call, µs. */
  readonly cpuUs: number;
}

async function main(): Promise<void> {
  const choice = choosePinning({ disabled: values['no-pin'] });
  if (choice.pinning) pinGenerator(choice.pinning);
  const pinned = choice.pinning ? `server on CPUs ${choice.pinning.serverCpus}, load generator on CPUs ${choice.pinning.generatorCpus}` : `not pinned (${'reason' in choice ? choice.reason : ''})`;
  const images = await makeImageSet(Number(values.size), 16, 1);
  const frames = images.images.map((image) => H2UnaryCaller.frame(serializeRequest('Classify', { model: 'shapes-mobilenetv3', image, top_k: 1 })));
  const server = await startServer('bench/transport-server.ts', []);
  const path = '/gateway.v1.InferenceGateway/Classify';
  const targets = [
    { label: '@grpc/grpc-js', client: new H2UnaryCaller(`127.0.0.1:${server.grpcPort!}`, path), rounds: [] as Round[] },
    { label: 'bare node:http2', client: new H2UnaryCaller(`127.0.0.1:${server.rawH2Port!}`, path), rounds: [] as Round[] },
  ];
  const loads: number[] = [];
  try {
    for (const t of targets) await driveClosedLoop(t.client, frames, Math.min(2000, requests), concurrency); // warm-up
    const repeats = Math.max(1, Number(values.repeats));
    for (let round = 0; round < repeats; round++) {
      loads.push(Math.round(loadavg()[0]! * 100) / 100);
      for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
        const cpu0 = (await processCpuSeconds(server.pid)) ?? NaN;
        const t0 = performance.now();
        await driveClosedLoop(t.client, frames, requests, concurrency);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = ((await processCpuSeconds(server.pid)) ?? NaN) - cpu0;
        t.rounds.push({ perSec: requests / seconds, cpuUs: (cpu * 1e6) / requests });
      }
    }
  } finally {
    for (const t of targets) t.client.close();
    await server.stop();
  }
  const spread = (xs: readonly number[], digits: number): string => `**${median(xs).toFixed(digits)}** (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
  console.log(`protocol floor: Classify with a canned answer, ${values.size}px requests (mean ${Math.round(frames.reduce((s, f) => s + f.length, 0) / frames.length)} bytes), ${requests} calls per round, ${concurrency} concurrent; ${pinned}; load average at each round's start: ${loads.join(', ')}`);
  console.log('| server | server CPU per call (µs) | calls/s |');
  console.log('|---|---|---|');
  for (const t of targets) console.log(`| ${t.label} | ${spread(t.rounds.map((r) => r.cpuUs), 1)} | ${spread(t.rounds.map((r) => r.perSec), 0)} |`);
  const [a, b] = targets as [(typeof targets)[0], (typeof targets)[0]];
  const ratios = b.rounds.map((r, i) => r.cpuUs / a.rounds[i]!.cpuUs);
  console.log(`\nbare node:http2 / grpc-js server CPU per call: ${spread(ratios, 2)}x (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
