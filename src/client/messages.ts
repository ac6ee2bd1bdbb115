// The gateway.v1 messages as the client sees them: proto field names (snake_case, as grpcurl and the
// proto print them), with the defaults @grpc/proto-loader fills in (`defaults: true`).

export interface ClassifyRequest {
  model: string;
  /** Empty = the highest ready version. */
  version?: string;
  /** Encoded image bytes (JPEG, PNG, WebP, GIF, TIFF). */
  image: Uint8Array;
  /** 0 = the server's default (5). */
  top_k?: number;
}

export interface ScoredLabel {
  label: string;
  score: number;
  index: number;
}

export interface Timing {
  preprocess_ms: number;
  queue_ms: number;
  inference_ms: number;
  total_ms: number;
  text_ms: number;
}

export interface ClassifyResponse {
  model: string;
  version: string;
  labels: ScoredLabel[];
  timing: Timing | null;
  batch_size: number;
  request_id: string;
}

export interface BatchingConfig {
  max_batch_size: number;
  max_queue_delay_ms: number;
  preferred_batch_sizes: number[];
  max_queue_size: number;
  instances: number;
  default_timeout_ms: number;
  policy: string;
}

export interface ModelVersion {
  version: string;
  state: string;
  reason: string;
  execution_provider: string;
  batching: BatchingConfig | null;
  labels_count: number;
  provider_note: string;
  healthy: boolean;
  last_error: string;
}

export interface Model {
  name: string;
  kind: string;
  description: string;
  state: string;
  reason: string;
  default_version: string;
  versions: ModelVersion[];
}

export interface ListModelsResponse {
  models: Model[];
}

/** grpc.health.v1 serving status. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
