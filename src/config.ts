// The gateway's one validated configuration object. Sources, later wins: built-in defaults,
// a JSON file (--config / GATEWAY_CONFIG), GATEWAY_* environment variables, command-line flags.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);

/** One API key, stored as its SHA-256 (hex) so the config never holds a usable secret. */
export const ApiKeySchema = z
  .object({
    name: z.string().min(1).max(64),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'hex SHA-256 of the key (64 lower-case hex digits)'),
    models: z.array(z.string().min(1)).min(1).default(['*']),
    requestsPerSecond: z.number().min(0).default(0),
    burst: z.number().int().min(1).default(10),
    /** May register and delete label sets (PUT/DELETE /v1/label-sets/:name, gRPC PutLabelSet/DeleteLabelSet; served with --admin-api). */
    admin: z.boolean().optional(),
  })
  .strict();

export const ConfigSchema = z
  .object({
    /** Interface both servers bind to; an IPv6 literal may be written with or without brackets (`::1`, `[::1]`). */
    host: z
      .string()
      .min(1)
      .default('127.0.0.1')
      .transform((h) => h.replace(/^\[(.+)\]$/, '$1')),
    httpPort: port.default(8080),
    grpcPort: port.default(50051),
    /** Model repository root: one folder per model. */
    modelsDir: z.string().min(1).default('models'),
    /** `auto` = CUDA when its provider library loads, else CPU. */
    executionProvider: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
    /** onnxruntime intra-op threads per session; 0 = half the cores shared among a model's instances (see intraOpThreadsFor). */
    intraOpThreads: z.coerce.number().int().min(0).max(256).default(0),
    /** Let idle intra-op threads spin (onnxruntime's default); off, they sleep and leave the cores to decoding. */
    intraOpSpinning: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
    /**
     * Nice steps the session threads run below the rest of the gateway (Linux); 0 = same priority.
     * Raises throughput under closed-loop saturation, but under open-loop overload it lets decoding
     * starve the batches of their deadlines (docs/performance.md): off by default.
     */
    sessionNiceOffset: z.coerce.number().int().min(0).max(19).default(0),
    /**
     * Let onnxruntime send its usage telemetry (Microsoft's 1DS client in onnxruntime-node: an event
     * store under ~/.cache, uploads to events.data.microsoft.com). Off: the gateway sets
     * ORT_DISABLE_TELEMETRY=1 before its first session, unless the environment already sets it.
     */
    onnxruntimeTelemetry: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
    /** Largest encoded image accepted, in bytes (HTTP body and gRPC message limits derive from it). */
    maxImageBytes: z.coerce.number().int().positive().default(10 * 1024 * 1024),
    /**
     * gRPC server's HTTP/2 receive window per stream, bytes (the connection's is 4x): requests larger
     * than the window wait for the server to acknowledge each part (src/server/grpc-flow-control.ts).
     */
    grpcFlowControlWindow: z.coerce.number().int().min(65_535).max(2 ** 31 - 1).default(4 * 1024 * 1024),
    /** Largest decoded image accepted, in pixels (width x height): refuses decompression bombs. */
    maxImagePixels: z.coerce.number().int().positive().default(40_000_000),
    /** Largest top_k a request may ask for. */
    maxTopK: z.coerce.number().int().positive().default(1000),
    defaultTopK: z.coerce.number().int().positive().default(5),
    /** Upper bound on any request deadline, in ms, whatever the client asks. */
    maxTimeoutMs: z.coerce.number().int().positive().default(60_000),
    /** Time given to queued and in-flight requests on SIGTERM before the process exits. */
    drainTimeoutMs: z.coerce.number().int().nonnegative().default(30_000),
    /** Skip the warm-up inference at load (tests of load failures only). */
    warmup: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** API keys; empty = authentication off. Usually from --api-keys-file. */
    apiKeys: z.array(ApiKeySchema).default([]),
    /** OTLP/HTTP endpoint (base URL) for traces; empty = OTEL_EXPORTER_OTLP_ENDPOINT, and tracing off when that is unset too. */
    otlpEndpoint: z.string().default(''),
    /** Serve /metrics on this port instead of the API port (-1 = on the API port). */
    metricsPort: z.coerce.number().int().min(-1).max(65535).default(-1),
    /** Require an API key for /metrics too (when keys are configured). */
    metricsRequireKey: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
    /** PEM certificate chain and private key: both set = gRPC and HTTP serve TLS only. */
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** PEM CA bundle: set = clients must present a certificate it signed (mTLS). */
    tlsClientCa: z.string().min(1).optional(),
    /** Serve the OpenAPI document at /openapi.json and Swagger UI at /docs. */
    apiDocs: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
    /** /openapi.json and /docs need an API key too (when keys are configured). */
    apiDocsRequireKey: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
    /** Serve POST /v1/admin/reload and the label-set changes (HTTP PUT/DELETE, gRPC PutLabelSet/DeleteLabelSet); off by default; needs an API key when keys are configured. */
    adminApi: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
    /** Reload the repository when files under --models-dir change (fs.watch, debounced). */
    watchModels: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
    /** Most labels (or texts to embed) in one zero-shot or embed request. */
    zeroShotMaxLabels: z.coerce.number().int().positive().max(100_000).default(256),
    /** Longest label or text, in characters (longer prompts within it are truncated to the model's context length). */
    zeroShotMaxLabelChars: z.coerce.number().int().positive().default(1000),
    /** Most prompt templates in one request (an ensemble). */
    zeroShotMaxTemplates: z.coerce.number().int().positive().default(32),
    /** Longest prompt template, in characters. */
    zeroShotMaxTemplateChars: z.coerce.number().int().positive().default(1000),
    /** Most labels in one registered label set (a file or PUT /v1/label-sets/:name). */
    labelSetMaxLabels: z.coerce.number().int().positive().max(1_000_000).default(20_000),
    /** Text-embedding cache bound, in entries (one per model version, template and label). */
    promptCacheEntries: z.coerce.number().int().min(0).default(100_000),
    /** Text-embedding cache bound, in bytes (embeddings plus keys); 0 disables the cache. */
    promptCacheBytes: z.coerce.number().int().min(0).default(64 * 1024 * 1024),
    /** An HTTP request must arrive whole within this time, ms (slow-loris bodies are cut off). */
    httpRequestTimeoutMs: z.coerce.number().int().positive().default(30_000),
  })
  .strict();

