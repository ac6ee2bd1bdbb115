// The HTTP transport of the typed client: the gateway's REST API (/v1/*, KServe v2 under /v2,
// /readyz) over undici, with answers decoded into the same generated messages the gRPC transport
// returns (protobuf JSON mapping, which reads the REST answers' snake_case names). TLS with a
// private CA or a client certificate goes through an undici Agent. Failures become
// GatewayClientError with the catalog code of the error body (or the x-error-code header).
import { type DescMessage, type MessageShape, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { Agent, type Dispatcher, errors as undiciErrors, request } from 'undici';
import { GatewayClientError, isCatalogCode, parseRetryAfter, statusesOf } from './errors.js';
import {
  ClassifyResponseSchema,
  DeleteLabelSetResponseSchema,
  EmbedResponseSchema,
  LabelSetSchema,
  ListLabelSetsResponseSchema,
  ListModelsResponseSchema,
  ZeroShotResponseSchema,
} from './gen/gateway/v1/gateway_pb.js';
import type { TlsOptions } from './grpc-transport.js';
import type { Attempt, InferResult, JsonTensor, LabelSetRef, ServingStatus, Transport } from './types.js';

const READ = { ignoreUnknownFields: true } as const;

export class HttpTransport implements Transport {
  readonly #base: string;
  readonly #dispatcher: Dispatcher;

  /** `baseUrl`: e.g. http://127.0.0.1:8080 (https:// for a gateway serving TLS). */
  constructor(baseUrl: string, tls: TlsOptions | undefined) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#dispatcher = new Agent({ connect: tls ? { ca: tls.ca && String(Buffer.from(tls.ca)), cert: tls.cert && String(Buffer.from(tls.cert)), key: tls.key && String(Buffer.from(tls.key)) } : {} });
  }

  classify: Transport['classify'] = async (input, attempt) => {
    const query = new URLSearchParams({ model: input.model });
    if (input.version) query.set('version', input.version);
    if (input.topK) query.set('top_k', String(input.topK));
    const json = await this.#call('POST', `/v1/classify?${query}`, attempt, { type: 'application/octet-stream', body: input.image });
    return this.#decode(ClassifyResponseSchema, json);
  };

  zeroShot: Transport['zeroShot'] = async (input, attempt) => {
    const body = {
      ...(input.model ? { model: input.model } : {}),
      ...(input.version ? { version: input.version } : {}),
      image: Buffer.from(input.image).toString('base64'),
      ...(input.labelSet ? { label_set: input.labelSet } : { labels: input.labels ?? [] }),
      ...(input.templates?.length ? { templates: input.templates } : {}),
      ...(input.topK ? { top_k: input.topK } : {}),
      multi_label: input.multiLabel ?? false,
      ...(input.rerank !== undefined ? { rerank: input.rerank } : {}),
      ...(input.rerankTopK ? { rerank_top_k: input.rerankTopK } : {}),
    };
    return this.#decode(ZeroShotResponseSchema, await this.#json('POST', '/v1/zero-shot', attempt, body));
  };

  embed: Transport['embed'] = async (input, attempt) => {
    const body = {
      model: input.model,
      ...(input.version ? { version: input.version } : {}),
      ...(input.image ? { image: Buffer.from(input.image).toString('base64') } : {}),
      ...(input.texts?.length ? { texts: input.texts } : {}),
    };
    const json = (await this.#json('POST', '/v1/embed', attempt, body)) as { image_embedding?: number[]; text_embeddings?: number[][] } & Record<string, JsonValue>;
    // REST answers bare arrays where the message has Embedding { values }.
    const { image_embedding: image, text_embeddings: texts, ...rest } = json;
    return this.#decode(EmbedResponseSchema, { ...rest, ...(image ? { image_embedding: { values: image } } : {}), text_embeddings: (texts ?? []).map((values) => ({ values })) });
  };

  listModels: Transport['listModels'] = async (attempt) => {
    const json = (await this.#call('GET', '/v1/models', attempt)) as { models: RestModel[] };
    return this.#decode(ListModelsResponseSchema, { models: json.models.map(modelMessage) });
  };

  listLabelSets: Transport['listLabelSets'] = async (attempt) => this.#decode(ListLabelSetsResponseSchema, await this.#call('GET', '/v1/label-sets', attempt));

  getLabelSet: Transport['getLabelSet'] = async (input, attempt) => this.#decode(LabelSetSchema, await this.#call('GET', labelSetPath(input), attempt));

  putLabelSet: Transport['putLabelSet'] = async (input, attempt) => {
    // The file format goes as text/plain, so the gateway refuses a bad line by its number.
    const payload =
      input.text !== undefined
        ? { type: 'text/plain; charset=utf-8', body: input.text }
        : { type: 'application/json', body: JSON.stringify({ labels: input.labels ?? [], ...(input.templates ? { templates: input.templates } : {}) }) };
    return this.#decode(LabelSetSchema, await this.#call('PUT', labelSetPath(input), attempt, payload));
  };

  deleteLabelSet: Transport['deleteLabelSet'] = async (input, attempt) => this.#decode(DeleteLabelSetResponseSchema, await this.#call('DELETE', labelSetPath(input), attempt));

  health = async (service: string, attempt: Attempt): Promise<ServingStatus> => {
    if (service !== '') throw new GatewayClientError({ code: 'INVALID_ARGUMENT', message: 'health of one service is a gRPC check; over HTTP the gateway answers for itself (/readyz)', ...statusesOf('INVALID_ARGUMENT') });
    try {
      await this.#call('GET', '/readyz', attempt);
      return 'SERVING';
    } catch (err) {
      if (err instanceof GatewayClientError && err.httpStatus === 503) return 'NOT_SERVING';
      throw err;
    }
  };

  infer: Transport['infer'] = async (input, attempt): Promise<InferResult> => {
    const path = `/v2/models/${encodeURIComponent(input.model)}${input.version ? `/versions/${encodeURIComponent(input.version)}` : ''}/infer`;
    const body = { ...(input.id ? { id: input.id } : {}), inputs: input.inputs, ...(input.outputs ? { outputs: input.outputs } : {}) };
    const json = (await this.#json('POST', path, attempt, body)) as { model_name: string; model_version?: string; id?: string; outputs: JsonTensor[] };
    return { modelName: json.model_name, modelVersion: json.model_version ?? '', id: json.id ?? '', outputs: json.outputs };
  };

  close(): void {
    void this.#dispatcher.close();
  }

  #decode<D extends DescMessage>(schema: D, json: unknown): MessageShape<D> {
    return fromJson(schema, json as JsonValue, READ);
  }

  #json(method: string, path: string, attempt: Attempt, body: unknown): Promise<unknown> {
    return this.#call(method, path, attempt, { type: 'application/json', body: JSON.stringify(body) });
  }

  async #call(method: Dispatcher.HttpMethod, path: string, attempt: Attempt, payload?: { type: string; body: Uint8Array | string }): Promise<unknown> {
    const headers: Record<string, string> = { ...attempt.headers, accept: 'application/json' };
    if (payload) headers['content-type'] = payload.type;
    const remainingMs = attempt.deadline === undefined ? undefined : attempt.deadline - Date.now();
    if (remainingMs !== undefined) {
      if (remainingMs <= 0) throw deadlineError();
      // The gateway plans with the same deadline (its admission refuses what cannot make it).
      headers['x-request-timeout-ms'] = String(Math.ceil(remainingMs));
    }
    const signals = [attempt.signal, remainingMs === undefined ? undefined : AbortSignal.timeout(remainingMs)].filter((s): s is AbortSignal => s !== undefined);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.#base}${path}`, { method, headers, body: payload?.body, dispatcher: this.#dispatcher, signal: signals.length > 0 ? AbortSignal.any(signals) : undefined });
    } catch (err) {
      if (attempt.signal?.aborted) throw new GatewayClientError({ code: 'CANCELLED', message: 'call cancelled by the caller', ...statusesOf('CANCELLED'), cause: err });
      if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError' || err instanceof undiciErrors.RequestAbortedError) throw deadlineError(err);
      throw new GatewayClientError({ code: 'UNREACHABLE', message: `cannot reach the gateway at ${this.#base}: ${(err as Error).message}`, ...statusesOf('UNREACHABLE'), cause: err });
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.statusCode < 400 && json !== undefined) return json;
    throw errorFromResponse(res.statusCode, res.headers, json, text);
  }
}

