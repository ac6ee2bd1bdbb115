// What the typed client takes and answers. Answers are the messages generated from
// proto/gateway/v1 (gen/, camelCase fields): the HTTP transport decodes the REST answers into the
// same messages, so a caller switching transports changes nothing else. Requests are small
// hand-written objects (images as bytes); KServe v2 tensors travel as JSON tensors on both.
export type {
  BatchingConfig,
  ClassifyResponse,
  DeleteLabelSetResponse,
  EmbedResponse,
  Embedding,
  LabelSet,
  LabelSetFileError,
  ListLabelSetsResponse,
  ListModelsResponse,
  Model,
  ModelVersion,
  ScoredLabel,
  Timing,
  ZeroShotLabel,
  ZeroShotResponse,
} from './gen/gateway/v1/gateway_pb.js';

export interface ClassifyInput {
  readonly model: string;
  /** Empty or absent = the highest ready version. */
  readonly version?: string | undefined;
  /** Encoded image bytes (JPEG, PNG, WebP, GIF, TIFF). */
  readonly image: Uint8Array;
  /** Labels to answer; 0 or absent = the server's default. */
  readonly topK?: number | undefined;
}

export interface ZeroShotInput {
  /** A clip model; empty = the only clip model, if there is one. */
  readonly model?: string | undefined;
  readonly version?: string | undefined;
  readonly image: Uint8Array;
  /** The labels, as text (or give `labelSet`). */
  readonly labels?: readonly string[] | undefined;
  /** A label set registered on the gateway, instead of `labels`. */
  readonly labelSet?: string | undefined;
  /** Prompt templates with "{}" ("a photo of a {}."); none = the model's. */
  readonly templates?: readonly string[] | undefined;
  /** 0 or absent = every label (with a label set: the server's default). */
  readonly topK?: number | undefined;
  /** Per-label sigmoid instead of a softmax over the labels. */
  readonly multiLabel?: boolean | undefined;
  /** Rescore the cosine top-k with the model's reranker; absent = the model's default. */
  readonly rerank?: boolean | undefined;
  /** Candidates to rerank (at most the model's limit); 0 or absent = the model's default. */
  readonly rerankTopK?: number | undefined;
}

export interface EmbedInput {
  readonly model: string;
  readonly version?: string | undefined;
  /** An image to embed (absent = none). */
  readonly image?: Uint8Array | undefined;
  /** Texts to embed, as given (no template). */
  readonly texts?: readonly string[] | undefined;
}

/** A registered label set: its name, and the clip model it belongs to. */
export interface LabelSetRef {
  /** A clip model; empty or absent = the only clip model, if there is one. */
  readonly model?: string | undefined;
  /** Letters, digits, ".", "_" or "-", at most 128 characters. */
  readonly name: string;
}

/** A label set to register (or replace): `labels` (with `templates`), or `text` in the label-set file format. */
export interface PutLabelSetInput extends LabelSetRef {
  readonly labels?: readonly string[] | undefined;
  /** Prompt templates with "{}" ("a photo of a {}."); none = the model's. */
  readonly templates?: readonly string[] | undefined;
  /** One label per line, "#template: ..." lines, "#" comments (a labelsets/<name>.txt file's contents). */
  readonly text?: string | undefined;
}

/** A KServe v2 tensor as JSON: `data` is flat, row-major, with as many values as `shape` holds. */
export interface JsonTensor {
  readonly name: string;
  /** KServe datatype: BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES. */
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: readonly (number | boolean | string)[];
}

export interface InferInput {
  readonly model: string;
  readonly version?: string | undefined;
  /** Echoed in the answer. */
  readonly id?: string | undefined;
  readonly inputs: readonly JsonTensor[];
  /** Outputs to answer; absent = all of them. */
  readonly outputs?: readonly { readonly name: string }[] | undefined;
}

export interface InferResult {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly id: string;
  readonly outputs: JsonTensor[];
}

/** grpc.health.v1 serving status (over HTTP: /readyz 200 = SERVING, 503 = NOT_SERVING). */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** Per-attempt facts a transport needs: the absolute deadline and headers / metadata to send. */
export interface Attempt {
  /** Epoch ms after which the attempt fails with DEADLINE_EXCEEDED; undefined = none. */
  readonly deadline: number | undefined;
  /** Sent as HTTP headers or gRPC metadata (authorization, traceparent ...). */
  readonly headers: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
}

/** One way of reaching the gateway; both transports have exactly these calls. */
export interface Transport {
  classify(input: ClassifyInput, attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').ClassifyResponse>;
  zeroShot(input: ZeroShotInput, attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').ZeroShotResponse>;
  embed(input: EmbedInput, attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').EmbedResponse>;
  listModels(attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').ListModelsResponse>;
  listLabelSets(attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').ListLabelSetsResponse>;
  getLabelSet(input: LabelSetRef, attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').LabelSet>;
  putLabelSet(input: PutLabelSetInput, attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').LabelSet>;
  deleteLabelSet(input: LabelSetRef, attempt: Attempt): Promise<import('./gen/gateway/v1/gateway_pb.js').DeleteLabelSetResponse>;
  health(service: string, attempt: Attempt): Promise<ServingStatus>;
  infer(input: InferInput, attempt: Attempt): Promise<InferResult>;
  close(): void;
}
