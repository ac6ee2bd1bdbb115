// HTTP transport of the KServe v2 / Open Inference Protocol (a fastify plugin under /v2): health,
// server and model metadata, and inference with JSON tensors or Triton's binary tensor data
// extension (JSON header + little-endian bytes, `Inference-Header-Content-Length`). Errors answer
// `{"error": "..."}` as the protocol says, with the catalog's HTTP status and code (x-error-code).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.js';
import type { KServeService, V2InferRequest, V2InferResponse, V2Input, V2RequestedOutput } from './kserve-service.js';
import { encodeJsonData, encodeRaw } from './kserve-codec.js';
import { parseShape } from './kserve-tensors.js';
import type { TensorData } from './kserve-tensors.js';
import { type BodyLimits, readJsonHeaderBody, registerV2BodyParser, routeBodyLimit } from './http-body.js';
import { httpContext, translateHttpError } from './http-common.js';
import { FORM_SCHEMAS, type V2InferJson } from './http-schemas.js';
import { validateFields } from './http-validation.js';
import type { CallContext } from './call.js';

const HEADER_LENGTH = 'inference-header-content-length';

/** The /v2 routes as a fastify plugin; register as `app.register(kserveRoutes(kserve, logOnce, limits), { prefix: '/v2' })`. */
export function kserveRoutes(kserve: KServeService, logOnce: (error: GatewayError, ctx: Pick<CallContext, 'protocol' | 'requestId'>) => void, limits: BodyLimits) {
  return async (v2: FastifyInstance): Promise<void> => {
    registerV2BodyParser(v2, limits);

    v2.setErrorHandler((err, request, reply) => {
      const error = translateHttpError(err, request, limits);
      logOnce(error, { protocol: 'http-v2', requestId: request.id });
      return sendV2Error(reply, error, request.id);
    });
    v2.setNotFoundHandler((request, reply) => sendV2Error(reply, new GatewayError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request.id));

    const ctx = (request: FastifyRequest, reply?: FastifyReply): CallContext => httpContext(request, 'http-v2', reply);
    // Health answers are booleans in the status code: 200 = true, 4xx = false (400, as Triton), empty body.
    const flag = (reply: FastifyReply, value: boolean): FastifyReply => reply.code(value ? 200 : 400).send();

    v2.get('/health/live', async (_request, reply) => flag(reply, kserve.live()));
    v2.get('/health/ready', async (_request, reply) => flag(reply, kserve.ready()));
    v2.get('/', async () => kserve.serverMetadata());

    type Params = { name: string; version?: string };
    v2.get('/models/:name', async (request) => kserve.modelMetadata(ctx(request), (request.params as Params).name));
    v2.get('/models/:name/versions/:version', async (request) => {
      const p = request.params as Params;
      return kserve.modelMetadata(ctx(request), p.name, p.version);
    });
    v2.get('/models/:name/ready', async (request, reply) => flag(reply, kserve.modelReady(ctx(request), (request.params as Params).name)));
    v2.get('/models/:name/versions/:version/ready', async (request, reply) => {
      const p = request.params as Params;
      return flag(reply, kserve.modelReady(ctx(request), p.name, p.version));
    });

    const infer = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const p = request.params as Params;
      const parsed = parseInferBody(request);
      const response = await kserve.infer({ ...parsed.request, model: p.name, version: p.version }, ctx(request, reply));
      return sendInferResponse(reply, response, parsed.binaryOutput, parsed.request.id || request.id);
    };
    v2.post('/models/:name/infer', routeBodyLimit(limits.v2BodyBytes), infer);
    v2.post('/models/:name/versions/:version/infer', routeBodyLimit(limits.v2BodyBytes), infer);
  };
}

/** `{"error": message}` with the catalog status; the code and request id travel as headers. */
function sendV2Error(reply: FastifyReply, error: GatewayError, requestId: string): FastifyReply {
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(error.httpStatus).header('x-error-code', error.code).header('x-request-id', requestId).send({ error: error.message });
}

