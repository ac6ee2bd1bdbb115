// The label-set calls the HTTP routes (GET/PUT/DELETE /v1/label-sets[/:name]) and the gRPC
// handlers (ListLabelSets, GetLabelSet, PutLabelSet, DeleteLabelSet) adapt: authenticate,
// authorize the model (and, to change a set, require an admin key), resolve the clip model (an
// empty name = the only clip model), and hand the definition to the registry.
import { GatewayError } from '../errors.js';
import { ClipVersion } from '../models/clip.js';
import { type LabelSetDefinition, checkLabelSetDefinition, parseLabelSetText } from '../models/label-set-file.js';
import { type LabelSetFileError, type LabelSetRegistry, type RegisteredLabelSet, checkName } from '../models/label-sets.js';
import type { ModelRepository } from '../models/repository.js';
import { type CallContext, type RequestScope, validateName } from './call.js';

/** A registered set as the API shows it. */
export interface LabelSetSummary {
  readonly set: RegisteredLabelSet;
  /** ISO time each served version's matrix was encoded, by version. */
  readonly encodedAt: Readonly<Record<string, string>>;
  /** Bytes of one version's matrix (labels x embedding width x 4). */
  readonly matrixBytes: number;
}

/** The body of a PUT: the text format, or the labels and templates as lists. */
/** A label set as both transports describe it (JSON field names; gRPC sends matrix_bytes as an int64 string). */
export function labelSetSummaryJson(s: LabelSetSummary, withLabels = false): Record<string, unknown> {
  return {
    model: s.set.model,
    name: s.set.name,
    source: s.set.source,
    labels_count: s.set.definition.labels.length,
    templates: s.set.definition.templates,
    hash: s.set.hash,
    registered_at: s.set.registeredAt,
    encoded_at: s.encodedAt,
    matrix_bytes: s.matrixBytes,
    ...(withLabels ? { labels: s.set.definition.labels } : {}),
  };
}

export type LabelSetBody = { readonly text: string } | { readonly labels: readonly string[]; readonly templates: readonly string[] };

export class LabelSetService {
  constructor(
    private readonly scope: RequestScope,
    private readonly repository: ModelRepository,
    readonly registry: LabelSetRegistry,
  ) {}

  /** Every set of every model the caller may call, and the label-set files that were refused. */
  list(ctx: Pick<CallContext, 'authorization'>): { sets: LabelSetSummary[]; errors: LabelSetFileError[] } {
    const principal = this.scope.auth.authenticate(ctx.authorization);
    const allowed = (model: string): boolean => principal.models.includes('*') || principal.models.includes(model);
    return { sets: this.registry.list().filter((s) => allowed(s.model)).map((s) => this.summary(s)), errors: this.registry.errors().filter((e) => allowed(e.model)) };
  }

  get(model: string, name: string, ctx: Pick<CallContext, 'authorization'>): LabelSetSummary {
    const resolved = this.model(model, ctx, false);
    checkName(name);
    const set = this.registry.get(resolved, name);
    if (!set) throw notFound(resolved, name);
    return this.summary(set);
  }

  /** Registers or replaces a set; answers once every served version of the model has its matrix. */
  async put(model: string, name: string, body: LabelSetBody, ctx: Pick<CallContext, 'authorization' | 'timeoutMs'>, startedAtMs: number): Promise<LabelSetSummary> {
    const resolved = this.model(model, ctx, true);
    checkName(name);
    const limits = this.registry.limits;
    const definition: LabelSetDefinition = 'text' in body ? parseLabelSetText(body.text, limits) : checkLabelSetDefinition(body.labels, body.templates, limits);
    const deadline = ctx.timeoutMs === undefined ? undefined : { startedAtMs, timeoutMs: ctx.timeoutMs };
    return this.summary(await this.registry.put(resolved, name, definition, 'api', deadline));
  }

  async delete(model: string, name: string, ctx: Pick<CallContext, 'authorization'>): Promise<void> {
    const resolved = this.model(model, ctx, true);
    checkName(name);
    if (!(await this.registry.delete(resolved, name))) throw notFound(resolved, name);
  }

  private summary(set: RegisteredLabelSet): LabelSetSummary {
    const clip = this.repository.servedVersions().find((v): v is ClipVersion => v instanceof ClipVersion && v.info.model === set.model);
    return { set, encodedAt: this.registry.encodedAt(set), matrixBytes: set.definition.labels.length * (clip?.manifest.clip.embeddingSize ?? 0) * 4 };
  }

  /** Authenticates, checks the name, resolves "" to the only clip model, and authorizes the caller for it. */
  private model(model: string, ctx: Pick<CallContext, 'authorization'>, change: boolean): string {
    this.scope.refuseWhileDraining();
    const principal = this.scope.auth.authenticate(ctx.authorization);
    if (change && this.scope.auth.enabled && !principal.admin) throw new GatewayError('PERMISSION_DENIED', `key "${principal.name}" is not an admin key; registering and deleting label sets needs one ("admin": true)`);
    let name = model;
    if (!name) {
      const clips = this.repository.list().filter((m) => m.kind === 'clip');
      if (clips.length !== 1) throw new GatewayError('INVALID_ARGUMENT', `model is required: ${clips.length} clip models are served`);
      name = clips[0]!.name;
    }
    validateName(name, undefined);
    this.scope.auth.authorize(principal, name);
    const served = this.repository.resolve(name);
    if (!(served instanceof ClipVersion)) throw new GatewayError('INVALID_ARGUMENT', `model "${name}" is of kind ${served.kind}; label sets need a clip model`);
    return name;
  }
}

function notFound(model: string, name: string): GatewayError {
  return new GatewayError('NOT_FOUND', `label set "${name}" is not registered for model "${model}"`);
}
