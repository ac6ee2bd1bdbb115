// The model list and the repository reload, the domain calls behind gRPC ListModels, HTTP
// /v1/models and /v1/admin/reload: what a caller may see of the repository, by its API key.
import type { Logger } from 'pino';
import type { ModelRepository, ModelStatus } from '../models/repository.js';
import type { CallContext, RequestScope } from './call.js';

/** Listing and reloading the models of the repository. */
export class ModelsService {
  constructor(
    private readonly scope: RequestScope,
    private readonly repository: ModelRepository,
    private readonly logger: Logger,
  ) {}

  /** Every model the caller may see (all of them when authentication is off, or for the gateway itself without `ctx`). */
  list(ctx?: Pick<CallContext, 'authorization'>): ModelStatus[] {
    const all = this.repository.list();
    const auth = this.scope.auth;
    if (!auth.enabled || !ctx) return all;
    const principal = auth.authenticate(ctx.authorization);
    return all.filter((m) => principal.models.includes('*') || principal.models.includes(m.name));
  }

  /** Reloads the model repository (admin API); answers the new model list. */
  async reload(ctx: Pick<CallContext, 'authorization'>): Promise<ModelStatus[]> {
    this.scope.auth.authenticate(ctx.authorization);
    await this.repository.reload();
    this.logger.info({ models: this.repository.list().map((m) => `${m.name}:${m.state}`) }, 'model repository reloaded');
    return this.repository.list();
  }
}
