// The deadline-aware batching scenario's bookkeeping: per load level, the adaptive policy against
// every fixed maxQueueDelayMs tried, the best fixed one chosen fairly (highest goodput, then
// lowest p99), and whether adaptive had a lower p99 at equal or better goodput.
import type { StageRecord } from './stage.js';

/** Goodput within this fraction of the best fixed one counts as equal (run-to-run noise). */
export const GOODPUT_TOLERANCE = 0.01;

/** What the scenario reports of one configuration at one load level. */
export interface LevelFigures {
  readonly stageId: string;
  readonly goodputPerSec: number;
  /** p99 / p50 of successful answers, from the scheduled send time, ms. */
  readonly p99Ms: number;
  readonly p50Ms: number;
  /** DEADLINE_EXCEEDED answers seen by the client (shed by the gateway or expired in flight). */
  readonly deadlineExceeded: number;
  /** Requests the gateway dropped before inference (gateway_shed_requests_total{reason="deadline"}). */
  readonly serverShed: number;
  readonly otherErrors: number;
  readonly meanBatch: number;
}

export interface AdaptiveLevel {
  /** Fraction of the measured capacity offered. */
  readonly loadFraction: number;
  readonly offeredPerSec: number;
  readonly adaptive: LevelFigures;
  readonly fixed: readonly (LevelFigures & { readonly maxQueueDelayMs: number })[];
  readonly bestFixedDelayMs: number | undefined;
  /** Adaptive goodput >= best fixed goodput x (1 - GOODPUT_TOLERANCE). */
  readonly goodputAtLeastEqual: boolean | undefined;
  readonly lowerP99: boolean | undefined;
  /** Both of the above. */
  readonly adaptiveBetter: boolean | undefined;
}

export interface AdaptiveScenario {
  readonly capacityPerSec: number;
  readonly capacityStage: string;
  readonly deadlineMs: number;
  readonly adaptiveMaxQueueDelayMs: number;
  readonly fixedDelaysMs: readonly number[];
  readonly levels: readonly AdaptiveLevel[];
  /** Why the fixed policy was not run (the manifest field is missing in this tree). */
  readonly fixedSkipped?: string;
}

export function levelFigures(r: StageRecord): LevelFigures {
  const deadlineExceeded = r.result.errors['DEADLINE_EXCEEDED'] ?? 0;
  const allErrors = Object.values(r.result.errors).reduce((s, v) => s + v, 0);
  return {
    stageId: r.id,
    goodputPerSec: r.result.goodputPerSec,
    p99Ms: r.result.latencyMs.p99,
    p50Ms: r.result.latencyMs.p50,
    deadlineExceeded,
    serverShed: r.shedDeadline ?? 0,
    otherErrors: allErrors - deadlineExceeded,
    meanBatch: r.batch?.mean ?? NaN,
  };
}

/** Highest goodput, then lowest p99 (NaN p99 = no successful answer, last). */
export function bestFixed<T extends LevelFigures>(fixed: readonly T[]): T | undefined {
  const p99 = (f: LevelFigures): number => (Number.isFinite(f.p99Ms) ? f.p99Ms : Infinity);
  return [...fixed].sort((a, b) => b.goodputPerSec - a.goodputPerSec || p99(a) - p99(b))[0];
}

export function compareLevel(loadFraction: number, offeredPerSec: number, adaptive: LevelFigures, fixed: readonly (LevelFigures & { maxQueueDelayMs: number })[]): AdaptiveLevel {
  const best = bestFixed(fixed);
  const goodputAtLeastEqual = best ? adaptive.goodputPerSec >= best.goodputPerSec * (1 - GOODPUT_TOLERANCE) : undefined;
  const lowerP99 = best ? adaptive.p99Ms < best.p99Ms : undefined;
  return {
    loadFraction,
    offeredPerSec,
    adaptive,
    fixed,
    bestFixedDelayMs: best?.maxQueueDelayMs,
    goodputAtLeastEqual,
    lowerP99,
    adaptiveBetter: best ? goodputAtLeastEqual! && lowerP99! : undefined,
  };
}
