// The typed client of the gateway: one class, the same calls over gRPC or HTTP (`transport`),
// with a deadline per call that covers its retries, retries of overload and unavailability
// answers (retry.ts), an API key and TLS. Every failure rejects with a GatewayClientError whose
// `code` is the gateway's catalog code.
import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayClientError, statusesOf } from './errors.js';
import { GrpcTransport, type TlsOptions } from './grpc-transport.js';
import { HttpTransport } from './http-transport.js';
import { DEFAULT_RETRY, type RetryPolicy, backoffMs, isRetryable } from './retry.js';
import type {
  Attempt,
  ClassifyInput,
  ClassifyResponse,
  DeleteLabelSetResponse,
  EmbedInput,
  EmbedResponse,
  InferInput,
  InferResult,
  LabelSet,
  LabelSetRef,
  ListLabelSetsResponse,
  ListModelsResponse,
  PutLabelSetInput,
  ServingStatus,
  Transport,
  ZeroShotInput,
  ZeroShotResponse,
} from './types.js';

export const DEFAULT_GRPC_ADDRESS = '127.0.0.1:50051';
export const DEFAULT_HTTP_URL = 'http://127.0.0.1:8080';

export interface ClientOptions {
  /** 'grpc' (default) or 'http'. */
  readonly transport?: 'grpc' | 'http' | undefined;
  /** gRPC: `host:port` (IPv6 in brackets). HTTP: the base URL, http:// or https://. */
  readonly address?: string | undefined;
  /** Sent as `authorization: Bearer <key>` on every call. */
  readonly apiKey?: string | undefined;
  /** TLS settings (PEM contents); unset = plaintext for gRPC, the URL's scheme for HTTP. */
  readonly tls?: TlsOptions | undefined;
  /** Deadline of each call, retries included, ms; unset = none (the server applies the model's default). */
  readonly timeoutMs?: number | undefined;
  /** Retry policy; `{ maxAttempts: 1 }` turns retries off. */
  readonly retry?: Partial<RetryPolicy> | undefined;
}

/** Per-call settings that override the client's. */
export interface CallOptions {
  readonly timeoutMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Extra headers / metadata (e.g. a W3C `traceparent`). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

export class GatewayClient {
  readonly transport: 'grpc' | 'http';
  readonly address: string;
  readonly #impl: Transport;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number | undefined;
  readonly #retry: RetryPolicy;

  constructor(options: ClientOptions = {}) {
    this.transport = options.transport ?? 'grpc';
    this.address = options.address ?? (this.transport === 'grpc' ? DEFAULT_GRPC_ADDRESS : DEFAULT_HTTP_URL);
    this.#impl = this.transport === 'grpc' ? new GrpcTransport(this.address, options.tls) : new HttpTransport(this.address, options.tls);
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!Number.isInteger(this.#retry.maxAttempts) || this.#retry.maxAttempts < 1) throw new TypeError(`retry.maxAttempts must be an integer >= 1, got ${this.#retry.maxAttempts}`);
  }

  /** Classifies one encoded image with an image-classifier model. */
  classify(input: ClassifyInput, options?: CallOptions): Promise<ClassifyResponse> {
    return this.#run(options, (a) => this.#impl.classify(input, a));
  }

  /** Scores one image against labels written as text, with a clip model. */
  zeroShot(input: ZeroShotInput, options?: CallOptions): Promise<ZeroShotResponse> {
    return this.#run(options, (a) => this.#impl.zeroShot(input, a));
  }

  /** L2-normalized embeddings of an image and/or texts, with a clip model. */
  embed(input: EmbedInput, options?: CallOptions): Promise<EmbedResponse> {
    return this.#run(options, (a) => this.#impl.embed(input, a));
  }

  /** Every model with its versions, state and serving settings. */
  listModels(options?: CallOptions): Promise<ListModelsResponse> {
    return this.#run(options, (a) => this.#impl.listModels(a));
  }

  /** The label sets of every clip model the caller may call, and the label-set files the gateway refused. */
  listLabelSets(options?: CallOptions): Promise<ListLabelSetsResponse> {
    return this.#run(options, (a) => this.#impl.listLabelSets(a));
  }

  /** One label set, with its labels. */
  getLabelSet(input: LabelSetRef, options?: CallOptions): Promise<LabelSet> {
    if (!input.name) return Promise.reject(new TypeError('a label set name is required'));
    return this.#run(options, (a) => this.#impl.getLabelSet(input, a));
  }

  /**
   * Registers or replaces a label set; resolves once it serves (its labels encoded for every served
   * version). Needs the gateway's admin API, and an admin key when keys are on.
   */
  putLabelSet(input: PutLabelSetInput, options?: CallOptions): Promise<LabelSet> {
    if (!input.name) return Promise.reject(new TypeError('a label set name is required'));
    if (input.text !== undefined && (input.labels !== undefined || input.templates !== undefined)) {
      return Promise.reject(new TypeError('putLabelSet takes labels (and templates) or text, not both'));
    }
    return this.#run(options, (a) => this.#impl.putLabelSet(input, a));
  }

  /** Deletes a label set; the same conditions as putLabelSet. */
  deleteLabelSet(input: LabelSetRef, options?: CallOptions): Promise<DeleteLabelSetResponse> {
    if (!input.name) return Promise.reject(new TypeError('a label set name is required'));
    return this.#run(options, (a) => this.#impl.deleteLabelSet(input, a));
  }

  /** Readiness: grpc.health.v1 Check of `service` ('' = the server), or /readyz over HTTP. Not retried. */
  health(service = '', options?: CallOptions): Promise<ServingStatus> {
    return this.#run(options, (a) => this.#impl.health(service, a), 1);
  }

  /** KServe v2 inference with JSON tensors (ModelInfer over gRPC, /v2/models/{m}/infer over HTTP). */
  infer(input: InferInput, options?: CallOptions): Promise<InferResult> {
    return this.#run(options, (a) => this.#impl.infer(input, a));
  }

  close(): void {
    this.#impl.close();
  }

  async #run<T>(options: CallOptions | undefined, call: (attempt: Attempt) => Promise<T>, maxAttempts = this.#retry.maxAttempts): Promise<T> {
    const timeoutMs = options?.timeoutMs ?? this.#timeoutMs;
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const headers: Record<string, string> = { ...options?.headers };
    if (this.#apiKey) headers['authorization'] = `Bearer ${this.#apiKey}`;
    const attempt: Attempt = { deadline, headers, signal: options?.signal };
    for (let n = 1; ; n++) {
      try {
        return await call(attempt);
      } catch (err) {
        if (!(err instanceof GatewayClientError) || n >= maxAttempts || !isRetryable(err.code)) throw err;
        const waitMs = backoffMs(n, this.#retry, err.retryAfterSeconds);
        // A retry that could only start after the deadline would fail anyway: answer the real failure now.
        if (deadline !== undefined && Date.now() + waitMs >= deadline) throw err;
        try {
          await sleep(waitMs, undefined, { signal: options?.signal });
        } catch (abort) {
          throw new GatewayClientError({ code: 'CANCELLED', message: 'call cancelled by the caller', ...statusesOf('CANCELLED'), cause: abort });
        }
      }
    }
  }
}
