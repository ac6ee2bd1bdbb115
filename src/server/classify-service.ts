// Image classification, the domain call both transports adapt (gRPC Classify and ClassifyStream,
// HTTP /v1/classify): one image in, the top-k labels of an image-classifier out, run in the one
// request scope (call.ts).
import { ClassifierVersion, type ScoredLabel } from '../models/classifier.js';
import type { Timing } from '../models/served.js';
import type { CallContext, KindRequirement, RequestScope } from './call.js';

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

/** Classification over the image classifiers of the repository. */
export class ClassifyService {
  constructor(private readonly scope: RequestScope) {}

  /** Classifies one image; throws a GatewayError on any failure. */
  async classify(request: ClassifyRequest, ctx: CallContext): Promise<ClassifyResponse> {
    return this.scope.run(ctx, request.model, request.version, CLASSIFIER, async ({ served, timeoutMs, startedAtMs }) => {
      const topK = this.scope.topK(request.topK);
      const result = await served.classify(request.image, { topK, timeoutMs, signal: ctx.signal }, startedAtMs);
      this.scope.observePreprocess(served.info.model, result.timing.preprocessMs);
      return { model: served.info.model, version: served.info.version, labels: result.labels, timing: result.timing, batchSize: result.batchSize, requestId: ctx.requestId };
    });
  }
}
