// HTTP routes of label sets: GET /v1/label-sets (list), GET /v1/label-sets/:name, and with the
// admin API PUT (JSON {labels, templates} or the text/plain file format) and DELETE. A thin
// adapter to the label-set service; `?model=` (or "model" in JSON) names the clip model.
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { routeBodyLimit } from './http-body.js';
import { headerTimeout } from './http-common.js';
import { type LabelSetPutJson, ROUTE_SCHEMAS } from './http-schemas.js';
import { type LabelSetService, labelSetSummaryJson } from './labelset-service.js';

export function addLabelSetRoutes(app: FastifyInstance, labelSets: LabelSetService, options: { adminApi: boolean; bodyLimit: number }): void {
  app.get('/v1/label-sets', { schema: ROUTE_SCHEMAS.labelSets }, async (request) => {
    const { sets, errors } = labelSets.list({ authorization: request.headers.authorization });
    return { label_sets: sets.map((s) => labelSetSummaryJson(s)), errors };
  });

  app.get('/v1/label-sets/:name', { schema: ROUTE_SCHEMAS.labelSet }, async (request) => {
    const { name } = request.params as { name: string };
    const { model } = request.query as { model?: string };
    return labelSetSummaryJson(labelSets.get(model ?? '', name, { authorization: request.headers.authorization }), true);
  });

  if (!options.adminApi) return;

  app.put('/v1/label-sets/:name', { schema: ROUTE_SCHEMAS.labelSetPut, ...routeBodyLimit(options.bodyLimit) }, async (request) => {
    const startedAtMs = performance.now();
    const { name } = request.params as { name: string };
    const query = request.query as { model?: string };
    const ctx = { authorization: request.headers.authorization, timeoutMs: headerTimeout(request) };
    if (typeof request.body === 'string') return labelSetSummaryJson(await labelSets.put(query.model ?? '', name, { text: request.body }, ctx, startedAtMs));
    const body = request.body as LabelSetPutJson;
    return labelSetSummaryJson(await labelSets.put(body.model ?? query.model ?? '', name, { labels: body.labels, templates: body.templates ?? [] }, ctx, startedAtMs));
  });

  app.delete('/v1/label-sets/:name', { schema: ROUTE_SCHEMAS.labelSet }, async (request) => {
    const { name } = request.params as { name: string };
    const { model } = request.query as { model?: string };
    await labelSets.delete(model ?? '', name, { authorization: request.headers.authorization });
    return { deleted: true };
  });
}
