// The CLI's command line: shared options (address, credentials, deadline), dispatch to the commands
// in commands/, and how failures are reported. Results are JSON on stdout; errors go to stderr with
// the gRPC status and the gateway's error code. Exit codes: 0 ok, 1 the call failed (or health is
// not SERVING), 2 a mistake in the command line.
import { parseArgs } from 'node:util';
import { DEFAULT_ADDRESS, GatewayCallError, GatewayClient } from '../client/gateway-client.js';
import { type Command, type OptionSpec, UsageError } from './command.js';
import { classifyCommand } from './commands/classify.js';
import { healthCommand } from './commands/health.js';
import { modelsCommand } from './commands/models.js';

export const PROGRAM = 'gateway-cli';
const COMMANDS: readonly Command[] = [modelsCommand, healthCommand, classifyCommand];
const DEFAULT_TIMEOUT_MS = 30_000;

const GLOBAL_OPTIONS: OptionSpec = {
  address: { type: 'string', short: 'a' },
  'api-key': { type: 'string' },
  tls: { type: 'boolean', default: false },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
};

function help(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.usage}`.length));
  return [
    `Usage: ${PROGRAM} [options] <command> [arguments]`,
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.usage}`.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    `  -a, --address HOST:PORT  the gateway's gRPC address (env GATEWAY_ADDRESS; default ${DEFAULT_ADDRESS}; IPv6 as [::1]:50051)`,
    '  --api-key KEY            sent as "authorization: Bearer KEY" (env GATEWAY_API_KEY)',
    '  --tls                    TLS with the system CA roots; --ca FILE: with this CA bundle instead',
    '  --cert FILE --key FILE   a client certificate, for a gateway that requires mTLS (implies TLS)',
    `  --timeout-ms MS          deadline of the call (default ${DEFAULT_TIMEOUT_MS})`,
    '  -h, --help               this help',
    '',
    'Output is JSON on stdout. Exit codes: 0 ok, 1 the call failed or health is not SERVING, 2 usage error.',
  ].join('\n');
}

/** Runs one command line; resolves to the exit code. Output goes through `out` and `err`. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let client: GatewayClient | undefined;
  try {
    const allOptions: OptionSpec = Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options) as [OptionSpec]);
    const { values, positionals, tokens } = parseArgs({ args: [...argv], options: allOptions, allowPositionals: true, strict: true, tokens: true });
    if (values['help'] === true) {
      out(help());
      return 0;
    }
    const [name, ...rest] = positionals;
    if (name === undefined) throw new UsageError(`a command is needed: ${COMMANDS.map((c) => c.name).join(', ')}`);
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    for (const token of tokens) {
      if (token.kind === 'option' && !(token.name in GLOBAL_OPTIONS) && !(token.name in command.options)) throw new UsageError(`${command.name} has no option ${token.rawName}`);
    }

    const timeoutRaw = values['timeout-ms'];
    const timeoutMs = timeoutRaw === undefined ? DEFAULT_TIMEOUT_MS : Number(timeoutRaw);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout-ms ${JSON.stringify(timeoutRaw)}: expected a positive integer`);
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const ca = str(values['ca']);
    const cert = str(values['cert']);
    const key = str(values['key']);
    if (Boolean(cert) !== Boolean(key)) throw new UsageError('--cert and --key go together');
    const tls = values['tls'] === true || ca || cert ? { caFile: ca, certFile: cert, keyFile: key } : undefined;
    client = new GatewayClient({ address: str(values['address']) ?? str(env['GATEWAY_ADDRESS']) ?? DEFAULT_ADDRESS, apiKey: str(values['api-key']) ?? str(env['GATEWAY_API_KEY']), tls, timeoutMs });

    const own = Object.fromEntries(Object.keys(command.options).map((k) => [k, values[k] as string | boolean | undefined]));
    return await command.run({ client, values: own, positionals: rest, print: (value) => out(JSON.stringify(value, null, 2)) });
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`${PROGRAM}: ${(e as Error).message}\nRun "${PROGRAM} --help" for usage.`);
      return 2;
    }
    if (e instanceof GatewayCallError) {
      // No catalog code on UNAVAILABLE / DEADLINE_EXCEEDED: grpc-js never reached the gateway.
      const unreachable = e.errorCode === undefined && (e.grpcStatusName === 'UNAVAILABLE' || e.grpcStatusName === 'DEADLINE_EXCEEDED');
      const where = unreachable ? `cannot reach the gateway at ${client?.address ?? '?'}: ` : '';
      err(`${PROGRAM}: ${where}${e.grpcStatusName}${e.errorCode ? ` ${e.errorCode}` : ''}: ${e.message}`);
      return 1;
    }
    err(`${PROGRAM}: ${(e as Error).message}`);
    return 1;
  } finally {
    client?.close();
  }
}
