// What the OpenAPI document says of each HTTP route beyond the route's own request schema: a
// summary, a tag, the request bodies that are read in the handler (multipart, raw image bytes,
// KServe v2 JSON) rather than by fastify, the answers with their examples, and the error bodies.
// Keyed by "METHOD /url" as fastify registers the route; a route missing here is still in the
// document (from its own schema), and the route-coverage test fails until it is described.
import { ERRORS, type ErrorCode } from '../errors.js';
import { FORM_SCHEMAS, ROUTE_SCHEMAS } from './http-schemas.js';
import * as answers from './http-responses.js';

type Schema = Record<string, unknown>;

/** The part of a fastify route schema that the document adds (the route's own schema wins where both say something). */
export interface RouteDoc {
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** Content types the handler reads itself, added to the route's JSON body. */
  readonly bodyContent?: Readonly<Record<string, { schema: Schema; description?: string }>>;
  readonly params?: Schema;
  readonly headers?: Schema;
  readonly response: Readonly<Record<string, Schema>>;
  /** Needs no API key even when keys are on (health checks); undefined = a key is needed. */
  readonly public?: boolean;
}

/** Catalog codes answered with each HTTP status, for the error responses' descriptions. */
function codesOf(status: number): ErrorCode[] {
  return (Object.keys(ERRORS) as ErrorCode[]).filter((code) => ERRORS[code].http === status);
}

const RETRY_AFTER = { 'retry-after': { type: 'integer', description: 'seconds to wait before retrying' } };

/** A plausible message per code, for the examples of the error answers. */
const EXAMPLE_MESSAGES: Partial<Record<ErrorCode, string>> = {
  INVALID_ARGUMENT: 'parameter "top_k" must be a positive integer (a number or a string of digits), got "0"',
  PAYLOAD_TOO_LARGE: 'request body is larger than the limit of 10485760 bytes',
  UNSUPPORTED_MEDIA_TYPE: 'content type "text/plain" is not accepted; send image/* bytes, multipart/form-data with an "image" file, or JSON',
  MODEL_NOT_FOUND: 'model "nope" not found; available models: shapes-mobilenetv3',
  MODEL_UNAVAILABLE: 'model "shapes-mobilenetv3" has no ready version',
  QUEUE_FULL: 'queue of model "shapes-mobilenetv3" is full (256 requests)',
  UNAUTHENTICATED: 'missing credentials: send "authorization: Bearer <api key>"',
  PERMISSION_DENIED: 'key "team-a" may not call model "shapes-teacher"',
  DEADLINE_EXCEEDED: 'deadline of 50 ms exceeded in queue',
  INTERNAL: 'internal error: ...',
};

/** Error answers of /v1 routes: `{error: {code, message, request_id}}`, each status with an example of its first code. */
function v1Errors(...statuses: number[]): Record<string, Schema> {
  const schema = answers.answerSchema(answers.errorAnswer);
  delete schema['examples'];
  return Object.fromEntries(
    statuses.map((status) => {
      const code = codesOf(status)[0]!;
      const example = { error: { code, message: EXAMPLE_MESSAGES[code] ?? code.toLowerCase().replace(/_/g, ' '), request_id: '93a7a239-1467-44a3-a406-186e318d102f' } };
      return [
        status,
        { description: `error: ${codesOf(status).join(', ')}`, ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}), content: { 'application/json': { schema, example } } },
      ];
    }),
  );
}

/** Error answers of /v2 routes: `{error: message}`, the catalog code in x-error-code. */
function v2Errors(...statuses: number[]): Record<string, Schema> {
  const schema = answers.answerSchema(answers.v2ErrorAnswer);
  delete schema['examples'];
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: `error: ${codesOf(status).join(', ')}`,
        headers: { 'x-error-code': { type: 'string', description: 'the gateway\'s error code' }, ...(status === 429 || status === 503 ? RETRY_AFTER : {}) },
        content: { 'application/json': { schema, example: { error: EXAMPLE_MESSAGES[codesOf(status)[0]!] ?? 'model "nope" not found' } } },
      },
    ]),
  );
}

/** A JSON answer; the schema's first example becomes the media type's example, which Swagger UI shows. */
function ok(description: string, schema: Schema): Schema {
  const { examples, ...rest } = schema as { examples?: unknown[] };
  return { description, content: { 'application/json': { schema: rest, ...(examples?.[0] !== undefined ? { example: examples[0] } : {}) } } };
}
const empty = (description: string): Schema => ({ description, type: 'null' });

const INFERENCE_ERRORS = [400, 401, 403, 404, 413, 415, 429, 500, 503, 504];

/** Headers every inference route reads. */
const CALL_HEADERS: Schema = {
  type: 'object',
  properties: {
    'x-request-timeout-ms': { type: 'string', description: 'deadline of the request, ms (capped by the server\'s maximum)' },
    'x-request-id': { type: 'string', description: 'a request id (up to 128 characters) echoed in the answer and logs' },
  },
};