/** The inference request of a JSON body, or of a binary-extension body (JSON header, then tensors). */
function parseInferBody(request: FastifyRequest): { request: Omit<V2InferRequest, 'model' | 'version'>; binaryOutput: (name: string) => boolean } {
  const { json, binary: tensors } = readJsonHeaderBody(request, HEADER_LENGTH);
  // The wire body is not JSON alone (binary tensors may follow), so the schema is checked here rather than by the route.
  validateFields(request, FORM_SCHEMAS.v2Infer, json);
  const header = json as V2InferJson;
  let binary = tensors;

  const inputs = header.inputs.map((t): V2Input => {
    const where = `input "${t.name.slice(0, 64)}"`;
    const shape = parseShape(t.shape, where);
    const parameters = t.parameters ?? {};
    const size = parameters['binary_data_size'];
    let data: TensorData;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new GatewayError('INVALID_ARGUMENT', `${where} parameter binary_data_size must be a non-negative integer`);
      if (size > binary.length) throw new GatewayError('INVALID_ARGUMENT', `${where} binary_data_size is ${size} bytes but only ${binary.length} bytes of binary data follow the JSON header`);
      data = { kind: 'raw', bytes: binary.subarray(0, size) };
      binary = binary.subarray(size);
    } else if (t.data !== undefined) {
      data = { kind: 'json', value: t.data };
    } else {
      throw new GatewayError('INVALID_ARGUMENT', `${where} has no "data" (and no binary_data_size parameter)`);
    }
    return { name: t.name, datatype: t.datatype, shape, data };
  });
  if (binary.length > 0) throw new GatewayError('INVALID_ARGUMENT', `${binary.length} bytes of binary data follow the JSON header beyond what the inputs' binary_data_size parameters account for`);

  // Binary outputs: an output's "binary_data" wins over the request's "binary_data_output".
  const binaryDefault = header.parameters?.['binary_data_output'] === true;
  const binaryByName = new Map<string, boolean>();
  const outputs = header.outputs?.map((o): V2RequestedOutput => {
    const parameters = o.parameters ?? {};
    const binaryData = parameters['binary_data'];
    if (typeof binaryData === 'boolean') binaryByName.set(o.name, binaryData);
    return { name: o.name, parameters };
  });
  return { request: { id: header.id, inputs, outputs }, binaryOutput: (name) => binaryByName.get(name) ?? binaryDefault };
}

/**
 * JSON, or JSON header plus binary outputs when the request asked for any output as binary data.
 * The JSON is written here rather than by JSON.stringify so that each tensor's `data` is written
 * by the codec: 64-bit integers digit for digit, FP16 as numbers, BOOL as true/false.
 */
function sendInferResponse(reply: FastifyReply, response: V2InferResponse, binaryOutput: (name: string) => boolean, id: string): FastifyReply {
  const blobs: Buffer[] = [];
  const outputs = response.outputs.map((o) => {
    const head = `"name":${JSON.stringify(o.name)},"datatype":"${o.datatype}","shape":${JSON.stringify(o.shape)}`;
    const tensor = { datatype: o.datatype, values: o.values, dims: o.shape };
    if (binaryOutput(o.name)) {
      const bytes = encodeRaw(tensor);
      blobs.push(bytes);
      return `{${head},"parameters":{"binary_data_size":${bytes.length}}}`;
    }
    return `{${head},"data":${encodeJsonData(tensor)}}`;
  });
  const parameters = response.parameters ? `,"parameters":${JSON.stringify(response.parameters)}` : '';
  const body = `{"model_name":${JSON.stringify(response.modelName)},"model_version":${JSON.stringify(response.modelVersion)},"id":${JSON.stringify(id)}${parameters},"outputs":[${outputs.join(',')}]}`;
  if (blobs.length === 0) return reply.type('application/json; charset=utf-8').send(body);
  const header = Buffer.from(body);
  return reply.type('application/octet-stream').header(HEADER_LENGTH, String(header.length)).send(Buffer.concat([header, ...blobs]));
}