export type GatewayConfig = z.infer<typeof ConfigSchema>;

/** Flag name -> config key, and env var -> config key: the documented surface. */
const FLAGS: Record<string, keyof GatewayConfig> = {
  host: 'host',
  'http-port': 'httpPort',
  'grpc-port': 'grpcPort',
  'models-dir': 'modelsDir',
  'execution-provider': 'executionProvider',
  'intra-op-threads': 'intraOpThreads',
  'intra-op-spinning': 'intraOpSpinning',
  'session-nice-offset': 'sessionNiceOffset',
  'onnxruntime-telemetry': 'onnxruntimeTelemetry',
  'max-image-bytes': 'maxImageBytes',
  'max-image-pixels': 'maxImagePixels',
  'grpc-flow-control-window': 'grpcFlowControlWindow',
  'drain-timeout-ms': 'drainTimeoutMs',
  'log-level': 'logLevel',
  'metrics-port': 'metricsPort',
  'otlp-endpoint': 'otlpEndpoint',
  'http-request-timeout-ms': 'httpRequestTimeoutMs',
  'admin-api': 'adminApi',
  'api-docs': 'apiDocs',
  'api-docs-require-key': 'apiDocsRequireKey',
  'tls-cert': 'tlsCert',
  'tls-key': 'tlsKey',
  'tls-client-ca': 'tlsClientCa',
  'watch-models': 'watchModels',
  'zero-shot-max-labels': 'zeroShotMaxLabels',
  'label-set-max-labels': 'labelSetMaxLabels',
  'prompt-cache-entries': 'promptCacheEntries',
  'prompt-cache-bytes': 'promptCacheBytes',
};

function envName(key: string): string {
  return 'GATEWAY_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** Builds the config from argv and env; throws a readable error naming the bad setting. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' }, 'api-keys-file': { type: 'string' } };
  for (const flag of Object.keys(FLAGS)) options[flag] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });

  const raw: Record<string, unknown> = {};
  const file = values['config'] ?? env['GATEWAY_CONFIG'];
  if (file) Object.assign(raw, JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>);
  for (const key of Object.keys(ConfigSchema.shape)) {
    if (key === 'apiKeys') continue;
    const value = env[envName(key)];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const keysFile = values['api-keys-file'] ?? env['GATEWAY_API_KEYS_FILE'];
  if (keysFile) raw['apiKeys'] = JSON.parse(readFileSync(keysFile, 'utf8')) as unknown;
  for (const [flag, key] of Object.entries(FLAGS)) {
    const value = values[flag];
    if (typeof value === 'string') raw[key] = value;
  }
  return parseConfig(raw);
}

/** PEM material read from the configured files, or undefined when TLS is off. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
}

export function readTls(config: GatewayConfig): TlsMaterial | undefined {
  if (!config.tlsCert || !config.tlsKey) return undefined;
  return { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey), clientCa: config.tlsClientCa ? readFileSync(config.tlsClientCa) : undefined };
}

/** Validates a partial config (defaults filled in). */
export function parseConfig(raw: unknown): GatewayConfig {
  const result = ConfigSchema.refine((c) => Boolean(c.tlsCert) === Boolean(c.tlsKey), { message: 'tlsCert and tlsKey go together', path: ['tlsKey'] })
    .refine((c) => !c.tlsClientCa || Boolean(c.tlsCert), { message: 'tlsClientCa (mTLS) needs tlsCert and tlsKey', path: ['tlsClientCa'] })
    .safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid gateway configuration: ${issues}`);
  }
  return result.data;
}
