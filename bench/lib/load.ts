// The load generator. Closed loop: `concurrency` callers, each sending its next request when the
// previous answer arrives (throughput at a fixed number in flight). Open loop: requests arrive at
// a fixed rate whatever the server does (uniform or Poisson inter-arrivals from a seeded PRNG), and
// each latency counts from the request's *scheduled* send time, so a generator or server that
// falls behind shows up in the latency instead of being hidden (coordinated omission).
// Latencies are recorded in HDR histograms (microseconds, 3 significant digits), answers OK only.
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import seedrandom from 'seedrandom';
import { ProgressBar } from './progress.js';
import type { Outcome, Target } from './targets.js';

/** Latency summary of OK answers, ms. */
export interface LatencySummary {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/** Figures of one measured stage. */
export interface LoadResult {
  readonly mode: 'closed' | 'open';
  readonly protocol: 'grpc' | 'http';
  /** Closed loop: callers in flight. */
  readonly concurrency?: number;
  /** Open loop: offered arrivals per second. */
  readonly offeredPerSec?: number;
  readonly arrivals?: 'uniform' | 'poisson';
  /** Per-request deadline, ms (undefined = none). */
  readonly deadlineMs?: number;
  /** Length of the measured window, s. */
  readonly durationS: number;
  /** Requests sent in the measured window. */
  readonly sent: number;
  readonly ok: number;
  /** OK answers that arrived within the deadline (all OK answers when there is none). */
  readonly okWithinDeadline: number;
  /** Failed answers by code (gRPC status name, "HTTP <status>", transport error). */
  readonly errors: Readonly<Record<string, number>>;
  /** The first error message seen for each code. */
  readonly errorExamples: Readonly<Record<string, string>>;
  /** OK answers that arrived inside the measured window, whenever sent (what the server's CPU over the window paid for). */
  readonly answeredInWindow: number;
  /** OK answers per second. */
  readonly throughputPerSec: number;
  /** OK answers within the deadline per second. */
  readonly goodputPerSec: number;
  readonly latencyMs: LatencySummary;
  /** Open loop: the latest a request went out after its scheduled time, ms (generator lag). */
  readonly maxSendLagMs?: number;
}

interface Recorder {
  readonly hist: hdr.Histogram;
  ok: number;
  okWithinDeadline: number;
  sent: number;
  answeredInWindow: number;
  readonly errors: Record<string, number>;
  readonly errorExamples: Record<string, string>;
}

function newRecorder(): Recorder {
  return {
    hist: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 }),
    ok: 0,
    okWithinDeadline: 0,
    sent: 0,
    answeredInWindow: 0,
    errors: {},
    errorExamples: {},
  };
}

function record(rec: Recorder, outcome: Outcome, latencyMs: number, deadlineMs: number | undefined): void {
  if (outcome.ok) {
    rec.ok++;
    rec.hist.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
    if (deadlineMs === undefined || latencyMs <= deadlineMs) rec.okWithinDeadline++;
  } else {
    rec.errors[outcome.code] = (rec.errors[outcome.code] ?? 0) + 1;
    if (outcome.message !== undefined && !(outcome.code in rec.errorExamples)) rec.errorExamples[outcome.code] = outcome.message;
  }
}

function summarize(rec: Recorder): LatencySummary {
  const at = (p: number): number => (rec.ok > 0 ? rec.hist.getValueAtPercentile(p) / 1000 : NaN);
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: rec.ok > 0 ? rec.hist.maxValue / 1000 : NaN, mean: rec.ok > 0 ? rec.hist.mean / 1000 : NaN };
}

function finish(rec: Recorder, base: Pick<LoadResult, 'mode' | 'protocol' | 'concurrency' | 'offeredPerSec' | 'arrivals' | 'deadlineMs' | 'maxSendLagMs'>, durationS: number): LoadResult {
  const result: LoadResult = {
    ...base,
    durationS,
    sent: rec.sent,
    ok: rec.ok,
    okWithinDeadline: rec.okWithinDeadline,
    answeredInWindow: rec.answeredInWindow,
    errors: { ...rec.errors },
    errorExamples: { ...rec.errorExamples },
    throughputPerSec: rec.ok / durationS,
    goodputPerSec: rec.okWithinDeadline / durationS,
    latencyMs: summarize(rec),
  };
  rec.hist.destroy();
  return result;
}

export interface StageOptions {
  readonly target: Target;
  /** Measured window, ms. */
  readonly durationMs: number;
  /** Load before the window that is not recorded, ms. */
  readonly warmupMs?: number;
  /** Per-request deadline, ms: sent to the server and enforced by the client. */
  readonly deadlineMs?: number;
  /** Shown on the progress bar. */
  readonly label?: string;
  /** Called once the warm-up ended, before the measured window (e.g. to snapshot /metrics). */
  readonly onWindowStart?: () => Promise<void>;
  /** Called when the measured window ends (answers still in flight are not waited for). */
  readonly onWindowEnd?: () => Promise<void>;
}

/** Runs `hook` at `atMs` (performance.now() clock); the promise settles when it has run. */
function at(atMs: number, hook: (() => Promise<void>) | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    setTimeout(() => void (hook?.() ?? Promise.resolve()).then(resolve, reject), Math.max(0, atMs - performance.now()));
  });
}

