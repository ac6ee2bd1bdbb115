// The gateway.v1 domain calls the transports adapt (gRPC Classify and ListModels, HTTP /v1/classify
// and /v1/models): each runs in the one request scope (call.ts). It also holds the other feature
// services (zero-shot and embeddings, KServe v2), each of which gets the scope and the repository.
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import { ClassifierVersion, type ScoredLabel } from '../models/classifier.js';
import { LabelSetRegistry } from '../models/label-sets.js';
import type { ModelRepository, ModelStatus } from '../models/repository.js';
import type { Timing } from '../models/served.js';
import type { Authenticator } from './auth.js';
import { type CallContext, type KindRequirement, RequestScope } from './call.js';
import { KServeService } from './kserve-service.js';
import { LabelSetService } from './labelset-service.js';
import { ZeroShotService } from './zeroshot-service.js';

export type { CallContext, Protocol } from './call.js';

export interface ClassifyRequest {
  readonly model: string;
  /** Empty or undefined = the model's default (highest ready) version. */
  readonly version?: string | undefined;
  readonly image: Uint8Array;
  /** 0 or undefined = the configured default. */
  readonly topK?: number | undefined;
}

export interface ClassifyResponse {
  readonly model: string;
  readonly version: string;
  readonly labels: readonly ScoredLabel[];
  readonly timing: Timing;
  readonly batchSize: number;
  readonly requestId: string;
}

const CLASSIFIER: KindRequirement<ClassifierVersion> = {
  is: (served): served is ClassifierVersion => served instanceof ClassifierVersion,
  needs: 'Classify needs an image-classifier',
  hint: 'use ZeroShotClassify for clip models',
};

/** Prompts a label set's encoding submits to the text batcher at a time (one progress step). */
const LABEL_SET_CHUNK_PROMPTS = 1024;

export class GatewayService {
  readonly scope: RequestScope;
  /** Zero-shot classification and embeddings (clip models). */
  readonly zeroShot: ZeroShotService;
  /** The KServe v2 / Open Inference Protocol calls (tensor in, tensor out). */
  readonly kserve: KServeService;
  /** Registered label sets of clip models (files and the admin API). */
  readonly labelSets: LabelSetService;

  constructor(
    readonly repository: ModelRepository,
    config: GatewayConfig,
    metrics: Metrics,
    private readonly logger: Logger,
  ) {
    this.scope = new RequestScope(repository, config, metrics, logger);
    const labelSets = new LabelSetRegistry(
      repository,
      { maxLabels: config.labelSetMaxLabels, maxLabelChars: config.zeroShotMaxLabelChars, maxTemplates: config.zeroShotMaxTemplates, maxTemplateChars: config.zeroShotMaxTemplateChars, chunkPrompts: LABEL_SET_CHUNK_PROMPTS },
      logger,
    );
    // Label-set files are (re)read at the end of every load and reload, before it settles.
    repository.onSynced(() => labelSets.syncFiles());
    this.labelSets = new LabelSetService(this.scope, repository, labelSets);
    this.zeroShot = new ZeroShotService(this.scope, repository, labelSets);
    this.kserve = new KServeService(this.scope, repository);
  }

  /** Set on SIGTERM: new requests are refused with SHUTTING_DOWN while queued ones finish. */
  get draining(): boolean {
    return this.scope.draining;
  }

  set draining(value: boolean) {
    this.scope.draining = value;
  }

  get auth(): Authenticator {
    return this.scope.auth;
  }

  /** Ready = every model finished loading (or failed) and not draining. */
  get ready(): boolean {
    return this.scope.ready;
  }

  /** Every model the caller may see (all of them when authentication is off). */
  listModels(ctx?: Pick<CallContext, 'authorization'>): ModelStatus[] {
    const all = this.repository.list();
    if (!this.auth.enabled || !ctx) return all;
    const principal = this.auth.authenticate(ctx.authorization);
    return all.filter((m) => principal.models.includes('*') || principal.models.includes(m.name));
  }

  /** Reloads the model repository (admin API, SIGHUP, file watch); answers the new model list. */
  async reload(ctx: Pick<CallContext, 'authorization'>): Promise<ModelStatus[]> {
    this.auth.authenticate(ctx.authorization);
    await this.repository.reload();
    this.logger.info({ models: this.repository.list().map((m) => `${m.name}:${m.state}`) }, 'model repository reloaded');
    return this.repository.list();
  }

  /** Classifies one image; throws a GatewayError on any failure. */
  async classify(request: ClassifyRequest, ctx: CallContext): Promise<ClassifyResponse> {
    return this.scope.run(ctx, request.model, request.version, CLASSIFIER, async ({ served, timeoutMs, startedAtMs }) => {
      const topK = this.scope.topK(request.topK);
      const result = await served.classify(request.image, { topK, timeoutMs, signal: ctx.signal }, startedAtMs);
      this.scope.observePreprocess(served.info.model, result.timing.preprocessMs);
      return { model: served.info.model, version: served.info.version, labels: result.labels, timing: result.timing, batchSize: result.batchSize, requestId: ctx.requestId };
    });
  }

  /** Logs a failure a transport caught, unless the scope logged it already. */
  logOnce(...args: Parameters<RequestScope['logOnce']>): void {
    this.scope.logOnce(...args);
  }
}
