// Starts the real gateway in-process on ephemeral loopback ports over a model repository made
// for the test, and gives real clients: @grpc/grpc-js with the project's proto, and fetch.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { type GatewayConfig, parseConfig } from '../../src/config.js';
import { type Gateway, startGateway } from '../../src/gateway.js';
import { loadGatewayProto } from '../../src/server/grpc.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURE_MODELS = join(REPO_ROOT, 'test', 'fixtures', 'models');
export const ZOO_MODELS = join(REPO_ROOT, 'models');

/** One model folder to copy into the test repository, with manifest changes. */
export interface ModelCopy {
  readonly from: string;
  readonly as?: string;
  /** Shallow-merged into model.json (batching merged one level deeper). */
  readonly patch?: Record<string, unknown>;
}

/**
 * Repositories made by makeRepository: the only folders a test gateway deletes when it stops. (A
 * "starts with the temp dir" check once deleted the repository's own models/ when the checkout
 * itself lived under /tmp.)
 */
const temporaryRepositories = new Set<string>();

/** Builds a temporary model repository from copies of real model folders. */
export async function makeRepository(models: readonly ModelCopy[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'gateway-models-'));
  temporaryRepositories.add(root);
  for (const m of models) {
    const name = m.as ?? m.from.split('/').at(-1)!;
    const dest = join(root, name);
    await cp(m.from, dest, { recursive: true });
    const manifestPath = join(dest, 'model.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    const patch = m.patch ?? {};
    const merged: Record<string, unknown> = { ...manifest, ...patch, name };
    if (patch['batching']) merged['batching'] = { ...(manifest['batching'] as object), ...(patch['batching']) };
    await writeFile(manifestPath, JSON.stringify(merged, null, 2));
  }
  return root;
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly http: string;
  readonly client: GatewayClient;
  readonly modelsDir: string;
  /** Text of /metrics. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestGateway(modelsDir: string, overrides: Partial<GatewayConfig> = {}, options: { waitLoaded?: boolean; logger?: Logger } = {}): Promise<TestGateway> {
  const config = parseConfig({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, modelsDir, logLevel: 'silent', executionProvider: 'cpu', intraOpThreads: 1, drainTimeoutMs: 5000, ...overrides });
  const gateway = await startGateway(config, options.logger ? { logger: options.logger } : {});
  if (options.waitLoaded ?? true) await gateway.loaded;
  // TLS tests make their own clients; the default one speaks plaintext.
  const client = new GatewayClient(`127.0.0.1:${gateway.grpcPort}`);
  const http = `${config.tlsCert ? 'https' : 'http'}://127.0.0.1:${gateway.httpPort}`;
  return {
    gateway,
    http,
    client,
    modelsDir,
    metrics: async () => (await fetch(`${http}/metrics`)).text(),
    stop: async () => {
      client.close();
      await gateway.shutdown();
      if (temporaryRepositories.delete(modelsDir)) await rm(modelsDir, { recursive: true, force: true });
    },
  };
}

export interface ClassifyMsg {
  model: string;
  version?: string;
  image: Buffer;
  top_k?: number;
}

export interface ClassifyReply {
  model: string;
  version: string;
  labels: { label: string; score: number; index: number }[];
  timing: { preprocess_ms: number; queue_ms: number; inference_ms: number; total_ms: number };
  batch_size: number;
  request_id: string;
}

/** A thin promise wrapper over the generated gRPC client. */
export class GatewayClient {
  readonly raw: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  constructor(address: string) {
    const { grpcObject } = loadGatewayProto();
    const pkg = (grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
    const Ctor = pkg['InferenceGateway'] as grpc.ServiceClientConstructor;
    this.raw = new Ctor(address, grpc.credentials.createInsecure()) as unknown as GatewayClient['raw'];
  }

  classify(request: ClassifyMsg, options: { deadlineMs?: number; metadata?: grpc.Metadata; apiKey?: string } = {}): Promise<ClassifyReply> {
    const metadata = options.metadata ?? new grpc.Metadata();
    if (options.apiKey) metadata.set('authorization', `Bearer ${options.apiKey}`);
    return new Promise((resolve, reject) => {
      const callOptions: grpc.CallOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
      this.raw['Classify']!(request, metadata, callOptions, (err: grpc.ServiceError | null, reply: ClassifyReply) =>
        err ? reject(err) : resolve(reply),
      );
    });
  }

  /** Starts a call and returns it so the test can cancel it. */
  classifyCall(request: ClassifyMsg, done: (err: grpc.ServiceError | null, reply?: ClassifyReply) => void): grpc.ClientUnaryCall {
    return this.raw['Classify']!(request, new grpc.Metadata(), {}, done) as grpc.ClientUnaryCall;
  }

  listModels(): Promise<{ models: Record<string, unknown>[] }> {
    return new Promise((resolve, reject) => {
      this.raw['ListModels']!({}, (err: grpc.ServiceError | null, reply: { models: Record<string, unknown>[] }) => (err ? reject(err) : resolve(reply)));
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** Status of a failed gRPC call (for assert.rejects predicates). */
export function grpcCode(err: unknown): grpc.status {
  return (err as grpc.ServiceError).code;
}

/** Value of one series in Prometheus text exposition (sum over matching lines). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (.+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(match[3]);
  }
  return sum;
}

export async function postImage(http: string, query: string, body: Buffer | string, contentType = 'image/png', headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${http}/v1/classify?${query}`, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body: body as BodyInit });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** The services a gateway lists through gRPC server reflection (grpc.reflection.v1). */
export async function reflectionServices(address: string): Promise<string[]> {
  const file = join(REPO_ROOT, 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const def = protoLoader.loadSync(file, { keepCase: true, oneofs: true });
  const Reflection = (((grpc.loadPackageDefinition(def)['grpc'] as grpc.GrpcObject)['reflection'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['ServerReflection'] as grpc.ServiceClientConstructor;
  const client = new Reflection(address, grpc.credentials.createInsecure());
  try {
    const call = (client as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }> }).ServerReflectionInfo();
    return await new Promise((resolve, reject) => {
      call.on('data', (res: { list_services_response?: { service: { name: string }[] } }) => {
        resolve((res.list_services_response?.service ?? []).map((s) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ list_services: '' });
    });
  } finally {
    client.close();
  }
}
