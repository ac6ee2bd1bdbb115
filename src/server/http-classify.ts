// HTTP route of image classification: POST /v1/classify with image bytes, multipart or JSON. A thin
// adapter from the request (read by the one body reader in http-common.ts) to the classify service.
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.js';
import type { ClassifyService } from './classify-service.js';
import { type BodyLimits, readBody } from './http-body.js';
import { httpContext } from './http-common.js';
import { type ClassifyFields, FORM_SCHEMAS, ROUTE_SCHEMAS, toInteger, toVersion } from './http-schemas.js';

export function addClassifyRoutes(app: FastifyInstance, classify: ClassifyService, limits: BodyLimits): void {
  app.post('/v1/classify', { schema: ROUTE_SCHEMAS.classify }, async (request, reply) => {
    const { image, fields } = await readBody<ClassifyFields>(request, limits, { formSchema: FORM_SCHEMAS.classify, rawImage: true });
    // The JSON schema requires the image and raw bodies are the image: only a form can lack it.
    if (!image) throw new GatewayError('INVALID_ARGUMENT', 'multipart body has no "image" file field');
    const response = await classify.classify({ model: fields.model ?? '', version: toVersion(fields.version), image, topK: toInteger(fields.top_k) }, httpContext(request, 'http', reply));
    return {
      model: response.model,
      version: response.version,
      labels: response.labels,
      timing: response.timing,
      batch_size: response.batchSize,
      request_id: response.requestId,
    };
  });
}
