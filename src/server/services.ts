// The feature services over one request scope: what the transports compose. A new feature (a
// service class taking the scope and the repository, plus its gRPC handlers and HTTP routes) is
// added here and in grpc.ts / http.ts, and nowhere else.
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import { LabelSetRegistry } from '../models/label-sets.js';
import type { ModelRepository } from '../models/repository.js';
import { RequestScope } from './call.js';
import { ClassifyService } from './classify-service.js';
import { KServeService } from './kserve-service.js';
import { LabelSetService } from './labelset-service.js';
import { ModelsService } from './models-service.js';
import { ZeroShotService } from './zeroshot-service.js';

export interface Services {
  /** Draining, readiness, authentication and the once-per-request wrapper every service uses. */
  readonly scope: RequestScope;
  readonly models: ModelsService;
  readonly classify: ClassifyService;
  /** Zero-shot classification and embeddings (clip models). */
  readonly zeroShot: ZeroShotService;
  /** The KServe v2 / Open Inference Protocol calls (tensor in, tensor out). */
  readonly kserve: KServeService;
  /** Registered label sets of clip models (files and the admin API). */
  readonly labelSets: LabelSetService;
}

/** Prompts a label set's encoding submits to the text batcher at a time (one progress step). */
const LABEL_SET_CHUNK_PROMPTS = 1024;

export function createServices(repository: ModelRepository, config: GatewayConfig, metrics: Metrics, logger: Logger): Services {
  const scope = new RequestScope(repository, config, metrics, logger);
  const labelSets = new LabelSetRegistry(
    repository,
    { maxLabels: config.labelSetMaxLabels, maxLabelChars: config.zeroShotMaxLabelChars, maxTemplates: config.zeroShotMaxTemplates, maxTemplateChars: config.zeroShotMaxTemplateChars, chunkPrompts: LABEL_SET_CHUNK_PROMPTS },
    logger,
  );
  // Label-set files are (re)read at the end of every load and reload, before it settles.
  repository.onSynced(() => labelSets.syncFiles());
  return {
    scope,
    models: new ModelsService(scope, repository, logger),
    classify: new ClassifyService(scope),
    zeroShot: new ZeroShotService(scope, repository, labelSets),
    kserve: new KServeService(scope, repository),
    labelSets: new LabelSetService(scope, repository, labelSets),
  };
}
