// Core pinning for the benchmarks (Linux, `taskset` from util-linux): the server under test (and
// the in-process limit, so "gateway / limit" compares the same hardware) runs on one set of CPUs,
// the load generator (this process, all its threads) on the other. Without it a load generator on
// the same cores takes CPU the server would have had, and throughput ratios move with the
// generator's cost; with it, server CPU per request does not depend on where the generator runs.
import { execFileSync } from 'node:child_process';

export interface Pinning {
  readonly tool: 'taskset';
  /** CPU list (taskset -c syntax) of the server under test and of the in-process limit. */
  readonly serverCpus: string;
  /** CPU list of the load generator (this process). */
  readonly generatorCpus: string;
  readonly serverCpuCount: number;
  readonly generatorCpuCount: number;
}

/** Why runs are not pinned, for the report (undefined when they are). */
export type PinningChoice = { readonly pinning: Pinning } | { readonly pinning: undefined; readonly reason: string };

let current: Pinning | undefined;

/** The pinning in force (set by pinGenerator), used when servers and limit processes start. */
export function currentPinning(): Pinning | undefined {
  return current;
}

/** Expands a CPU list such as "0-3,6" into [0, 1, 2, 3, 6]. */
export function parseCpuList(list: string): number[] {
  const cpus: number[] = [];
  for (const part of list.trim().split(',')) {
    if (part === '') continue;
    const [lo, hi] = part.split('-').map(Number) as [number, number | undefined];
    for (let c = lo; c <= (hi ?? lo); c++) cpus.push(c);
  }
  return cpus;
}

function taskset(args: readonly string[]): string {
  return execFileSync('taskset', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The CPUs this process may run on (its affinity list), or undefined when taskset is missing. */
export function allowedCpus(pid = process.pid): number[] | undefined {
  try {
    const out = taskset(['-pc', String(pid)]);
    return parseCpuList(out.slice(out.lastIndexOf(':') + 1));
  } catch {
    return undefined;
  }
}

/**
 * Splits the allowed CPUs into a server half (the first half, rounded up) and a generator half,
 * unless `serverCpus`/`generatorCpus` are given. Unpinned when asked, when taskset is missing, or
 * with fewer than two CPUs.
 */
export function choosePinning(options: { disabled?: boolean; serverCpus?: string; generatorCpus?: string }): PinningChoice {
  if (options.disabled) return { pinning: undefined, reason: 'disabled with --no-pin' };
  const allowed = allowedCpus();
  if (!allowed) return { pinning: undefined, reason: 'taskset (util-linux) not found' };
  if (allowed.length < 2) return { pinning: undefined, reason: `only ${allowed.length} CPU available` };
  const half = Math.ceil(allowed.length / 2);
  const server = options.serverCpus ? parseCpuList(options.serverCpus) : allowed.slice(0, half);
  const generator = options.generatorCpus ? parseCpuList(options.generatorCpus) : allowed.filter((c) => !server.includes(c));
  if (server.length === 0 || generator.length === 0) return { pinning: undefined, reason: `no CPU left for the ${server.length === 0 ? 'server' : 'load generator'}` };
  return { pinning: { tool: 'taskset', serverCpus: server.join(','), generatorCpus: generator.join(','), serverCpuCount: server.length, generatorCpuCount: generator.length } };
}

/**
 * Pins every thread of this process (the load generator) to the generator CPUs; threads started
 * later inherit it. Servers started afterwards through server-process.ts run on the server CPUs.
 */
export function pinGenerator(pinning: Pinning): void {
  taskset(['-a', '-pc', pinning.generatorCpus, String(process.pid)]);
  const now = allowedCpus();
  if (now?.join(',') !== pinning.generatorCpus) throw new Error(`pinning the load generator to CPUs ${pinning.generatorCpus} failed (affinity now ${now?.join(',')})`);
  current = pinning;
}

/** Command prefix that starts a program on the server CPUs (empty when unpinned). */
export function serverCommandPrefix(): string[] {
  return current ? ['taskset', '-c', current.serverCpus] : [];
}

/** Throws unless process `pid` runs on exactly the server CPUs (a check that pinning took). */
export function assertOnServerCpus(pid: number): void {
  if (!current) return;
  const cpus = allowedCpus(pid);
  if (cpus?.join(',') !== current.serverCpus) throw new Error(`process ${pid} runs on CPUs ${cpus?.join(',')}, expected ${current.serverCpus}`);
}
