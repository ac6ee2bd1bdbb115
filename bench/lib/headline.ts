// The report's headline: each figure measured once per round, several rounds in one run, shown
// as the median and the spread (min-max), so one run tells whether a difference is larger than
// the machine's own run-to-run noise.
import { median } from './limit.js';

export interface Target {
  readonly op: '>=' | '<=';
  readonly value: number;
}

export interface HeadlineFigure {
  readonly key: string;
  readonly label: string;
  readonly unit: 'ratio' | 'ms';
  /** One value per round, in round order. */
  readonly values: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly target?: Target;
  /** Whether the median meets the target. */
  readonly met?: boolean;
  /** How each round's value was computed (numerator / denominator and their stages). */
  readonly details: readonly string[];
}

/** What each round of the headline measured, for the report. */
export interface HeadlineRound {
  readonly round: number;
  /** 1-minute load average when the round started. */
  readonly loadAverage1m: number;
  readonly stageIds: readonly string[];
}

export function figure(key: string, label: string, unit: 'ratio' | 'ms', rounds: readonly { value: number; detail: string }[], target?: Target): HeadlineFigure {
  const values = rounds.map((r) => r.value);
  const finite = values.filter(Number.isFinite);
  const mid = finite.length > 0 ? median(finite) : NaN;
  return {
    key,
    label,
    unit,
    values,
    median: mid,
    min: finite.length > 0 ? Math.min(...finite) : NaN,
    max: finite.length > 0 ? Math.max(...finite) : NaN,
    ...(target ? { target, met: Number.isFinite(mid) && (target.op === '>=' ? mid >= target.value : mid <= target.value) } : {}),
    details: rounds.map((r) => r.detail),
  };
}

export function formatValue(unit: 'ratio' | 'ms', v: number): string {
  if (!Number.isFinite(v)) return '-';
  return unit === 'ratio' ? `${v.toFixed(2)}x` : `${v.toFixed(3)} ms`;
}
