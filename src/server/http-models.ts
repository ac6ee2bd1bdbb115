// HTTP routes of the model list (GET /v1/models, GET /v1/models/:name) and, when enabled, the
// repository reload (POST /v1/admin/reload): thin adapters to the models service.
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../errors.js';
import { ROUTE_SCHEMAS } from './http-schemas.js';
import type { ModelsService } from './models-service.js';

export function addModelRoutes(app: FastifyInstance, models: ModelsService, options: { readonly adminApi: boolean }): void {
  app.get('/v1/models', async (request) => ({ models: models.list({ authorization: request.headers.authorization }) }));
  app.get('/v1/models/:name', async (request) => {
    const { name } = request.params as { name: string };
    const model = models.list({ authorization: request.headers.authorization }).find((m) => m.name === name);
    if (!model) throw new GatewayError('MODEL_NOT_FOUND', `model "${name.slice(0, 64)}" not found`);
    return model;
  });
  if (options.adminApi) {
    app.post('/v1/admin/reload', { schema: ROUTE_SCHEMAS.adminReload }, async (request) => ({ models: await models.reload({ authorization: request.headers.authorization }) }));
  }
}
