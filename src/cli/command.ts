// What every CLI command is: a name, a usage line, a one-line summary, its own options (node:util
// parseArgs syntax) and a run() over a connected client. run.ts parses the shared options and
// dispatches.
import type { ParseArgsConfig } from 'node:util';
import type { GatewayClient } from '../client/index.js';
import type { Output } from './output.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandInput {
  readonly client: GatewayClient;
  /** The command's own options, parsed (repeatable options are arrays). */
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  /** Positional arguments after the command name. */
  readonly positionals: readonly string[];
  /** Where results go (JSON Lines or a table on stdout). */
  readonly output: Output;
  /** Calls in flight at once, for commands over many files. */
  readonly concurrency: number;
  /** Writes to stderr (progress, diagnostics). */
  readonly stderr: NodeJS.WriteStream | { isTTY?: boolean; write(text: string): unknown };
}

export interface Command {
  readonly name: string;
  /** Arguments as shown in the help, e.g. `FILE --model NAME [--top-k K]`. */
  readonly usage: string;
  readonly summary: string;
  readonly options: OptionSpec;
  /** Resolves to the process exit code. */
  run(input: CommandInput): Promise<number>;
}

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A required string option, or a UsageError naming it. */
export function required(values: CommandInput['values'], name: string, hint: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required (${hint})`);
  return value;
}

/** A non-negative integer option (absent = `fallback`), or a UsageError naming it. */
export function integer(values: CommandInput['values'], name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n)) throw new UsageError(`--${name} ${JSON.stringify(raw)}: expected an integer >= 0`);
  return n;
}

/** A repeatable string option as a list (also splitting comma-separated values when `split`). */
export function list(values: CommandInput['values'], name: string, split = false): string[] {
  const raw = values[name];
  const items = raw === undefined || typeof raw === 'boolean' ? [] : typeof raw === 'string' ? [raw] : raw;
  const strings = items.filter((s): s is string => typeof s === 'string');
  return split ? strings.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '') : strings;
}