const imageBytes = { type: 'string', contentMediaType: 'image/*', description: 'the encoded image (jpeg, png, webp, gif, tiff)' };
/** A multipart form: the "image" file plus the route's fields (repeatable where a list is accepted). */
function multipart(fields: Schema, imageRequired: boolean): { schema: Schema } {
  const properties = { image: { type: 'string', contentMediaType: 'application/octet-stream', description: 'the image file' }, ...((fields['properties'] as Schema | undefined) ?? {}) };
  return { schema: { type: 'object', properties, ...(imageRequired ? { required: ['image'] } : {}) } };
}

const modelName = { type: 'object', properties: { name: { type: 'string', description: 'model name' } }, required: ['name'] };
const modelVersion = { type: 'object', properties: { name: { type: 'string', description: 'model name' }, version: { type: 'string', description: 'model version' } }, required: ['name', 'version'] };

const v2Infer: RouteDoc = {
  summary: 'KServe v2 inference (JSON tensors, or the binary tensor data extension)',
  description:
    'Open Inference Protocol. An image-classifier takes an FP32 tensor in its layout, or encoded images as a BYTES tensor. ' +
    'With inference-header-content-length the body is this JSON header followed by binary tensors (parameters.binary_data_size per input).',
  tags: ['KServe v2'],
  bodyContent: {
    'application/json': { schema: FORM_SCHEMAS.v2Infer },
    'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' }, description: 'binary tensor data extension: JSON header then tensor bytes' },
  },
  headers: { ...CALL_HEADERS, properties: { ...(CALL_HEADERS['properties'] as Schema), 'inference-header-content-length': { type: 'string', description: 'byte length of the JSON header (binary tensor data extension)' } } },
  response: { 200: ok('the output tensors', answers.answerSchema(answers.v2InferAnswer)), ...v2Errors(...INFERENCE_ERRORS.filter((s) => s !== 415)) },
};

/** Error answers of POST /v1/embeddings: OpenAI's `{error: {message, type, param, code}}`. */
function openAiErrors(...statuses: number[]): Record<string, Schema> {
  const schema = answers.answerSchema(answers.openAiErrorAnswer);
  return Object.fromEntries(statuses.map((status) => [status, { description: `error: ${codesOf(status).join(', ')} (code in lower case)`, ...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}), content: { 'application/json': { schema } } }]));
}