/** /v1/label-sets/:name, with the model as the query when one is named. */
function labelSetPath(input: LabelSetRef): string {
  return `/v1/label-sets/${encodeURIComponent(input.name)}${input.model ? `?${new URLSearchParams({ model: input.model })}` : ''}`;
}

function deadlineError(cause?: unknown): GatewayClientError {
  return new GatewayClientError({ code: 'DEADLINE_EXCEEDED', message: 'the call did not finish before its deadline', ...statusesOf('DEADLINE_EXCEEDED'), cause });
}

/** An error answer: `{error: {code, message, request_id}}` (/v1), `{error: "..."}` with x-error-code (/v2), or anything else. */
function errorFromResponse(status: number, headers: Dispatcher.ResponseData['headers'], json: unknown, text: string): GatewayClientError {
  const body = (json as { error?: unknown } | undefined)?.error;
  const detail = typeof body === 'object' && body !== null ? (body as { code?: unknown; message?: unknown; request_id?: unknown }) : {};
  const sent = detail.code ?? headers['x-error-code'];
  const code = isCatalogCode(sent) ? sent : status === 404 ? 'NOT_FOUND' : status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  const message = typeof body === 'string' ? body : typeof detail.message === 'string' ? detail.message : `HTTP ${status}: ${text.slice(0, 200)}`;
  const requestId = typeof detail.request_id === 'string' ? detail.request_id : typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : undefined;
  return new GatewayClientError({ code, message, grpcStatus: statusesOf(code).grpcStatus, httpStatus: status, retryAfterSeconds: parseRetryAfter(headers['retry-after']), requestId });
}

interface RestModel {
  name: string;
  kind: string;
  description: string;
  state: string;
  reason: string;
  defaultVersion: string;
  versions: {
    version: string;
    state: string;
    reason: string;
    healthy: boolean;
    lastError: string;
    info?: { provider?: string; providerNote?: string; labelsCount?: number; batching?: Record<string, unknown> };
  }[];
}

/** GET /v1/models' entry in the shape of the gateway.v1 Model message. */
function modelMessage(m: RestModel): Record<string, unknown> {
  return {
    name: m.name,
    kind: m.kind,
    description: m.description,
    state: m.state,
    reason: m.reason,
    defaultVersion: m.defaultVersion,
    versions: m.versions.map((v) => ({
      version: v.version,
      state: v.state,
      reason: v.reason,
      healthy: v.healthy,
      lastError: v.lastError,
      executionProvider: v.info?.provider ?? '',
      providerNote: v.info?.providerNote ?? '',
      labelsCount: v.info?.labelsCount ?? 0,
      ...(v.info?.batching ? { batching: v.info.batching } : {}),
    })),
  };
}
