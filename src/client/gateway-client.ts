// A small promise-based gRPC client of the gateway (gateway.v1 and grpc.health.v1), built on
// @grpc/grpc-js and the repository's proto. The CLI (src/cli/) sits on top of it; applications can
// import it too. Failed calls reject with a GatewayCallError carrying the gateway's error code.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import type { ClassifyRequest, ClassifyResponse, ListModelsResponse, ServingStatus } from './messages.js';

const GATEWAY_PROTO = fileURLToPath(new URL('../../proto/gateway/v1/gateway.proto', import.meta.url));
/** The server's loader options: proto field names, enums as strings, defaults filled in. */
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export const DEFAULT_ADDRESS = '127.0.0.1:50051';

export interface TlsOptions {
  /** PEM CA bundle to verify the server with; unset = the system's roots. */
  caFile?: string | undefined;
  /** PEM client certificate and key, for a gateway that requires mTLS. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

export interface ClientOptions {
  /** `host:port`; IPv6 literals in brackets (`[::1]:50051`). */
  address?: string;
  /** Sent as `authorization: Bearer <key>` on every call. */
  apiKey?: string | undefined;
  /** TLS settings; unset = plaintext. */
  tls?: TlsOptions | undefined;
  /** Deadline of each call, ms; unset = none (the server applies the model's default timeout). */
  timeoutMs?: number | undefined;
}

/** A failed call: the gRPC status, the gateway's catalog code (`x-error-code`) and the server's message. */
export class GatewayCallError extends Error {
  readonly grpcCode: grpc.status;
  /** The gateway's error code (e.g. MODEL_NOT_FOUND); undefined when the failure did not come from the gateway. */
  readonly errorCode: string | undefined;
  /** Seconds the server asked the client to wait before retrying (`retry-after`). */
  readonly retryAfterSeconds: number | undefined;

  constructor(err: grpc.ServiceError) {
    super(err.details || err.message);
    this.name = 'GatewayCallError';
    this.grpcCode = err.code;
    const code = err.metadata?.get('x-error-code')[0];
    this.errorCode = typeof code === 'string' ? code : undefined;
    const retry = Number(err.metadata?.get('retry-after')[0]);
    this.retryAfterSeconds = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  }

  /** The gRPC status name, e.g. NOT_FOUND. */
  get grpcStatusName(): string {
    return grpc.status[this.grpcCode] ?? String(this.grpcCode);
  }
}

type UnaryMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, reply: unknown) => void) => grpc.ClientUnaryCall;

function credentials(tls: TlsOptions | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const read = (file: string | undefined): Buffer | null => (file ? readFileSync(file) : null);
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) throw new Error('a client certificate needs both a certificate file and a key file');
  return grpc.credentials.createSsl(read(tls.caFile), read(tls.keyFile), read(tls.certFile));
}

export class GatewayClient {
  readonly address: string;
  readonly #gateway: grpc.Client;
  readonly #health: grpc.Client;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number | undefined;

  constructor(options: ClientOptions = {}) {
    this.address = options.address ?? DEFAULT_ADDRESS;
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs;
    const creds = credentials(options.tls);
    const definition = protoLoader.loadSync(GATEWAY_PROTO, LOADER_OPTIONS);
    const pkg = (grpc.loadPackageDefinition(definition)['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
    const Gateway = pkg['InferenceGateway'] as grpc.ServiceClientConstructor;
    this.#gateway = new Gateway(this.address, creds);
    const Health = grpc.makeClientConstructor(healthService, 'grpc.health.v1.Health');
    // One channel for both services: same connection, same credentials.
    this.#health = new Health(this.address, creds, { channelOverride: this.#gateway.getChannel() });
  }

  /** Every model with its versions, state and serving settings. */
  listModels(): Promise<ListModelsResponse> {
    return this.#unary(this.#gateway, 'ListModels', {});
  }

  /** Classifies one encoded image. */
  classify(request: ClassifyRequest): Promise<ClassifyResponse> {
    return this.#unary(this.#gateway, 'Classify', { model: request.model, version: request.version ?? '', image: request.image, top_k: request.top_k ?? 0 });
  }

  /** grpc.health.v1 Check: '' = the whole server, or a service name such as gateway.v1.InferenceGateway. */
  async health(service = ''): Promise<ServingStatus> {
    const reply = await this.#unary<{ status: ServingStatus }>(this.#health, 'Check', { service });
    return reply.status;
  }

  close(): void {
    this.#health.close();
    this.#gateway.close();
  }

  #unary<T>(client: grpc.Client, method: string, request: unknown): Promise<T> {
    const metadata = new grpc.Metadata();
    if (this.#apiKey) metadata.set('authorization', `Bearer ${this.#apiKey}`);
    const options: grpc.CallOptions = this.#timeoutMs ? { deadline: Date.now() + this.#timeoutMs } : {};
    const call = (client as unknown as Record<string, UnaryMethod>)[method]!.bind(client);
    return new Promise((resolve, reject) => {
      call(request, metadata, options, (err, reply) => (err ? reject(new GatewayCallError(err)) : resolve(reply as T)));
    });
  }
}