/** Every documented route. */
export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = Object.freeze({
  'POST /v1/classify': {
    summary: 'Classify an image',
    description: 'Send the image as raw bytes (image/* or application/octet-stream, fields in the query string), as multipart/form-data with an "image" file, or as JSON with base64 "image".',
    tags: ['classification'],
    bodyContent: {
      'image/*': { schema: imageBytes },
      'application/octet-stream': { schema: imageBytes },
      'multipart/form-data': multipart(ROUTE_SCHEMAS.classify.querystring, true),
    },
    headers: CALL_HEADERS,
    response: { 200: ok('labels, best first', answers.answerSchema(answers.classifyAnswer)), ...v1Errors(...INFERENCE_ERRORS) },
  },
  'POST /v1/zero-shot': {
    summary: 'Zero-shot classification with a clip model',
    description: 'Scores the image against labels written as text ("labels" comma-separated, or repeated; "templates" with "{}" for the label).',
    tags: ['zero-shot'],
    bodyContent: { 'multipart/form-data': multipart(ROUTE_SCHEMAS.zeroShot.querystring, true) },
    headers: CALL_HEADERS,
    response: { 200: ok('labels, best first', answers.answerSchema(answers.zeroShotAnswer)), ...v1Errors(...INFERENCE_ERRORS) },
  },
  'POST /v1/embed': {
    summary: 'Embeddings of an image and/or texts with a clip model',
    tags: ['zero-shot'],
    bodyContent: { 'multipart/form-data': multipart(ROUTE_SCHEMAS.embed.querystring, false) },
    headers: CALL_HEADERS,
    response: { 200: ok('L2-normalized embeddings', answers.answerSchema(answers.embedAnswer)), ...v1Errors(...INFERENCE_ERRORS) },
  },
  'POST /v1/embeddings': {
    summary: 'OpenAI-compatible embeddings of texts or images with a clip model',
    description: 'OpenAI\'s embeddings API: "input" is a text or a list of texts; with "modality": "image" (as Infinity does) each input is an image as a data URI or base64. Official OpenAI clients work with baseURL set to the gateway\'s /v1.',
    tags: ['zero-shot', 'OpenAI'],
    headers: CALL_HEADERS,
    response: { 200: ok('OpenAI embeddings answer', answers.answerSchema(answers.openAiEmbeddingsAnswer)), ...openAiErrors(...INFERENCE_ERRORS) },
  },
  'GET /v1/models': {
    summary: 'Every model the caller may see, with versions, state and serving settings',
    tags: ['models'],
    response: { 200: ok('the models', answers.answerSchema(answers.modelsAnswer)), ...v1Errors(401, 429) },
  },
  'GET /v1/models/:name': {
    summary: 'One model',
    tags: ['models'],
    params: modelName,
    response: { 200: ok('the model', answers.answerSchema(answers.modelAnswer)), ...v1Errors(401, 404, 429) },
  },
  'GET /v1/label-sets': {
    summary: 'Registered label sets of the clip models the caller may call, and refused label-set files',
    tags: ['zero-shot'],
    response: { 200: ok('the label sets', answers.answerSchema(answers.labelSetsAnswer)), ...v1Errors(400, 401, 429) },
  },
  'GET /v1/label-sets/:name': {
    summary: 'One label set, with its labels',
    tags: ['zero-shot'],
    response: { 200: ok('the label set', answers.answerSchema(answers.labelSetAnswer)), ...v1Errors(400, 401, 403, 404, 429) },
  },
  'PUT /v1/label-sets/:name': {
    summary: 'Register or replace a label set (served with --admin-api; needs an admin key when keys are configured)',
    description:
      'Encodes every label (x template) with the model\'s text tower, in batches, and answers once the set serves; until then the previous set of that name serves. ' +
      'The body is JSON {labels, templates} or text/plain in the label-set file format (one label per line, "#template: ..." lines, "#" comments); a bad line is refused with its line number.',
    tags: ['admin'],
    headers: CALL_HEADERS,
    response: { 200: ok('the registered label set', answers.answerSchema(answers.labelSetAnswer)), ...v1Errors(400, 401, 403, 404, 413, 429, 503, 504) },
  },
  'DELETE /v1/label-sets/:name': {
    summary: 'Delete a label set (served with --admin-api; needs an admin key when keys are configured)',
    tags: ['admin'],
    response: { 200: ok('deleted', answers.answerSchema(answers.labelSetDeletedAnswer)), ...v1Errors(400, 401, 403, 404, 429) },
  },
  'POST /v1/admin/reload': {
    summary: 'Reload the model repository (served with --admin-api)',
    tags: ['admin'],
    response: { 200: ok('the models after the reload', answers.answerSchema(answers.modelsAnswer)), ...v1Errors(400, 401, 429, 500) },
  },
  'GET /healthz': { summary: 'Liveness', tags: ['health'], public: true, response: { 200: ok('the process is up', answers.answerSchema(answers.healthAnswer)) } },
  'GET /readyz': {
    summary: 'Readiness: every model finished loading and the gateway is not draining',
    tags: ['health'],
    public: true,
    response: { 200: ok('ready', answers.answerSchema(answers.readyAnswer)), 503: ok('not ready (loading or draining)', answers.answerSchema(answers.readyAnswer)) },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['health'],
    response: { 200: { description: 'metrics', content: { 'text/plain': { schema: { type: 'string', examples: ['gateway_requests_total{model="shapes-mobilenetv3",outcome="ok"} 3\n'] } } } }, ...v1Errors(401) },
  },
  'GET /openapi.json': {
    summary: 'This OpenAPI document',
    tags: ['docs'],
    response: { 200: ok('OpenAPI 3.1', { type: 'object' }), ...v1Errors(401) },
  },
  'GET /v2/health/live': { summary: 'KServe v2 server liveness', tags: ['KServe v2'], public: true, response: { 200: empty('live'), 400: empty('not live') } },
  'GET /v2/health/ready': { summary: 'KServe v2 server readiness', tags: ['KServe v2'], public: true, response: { 200: empty('ready'), 400: empty('not ready') } },
  'GET /v2/': { summary: 'KServe v2 server metadata', tags: ['KServe v2'], public: true, response: { 200: ok('server metadata', answers.answerSchema(answers.v2ServerAnswer)) } },
  'GET /v2/models/:name': {
    summary: 'KServe v2 model metadata (the default version)',
    tags: ['KServe v2'],
    params: modelName,
    response: { 200: ok('model metadata', answers.answerSchema(answers.v2ModelAnswer)), ...v2Errors(400, 401, 403, 404, 429, 503) },
  },
  'GET /v2/models/:name/versions/:version': {
    summary: 'KServe v2 model metadata of one version',
    tags: ['KServe v2'],
    params: modelVersion,
    response: { 200: ok('model metadata', answers.answerSchema(answers.v2ModelAnswer)), ...v2Errors(400, 401, 403, 404, 429, 503) },
  },
  'GET /v2/models/:name/ready': {
    summary: 'KServe v2 model readiness',
    tags: ['KServe v2'],
    params: modelName,
    response: { 200: empty('ready'), 400: empty('not ready'), ...v2Errors(401, 403, 429) },
  },
  'GET /v2/models/:name/versions/:version/ready': {
    summary: 'KServe v2 readiness of one model version',
    tags: ['KServe v2'],
    params: modelVersion,
    response: { 200: empty('ready'), 400: empty('not ready'), ...v2Errors(401, 403, 429) },
  },
  'POST /v2/models/:name/infer': { ...v2Infer, params: modelName },
  'POST /v2/models/:name/versions/:version/infer': { ...v2Infer, params: modelVersion },
});