/**
 * Closed loop: `concurrency` callers, each sending the next request as soon as its previous one
 * is answered, for warm-up + duration. Counts answers whose request was sent and answered inside
 * the measured window; latency from send to answer.
 */
export async function closedLoop(options: StageOptions & { readonly concurrency: number }): Promise<LoadResult> {
  const { target, concurrency, durationMs, deadlineMs } = options;
  const warmupMs = options.warmupMs ?? 0;
  const rec = newRecorder();
  const bar = new ProgressBar(options.label ?? `closed loop c=${concurrency}`);
  const startMs = performance.now();
  let windowStartMs = startMs + warmupMs;
  let windowEndMs = windowStartMs + durationMs;
  let seq = 0;
  let inWindow = warmupMs === 0;
  const caller = async (): Promise<void> => {
    while (performance.now() < windowEndMs) {
      const sentMs = performance.now();
      const counted = inWindow;
      const outcome = await target.send(seq++, deadlineMs === undefined ? undefined : Date.now() + deadlineMs);
      const doneMs = performance.now();
      if (outcome.ok && inWindow && doneMs <= windowEndMs) rec.answeredInWindow++;
      if (counted && doneMs <= windowEndMs) {
        rec.sent++;
        record(rec, outcome, doneMs - sentMs, deadlineMs);
      }
      bar.update((doneMs - startMs) / (warmupMs + durationMs), `${rec.ok} ok`);
    }
  };
  if (warmupMs === 0) {
    await options.onWindowStart?.();
    windowStartMs = performance.now();
    windowEndMs = windowStartMs + durationMs;
  }
  const callers = Array.from({ length: concurrency }, () => caller());
  if (warmupMs > 0) {
    await sleep(warmupMs);
    // The window starts only after the snapshot, so it measures what the snapshot covers.
    await options.onWindowStart?.();
    windowStartMs = performance.now();
    windowEndMs = windowStartMs + durationMs;
    inWindow = true;
  }
  const windowEnd = at(windowEndMs, options.onWindowEnd);
  await Promise.all(callers);
  await windowEnd;
  bar.done();
  return finish(rec, { mode: 'closed', protocol: target.protocol, concurrency, deadlineMs }, (windowEndMs - windowStartMs) / 1000);
}

/**
 * Open loop: arrivals at `ratePerSec` (uniform spacing or Poisson), sent whatever the number in
 * flight, for warm-up + duration. Requests scheduled in the measured window are recorded, latency
 * from the scheduled instant; the deadline also counts from it. Waits for every answer.
 */
export async function openLoop(options: StageOptions & { readonly ratePerSec: number; readonly arrivals?: 'uniform' | 'poisson'; readonly seed?: number }): Promise<LoadResult> {
  const { target, ratePerSec, durationMs, deadlineMs } = options;
  const warmupMs = options.warmupMs ?? 0;
  const arrivals = options.arrivals ?? 'poisson';
  const random = seedrandom(String(options.seed ?? 1));
  const gapMs = (): number => (arrivals === 'poisson' ? (-Math.log(1 - random()) * 1000) / ratePerSec : 1000 / ratePerSec);
  const rec = newRecorder();
  const bar = new ProgressBar(options.label ?? `open loop ${ratePerSec.toFixed(0)}/s`);
  const startMs = performance.now();
  const windowStartMs = startMs + warmupMs;
  const endMs = windowStartMs + durationMs;
  let snapshotTaken = warmupMs === 0;
  if (snapshotTaken) await options.onWindowStart?.();
  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  let nextMs = startMs + gapMs();
  let maxLagMs = 0;
  const windowEnd = at(endMs, options.onWindowEnd);

  const fire = (scheduledMs: number): void => {
    const counted = scheduledMs >= windowStartMs;
    const lagMs = performance.now() - scheduledMs;
    if (counted) {
      rec.sent++;
      if (lagMs > maxLagMs) maxLagMs = lagMs;
    }
    // Deadline measured from the scheduled instant, converted to the wall clock gRPC uses.
    const deadlineEpochMs = deadlineMs === undefined ? undefined : Date.now() - lagMs + deadlineMs;
    const p = target.send(seq++, deadlineEpochMs).then((outcome) => {
      const doneMs = performance.now();
      if (outcome.ok && doneMs >= windowStartMs && doneMs <= endMs) rec.answeredInWindow++;
      if (counted) record(rec, outcome, doneMs - scheduledMs, deadlineMs);
      inFlight.delete(p);
    });
    inFlight.add(p);
  };

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (nextMs <= now && nextMs < endMs) {
        fire(nextMs);
        nextMs += gapMs();
      }
      bar.update((now - startMs) / (warmupMs + durationMs), `${rec.ok} ok, ${inFlight.size} in flight`);
      if (nextMs >= endMs) {
        resolve();
        return;
      }
      if (!snapshotTaken && nextMs >= windowStartMs && options.onWindowStart) {
        // Snapshot without stopping the arrivals: the scrape runs while the timer keeps firing.
        snapshotTaken = true;
        void options.onWindowStart();
      }
      setTimeout(tick, Math.max(0, nextMs - performance.now()));
    };
    tick();
  });
  while (inFlight.size > 0) await Promise.all([...inFlight]);
  await windowEnd;
  bar.done();
  return finish(rec, { mode: 'open', protocol: target.protocol, offeredPerSec: ratePerSec, arrivals, deadlineMs, maxSendLagMs: maxLagMs }, durationMs / 1000);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
