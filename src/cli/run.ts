// The CLI's command line: shared options (transport and address, credentials, deadline, retries,
// concurrency, output format), dispatch to the commands in commands/, and how failures are
// reported. Results go to stdout as JSON Lines or a table; errors go to stderr with the gRPC
// status and the gateway's error code. Exit codes: 0 ok, 1 a call failed (or health is not
// SERVING), 2 a mistake in the command line.
import { parseArgs } from 'node:util';
import { DEFAULT_GRPC_ADDRESS, DEFAULT_HTTP_URL, GatewayClient, GatewayClientError, readTlsFiles } from '../client/index.js';
import { type Command, type CommandInput, type OptionSpec, UsageError, integer } from './command.js';
import { classifyCommand } from './commands/classify.js';
import { embedCommand } from './commands/embed.js';
import { healthCommand } from './commands/health.js';
import { inferCommand } from './commands/infer.js';
import { labelSetCommand } from './commands/label-set.js';
import { modelsCommand } from './commands/models.js';
import { zeroShotCommand } from './commands/zero-shot.js';
import { describeError } from './json.js';
import { OUTPUT_FORMATS, Output, type OutputFormat } from './output.js';

export const PROGRAM = 'gateway-cli';
const COMMANDS: readonly Command[] = [classifyCommand, zeroShotCommand, labelSetCommand, embedCommand, inferCommand, modelsCommand, healthCommand];
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONCURRENCY = 8;
const DEFAULT_RETRIES = 3;

const GLOBAL_OPTIONS: OptionSpec = {
  address: { type: 'string', short: 'a' },
  url: { type: 'string', short: 'u' },
  'api-key': { type: 'string' },
  tls: { type: 'boolean', default: false },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'timeout-ms': { type: 'string' },
  retries: { type: 'string' },
  concurrency: { type: 'string', short: 'j' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h', default: false },
};

function help(): string {
  return [
    `Usage: ${PROGRAM} [options] <command> [arguments]`,
    '',
    'Commands:',
    // Usage lines are long: each command's summary goes on the line below it.
    ...COMMANDS.flatMap((c) => [`  ${c.name} ${c.usage}`.trimEnd(), `      ${c.summary}`]),
    '',
    'Options:',
    `  -a, --address HOST:PORT  the gateway's gRPC address (env GATEWAY_ADDRESS; default ${DEFAULT_GRPC_ADDRESS}; IPv6 as [::1]:50051)`,
    `  -u, --url URL            speak HTTP to this base URL instead of gRPC (env GATEWAY_URL; e.g. ${DEFAULT_HTTP_URL})`,
    '  --api-key KEY            sent as "authorization: Bearer KEY" (env GATEWAY_API_KEY)',
    '  --tls                    gRPC over TLS with the system CA roots; --ca FILE: with this CA bundle instead',
    '  --cert FILE --key FILE   a client certificate, for a gateway that requires mTLS (implies TLS)',
    `  --timeout-ms MS          deadline of each call, retries included (default ${DEFAULT_TIMEOUT_MS})`,
    `  --retries N              retries of QUEUE_FULL, RATE_LIMITED and unavailable answers, with backoff (default ${DEFAULT_RETRIES})`,
    `  -j, --concurrency N      images in flight at once (default ${DEFAULT_CONCURRENCY})`,
    '  -o, --output FORMAT      jsonl (default: one JSON object per result) or table',
    '  -h, --help               this help',
    '',
    'A progress bar is drawn on stderr for folders when stderr is a terminal.',
    'Exit codes: 0 ok, 1 a call failed or health is not SERVING, 2 usage error.',
  ].join('\n');
}

/** Where the CLI writes: stdout lines, stderr lines, and stderr as a stream (for the progress bar). */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly stderr: CommandInput['stderr'];
}

/** Runs one command line; resolves to the exit code. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let client: GatewayClient | undefined;
  let output: Output | undefined;
  try {
    const allOptions: OptionSpec = Object.assign({}, GLOBAL_OPTIONS, ...(COMMANDS.map((c) => c.options) as [OptionSpec]));
    const { values, positionals, tokens } = parseArgs({ args: [...argv], options: allOptions, allowPositionals: true, strict: true, tokens: true });
    if (values['help'] === true) {
      io.out(help());
      return 0;
    }
    const [name, ...rest] = positionals;
    if (name === undefined) throw new UsageError(`a command is needed: ${COMMANDS.map((c) => c.name).join(', ')}`);
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    for (const token of tokens) {
      if (token.kind === 'option' && !(token.name in GLOBAL_OPTIONS) && !(token.name in command.options)) throw new UsageError(`${command.name} has no option ${token.rawName}`);
    }

    const timeoutMs = integer(values, 'timeout-ms', DEFAULT_TIMEOUT_MS);
    if (timeoutMs === 0) throw new UsageError('--timeout-ms must be at least 1');
    const retries = integer(values, 'retries', DEFAULT_RETRIES);
    const concurrency = integer(values, 'concurrency', DEFAULT_CONCURRENCY);
    if (concurrency === 0) throw new UsageError('--concurrency must be at least 1');
    const format = (values['output'] ?? 'jsonl') as OutputFormat;
    if (!OUTPUT_FORMATS.includes(format)) throw new UsageError(`--output ${JSON.stringify(values['output'])}: expected ${OUTPUT_FORMATS.join(' or ')}`);

    const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const ca = str(values['ca']);
    const cert = str(values['cert']);
    const key = str(values['key']);
    if (Boolean(cert) !== Boolean(key)) throw new UsageError('--cert and --key go together');
    const url = str(values['url']) ?? (str(values['address']) ? undefined : str(env['GATEWAY_URL']));
    if (url !== undefined && !/^https?:\/\//.test(url)) throw new UsageError(`--url ${JSON.stringify(url)}: expected http://HOST:PORT or https://HOST:PORT`);
    const wantsTls = values['tls'] === true || ca !== undefined || cert !== undefined;
    let tls;
    try {
      tls = wantsTls ? readTlsFiles({ caFile: ca, certFile: cert, keyFile: key }) : undefined;
    } catch (e) {
      throw new UsageError(`cannot read a TLS file: ${(e as Error).message}`);
    }
    client = new GatewayClient({
      transport: url === undefined ? 'grpc' : 'http',
      address: url ?? str(values['address']) ?? str(env['GATEWAY_ADDRESS']) ?? DEFAULT_GRPC_ADDRESS,
      apiKey: str(values['api-key']) ?? str(env['GATEWAY_API_KEY']),
      tls,
      timeoutMs,
      retry: { maxAttempts: retries + 1 },
    });

    output = new Output(format, io.out);
    const own = Object.fromEntries(Object.keys(command.options).map((k) => [k, values[k]]));
    return await command.run({ client, values: own, positionals: rest, output, concurrency, stderr: io.stderr });
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`${PROGRAM}: ${(e as Error).message}\nRun "${PROGRAM} --help" for usage.`);
      return 2;
    }
    if (e instanceof GatewayClientError) {
      const where = e.code === 'UNREACHABLE' || (e.code === 'DEADLINE_EXCEEDED' && e.requestId === undefined && e.httpStatus !== 504) ? `cannot reach the gateway at ${client?.address ?? '?'}: ` : '';
      io.err(`${PROGRAM}: ${where}${describeError(e)}`);
      return 1;
    }
    io.err(`${PROGRAM}: ${(e as Error).message}`);
    return 1;
  } finally {
    output?.flush();
    client?.close();
  }
}
