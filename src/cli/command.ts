// What every CLI command is: a name, a one-line summary, its own options (node:util parseArgs
// syntax) and a run() over a connected client. main.ts parses the shared options and dispatches.
import type { ParseArgsConfig } from 'node:util';
import type { GatewayClient } from '../client/gateway-client.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandInput {
  readonly client: GatewayClient;
  /** The command's own options, parsed. */
  readonly values: Record<string, string | boolean | undefined>;
  /** Positional arguments after the command name. */
  readonly positionals: readonly string[];
  /** Writes one result to stdout. */
  readonly print: (value: unknown) => void;
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
