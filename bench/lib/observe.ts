// What the benchmark reads from a server under load: its /metrics (batch-size histogram deltas,
// shed counters, V8 heap) and its memory from /proc/<pid>/status (VmRSS sampled periodically,
// VmHWM = the kernel's own peak). Linux only for memory; elsewhere memory reads as undefined.
import { readFile } from 'node:fs/promises';
import { request } from 'undici';

/** One sample of Prometheus text exposition. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text exposition (comments skipped). */
export function parsePrometheus(text: string): PromSample[] {
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of every series of `name` whose labels include `labels`. */
export function sumOf(samples: readonly PromSample[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** A histogram summed over its label sets: cumulative counts per upper bound, plus sum and count. */
export interface HistogramSnapshot {
  /** Cumulative count per `le` bound (Infinity included), ascending. */
  readonly buckets: readonly { readonly le: number; readonly cumulative: number }[];
  readonly sum: number;
  readonly count: number;
}

export function histogramOf(samples: readonly PromSample[], name: string): HistogramSnapshot {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return {
    buckets: [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, cumulative]) => ({ le, cumulative })),
    sum: sumOf(samples, `${name}_sum`),
    count: sumOf(samples, `${name}_count`),
  };
}

/** Batch sizes seen between two snapshots of `gateway_batch_size`. */
export interface BatchSizeStats {
  readonly batches: number;
  /** Requests per executed batch, mean. */
  readonly mean: number;
  /** Batches per bucket: label "1", "2", "3-4", ..., "257+" (from the gateway's bucket bounds). */
  readonly distribution: readonly { readonly bucket: string; readonly batches: number }[];
}

export function batchSizeDelta(before: HistogramSnapshot, after: HistogramSnapshot): BatchSizeStats {
  const batches = after.count - before.count;
  const prior = new Map(before.buckets.map((b) => [b.le, b.cumulative]));
  const distribution: { bucket: string; batches: number }[] = [];
  let lastLe = 0;
  let lastCumulative = 0;
  for (const b of after.buckets) {
    const cumulative = b.cumulative - (prior.get(b.le) ?? 0);
    const lo = Math.floor(lastLe) + 1;
    const bucket = b.le === Infinity ? `${lo}+` : lo >= b.le ? String(b.le) : `${lo}-${b.le}`;
    distribution.push({ bucket, batches: cumulative - lastCumulative });
    lastLe = b.le;
    lastCumulative = cumulative;
  }
  return { batches, mean: batches > 0 ? (after.sum - before.sum) / batches : 0, distribution };
}

/** GET /metrics of a server, parsed. */
export async function scrapeMetrics(httpPort: number): Promise<PromSample[]> {
  const res = await request(`http://127.0.0.1:${httpPort}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
  return parsePrometheus(text);
}

/** Memory of a process from /proc/<pid>/status, in bytes; undefined where /proc is missing. */
export async function processMemory(pid: number): Promise<{ rssBytes: number; peakRssBytes: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every `intervalMs` until stopped; keeps only the peak. */
export class RssSampler {
  private peakBytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 200,
  ) {
    this.timer = setInterval(() => void this.sample(), intervalMs);
    this.timer.unref();
    void this.sample();
  }

  private async sample(): Promise<void> {
    const mem = await processMemory(this.pid);
    if (mem && mem.rssBytes > this.peakBytes) this.peakBytes = mem.rssBytes;
  }

  /** Stops sampling; returns the peak RSS seen and the process's lifetime peak (VmHWM), MB. */
  async stop(): Promise<{ peakRssMb: number | undefined; lifetimePeakRssMb: number | undefined }> {
    clearInterval(this.timer);
    await this.sample();
    const mem = await processMemory(this.pid);
    return {
      peakRssMb: this.peakBytes > 0 ? this.peakBytes / 2 ** 20 : undefined,
      lifetimePeakRssMb: mem ? mem.peakRssBytes / 2 ** 20 : undefined,
    };
  }
}

/** CPU time a process has used (user + system), seconds, from /proc/<pid>/stat; undefined where /proc is missing. */
export async function processCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is the first; utime and stime are the 12th and 13th (clock ticks, 100 per second on Linux).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
