// The in-process limit as its own process, so it can start on the server's CPUs (pinning.ts) and
// be compared with the gateway on the same hardware. Run by measureLimitsIn() in limit.ts with one
// JSON argument (LimitJob); it rebuilds the seeded images, measures, and prints one JSON line
// (LimitJobResult) on stdout. Progress goes to stderr.
import { readFile } from 'node:fs/promises';
import { configureOrtTelemetry } from '../../src/models/ort-telemetry.js';
import { makeImageSet } from './images.js';
import { type LimitJob, type LimitJobResult, measureLimit, measureSingleLatency } from './limit.js';

// As the gateway does by default: onnxruntime's usage telemetry off before the first session.
configureOrtTelemetry(false);

const job = JSON.parse(process.argv[2] ?? '{}') as LimitJob;
const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
const cpus = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
const result: LimitJobResult = { limits: [], singles: [], pid: process.pid, ...(cpus !== undefined ? { cpus } : {}) };
let held = job.holdUntilGo === true;
for (const set of job.sets) {
  const images = await makeImageSet(set.size, 16, job.seed);
  if (held) {
    // sharp made these images on libuv's pool and libvips's threads: they exist now.
    process.stdout.write('ready\n');
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()).resume());
    process.stdin.pause();
    held = false;
  }
  result.limits.push(await measureLimit(job.modelDir, images, set.batchSizes, job.stageMs, job.provider, job.confirmMs ?? 0));
}
if (job.single && job.sets[0]) {
  const images = await makeImageSet(job.sets[0].size, 16, job.seed);
  for (const threads of job.single.intraOpThreads) result.singles.push(await measureSingleLatency(job.modelDir, images, job.single.iterations, threads, job.provider));
}
process.stdout.write(`${JSON.stringify(result)}\n`);
