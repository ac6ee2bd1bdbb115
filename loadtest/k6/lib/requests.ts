// The requests the k6 scripts send, built without k6: the same functions run inside k6 (scripts
// in loadtest/k6/) and under Node (test/deploy/k6.test.ts sends them to a real gateway), so the
// bodies, headers and gRPC messages the load test sends are the ones the test proves valid.
// No imports: k6 resolves modules by literal path, Node by its own rules, and this file must load
// under both.

/** The project's proto, relative to the proto root (`proto/` of the repository). */
export const GATEWAY_PROTO = 'gateway/v1/gateway.proto';
/** Full gRPC method names as k6's `client.invoke` takes them. */
export const GRPC_CLASSIFY = 'gateway.v1.InferenceGateway/Classify';
export const GRPC_LIST_MODELS = 'gateway.v1.InferenceGateway/ListModels';

/** One fixture image: file name inside fixtures/, content type, and the class it shows. */
export interface FixtureImage {
  readonly file: string;
  readonly contentType: string;
  /** Label of a shapes classifier, `<colour>_<shape>`; the zero-shot label is the same with a space. */
  readonly className: string;
}

/** fixtures/index.json, written by make-fixtures.ts. */
export interface FixtureIndex {
  readonly images: FixtureImage[];
  /** Labels a zero-shot request scores each fixture against (contains every fixture's class). */
  readonly zeroShotLabels: string[];
}

/** Parses and checks fixtures/index.json; throws naming the bad entry. */
export function parseFixtureIndex(text: string): FixtureIndex {
  const value = JSON.parse(text) as Partial<FixtureIndex> | null;
  const images = value?.images;
  const labels = value?.zeroShotLabels;
  if (!Array.isArray(images) || images.length === 0) throw new Error('fixtures/index.json: "images" must be a non-empty array');
  if (!Array.isArray(labels) || labels.length === 0 || labels.some((l) => typeof l !== 'string')) throw new Error('fixtures/index.json: "zeroShotLabels" must be a non-empty array of strings');
  for (const [i, image] of images.entries()) {
    const ok = typeof image.file === 'string' && /^[\w.-]+$/.test(image.file) && typeof image.contentType === 'string' && image.contentType.startsWith('image/') && typeof image.className === 'string';
    if (!ok) throw new Error(`fixtures/index.json: images[${i}] needs "file" (a plain name), "contentType" (image/*) and "className"`);
  }
  return { images, zeroShotLabels: labels };
}

/** The zero-shot label of a shapes class: `red_circle` -> `red circle`. */
export function zeroShotLabel(className: string): string {
  return className.replace('_', ' ');
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 with padding (k6 has no Buffer or btoa over bytes). */
export function base64(bytes: ArrayBuffer): string {
  const b = new Uint8Array(bytes);
  let out = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    out += BASE64_ALPHABET[n >> 18]! + BASE64_ALPHABET[(n >> 12) & 63]! + BASE64_ALPHABET[(n >> 6) & 63]! + BASE64_ALPHABET[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    out += `${BASE64_ALPHABET[n >> 18]!}${BASE64_ALPHABET[(n >> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    out += `${BASE64_ALPHABET[n >> 18]!}${BASE64_ALPHABET[(n >> 12) & 63]!}${BASE64_ALPHABET[(n >> 6) & 63]!}=`;
  }
  return out;
}

/** What every request may carry besides its payload. */
export interface CallOptions {
  /** Sent as `authorization: Bearer <key>` (HTTP header or gRPC metadata); empty = none. */
  readonly apiKey: string;
  /** Request deadline in ms: `x-request-timeout-ms` over HTTP; 0 = the model's default. */
  readonly requestTimeoutMs: number;
}

/** An HTTP request as k6's `http.request(method, url, body, { headers })` and fetch both take it. */
export interface HttpRequestSpec {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Raw image bytes, a JSON text, or none. */
  readonly body: ArrayBuffer | string | null;
}

function commonHeaders(call: CallOptions): Record<string, string> {
  return {
    ...(call.apiKey ? { authorization: `Bearer ${call.apiKey}` } : {}),
    ...(call.requestTimeoutMs > 0 ? { 'x-request-timeout-ms': String(call.requestTimeoutMs) } : {}),
  };
}

function join(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${path}`;
}

function query(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params).flatMap(([k, v]) => (v === undefined || v === '' ? [] : [`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`]));
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** POST /v1/classify with the raw image as the body and its own content type; model, version, top_k in the query. */
export function classifyHttpRequest(baseUrl: string, image: { bytes: ArrayBuffer; contentType: string }, params: { model: string; version: string; topK: number }, call: CallOptions): HttpRequestSpec {
  return {
    method: 'POST',
    url: join(baseUrl, `/v1/classify${query({ model: params.model, version: params.version, top_k: params.topK })}`),
    headers: { 'content-type': image.contentType, ...commonHeaders(call) },
    body: image.bytes,
  };
}

/** POST /v1/zero-shot as JSON: base64 image, labels as an array, optional template and top_k. */
export function zeroShotHttpRequest(
  baseUrl: string,
  image: ArrayBuffer,
  params: { model: string; version: string; labels: readonly string[]; template: string; topK: number },
  call: CallOptions,
): HttpRequestSpec {
  const body: Record<string, unknown> = { model: params.model, image: base64(image), labels: params.labels };
  if (params.version) body['version'] = params.version;
  if (params.template) body['template'] = params.template;
  if (params.topK > 0) body['top_k'] = params.topK;
  return { method: 'POST', url: join(baseUrl, '/v1/zero-shot'), headers: { 'content-type': 'application/json', ...commonHeaders(call) }, body: JSON.stringify(body) };
}

/** GET /v1/models/:name: the scripts' setup() checks the model is READY before the load starts. */
export function modelHttpRequest(baseUrl: string, model: string, call: CallOptions): HttpRequestSpec {
  return { method: 'GET', url: join(baseUrl, `/v1/models/${encodeURIComponent(model)}`), headers: commonHeaders(call), body: null };
}

/**
 * A gateway.v1.ClassifyRequest in proto field names, as k6's gRPC client (protojson) takes it:
 * bytes travel as base64 text. @grpc/proto-loader's fromObject reads the same object.
 */
export function classifyGrpcMessage(image: ArrayBuffer, params: { model: string; version: string; topK: number }): { model: string; version: string; image: string; top_k: number } {
  return { model: params.model, version: params.version, image: base64(image), top_k: params.topK };
}

/** gRPC metadata of a call (the deadline travels as the call's own timeout, not here). */
export function grpcMetadata(call: CallOptions): Record<string, string> {
  return call.apiKey ? { authorization: `Bearer ${call.apiKey}` } : {};
}
