// The gRPC transport of the typed client: @grpc/grpc-js channels whose messages are encoded and
// decoded by the classes generated from the protos (gen/, @bufbuild/protobuf), one channel for
// gateway.v1, KServe v2 (inference.GRPCInferenceService) and grpc.health.v1. Failures become
// GatewayClientError with the gateway's catalog code from the `x-error-code` trailer.
import { readFileSync } from 'node:fs';
import { type DescMessage, type DescService, type MessageShape, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { GatewayClientError, codeOfGrpcStatus, isCatalogCode, parseRetryAfter, statusesOf } from './errors.js';
import {
  ClassifyRequestSchema,
  DeleteLabelSetRequestSchema,
  EmbedRequestSchema,
  GetLabelSetRequestSchema,
  InferenceGateway,
  ListLabelSetsRequestSchema,
  ListModelsRequestSchema,
  PutLabelSetRequestSchema,
  ZeroShotRequestSchema,
} from './gen/gateway/v1/gateway_pb.js';
import { GRPCInferenceService, ModelInferRequestSchema, ModelInferRequest_InferInputTensorSchema, ModelInferRequest_InferRequestedOutputTensorSchema } from './gen/kserve/grpc_predict_v2_pb.js';
import { outputsToJson, toContents } from './kserve-tensors.js';
import type { Attempt, ServingStatus, Transport } from './types.js';

export interface TlsOptions {
  /** PEM CA bundle to verify the server with; unset = the system's roots. */
  readonly ca?: Uint8Array | string | undefined;
  /** PEM client certificate and key, for a gateway that requires mTLS. */
  readonly cert?: Uint8Array | string | undefined;
  readonly key?: Uint8Array | string | undefined;
}

type Unary = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, reply: unknown) => void) => grpc.ClientUnaryCall;

/** A grpc-js service definition whose (de)serializers are the generated messages' binary codec. */
function definitionOf(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== 'unary') continue;
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (m: unknown) => Buffer.from(toBinary(method.input, m as MessageShape<DescMessage>)),
      requestDeserialize: (b: Buffer) => fromBinary(method.input, b),
      responseSerialize: (m: unknown) => Buffer.from(toBinary(method.output, m as MessageShape<DescMessage>)),
      responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
      originalName: method.localName,
    };
  }
  return definition;
}

/** Channel credentials: plaintext without `tls`, else TLS with the given CA and client certificate. */
export function channelCredentials(tls: TlsOptions | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const buf = (v: Uint8Array | string | undefined): Buffer | null => (v === undefined ? null : Buffer.from(v));
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new TypeError('a client certificate needs both cert and key');
  return grpc.credentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert));
}

/** Reads the PEM files of TLS options given as paths. */
export function readTlsFiles(files: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined }): TlsOptions {
  const read = (file: string | undefined): Buffer | undefined => (file ? readFileSync(file) : undefined);
  return { ca: read(files.caFile), cert: read(files.certFile), key: read(files.keyFile) };
}

export class GrpcTransport implements Transport {
  readonly #gateway: grpc.Client;
  readonly #kserve: grpc.Client;
  readonly #health: grpc.Client;

  constructor(address: string, tls: TlsOptions | undefined) {
    const creds = channelCredentials(tls);
    this.#gateway = new (grpc.makeGenericClientConstructor(definitionOf(InferenceGateway), 'InferenceGateway'))(address, creds);
    // One channel for every service: same connection, same credentials.
    const channelOverride = this.#gateway.getChannel();
    this.#kserve = new (grpc.makeGenericClientConstructor(definitionOf(GRPCInferenceService), 'GRPCInferenceService'))(address, creds, { channelOverride });
    this.#health = new (grpc.makeClientConstructor(healthService, 'grpc.health.v1.Health'))(address, creds, { channelOverride });
  }

  classify: Transport['classify'] = (input, attempt) =>
    this.#unary(this.#gateway, 'Classify', create(ClassifyRequestSchema, { model: input.model, version: input.version ?? '', image: input.image, topK: input.topK ?? 0 }), attempt);

  zeroShot: Transport['zeroShot'] = (input, attempt) =>
    this.#unary(
      this.#gateway,
      'ZeroShotClassify',
      create(ZeroShotRequestSchema, {
        model: input.model ?? '',
        version: input.version ?? '',
        image: input.image,
        labels: [...(input.labels ?? [])],
        labelSet: input.labelSet ?? '',
        templates: [...(input.templates ?? [])],
        topK: input.topK ?? 0,
        multiLabel: input.multiLabel ?? false,
        ...(input.rerank !== undefined ? { rerank: input.rerank } : {}),
        rerankTopK: input.rerankTopK ?? 0,
      }),
      attempt,
    );

  embed: Transport['embed'] = (input, attempt) =>
    this.#unary(this.#gateway, 'Embed', create(EmbedRequestSchema, { model: input.model, version: input.version ?? '', image: input.image ?? new Uint8Array(), texts: [...(input.texts ?? [])] }), attempt);

  listModels: Transport['listModels'] = (attempt) => this.#unary(this.#gateway, 'ListModels', create(ListModelsRequestSchema), attempt);

  listLabelSets: Transport['listLabelSets'] = (attempt) => this.#unary(this.#gateway, 'ListLabelSets', create(ListLabelSetsRequestSchema), attempt);

  getLabelSet: Transport['getLabelSet'] = (input, attempt) => this.#unary(this.#gateway, 'GetLabelSet', create(GetLabelSetRequestSchema, { model: input.model ?? '', name: input.name }), attempt);

  putLabelSet: Transport['putLabelSet'] = (input, attempt) =>
    this.#unary(
      this.#gateway,
      'PutLabelSet',
      create(PutLabelSetRequestSchema, { model: input.model ?? '', name: input.name, labels: [...(input.labels ?? [])], templates: [...(input.templates ?? [])], text: input.text ?? '' }),
      attempt,
    );

  deleteLabelSet: Transport['deleteLabelSet'] = (input, attempt) => this.#unary(this.#gateway, 'DeleteLabelSet', create(DeleteLabelSetRequestSchema, { model: input.model ?? '', name: input.name }), attempt);

  health = async (service: string, attempt: Attempt): Promise<ServingStatus> => {
    const reply = await this.#unary<{ status: ServingStatus }>(this.#health, 'Check', { service }, attempt);
    return reply.status;
  };

  infer: Transport['infer'] = async (input, attempt) => {
    const request = create(ModelInferRequestSchema, {
      modelName: input.model,
      modelVersion: input.version ?? '',
      id: input.id ?? '',
      inputs: input.inputs.map((t) => create(ModelInferRequest_InferInputTensorSchema, { name: t.name, datatype: t.datatype, shape: t.shape.map(BigInt), contents: toContents(t) })),
      outputs: (input.outputs ?? []).map((o) => create(ModelInferRequest_InferRequestedOutputTensorSchema, { name: o.name })),
    });
    const response = await this.#unary<import('./gen/kserve/grpc_predict_v2_pb.js').ModelInferResponse>(this.#kserve, 'ModelInfer', request, attempt);
    return { modelName: response.modelName, modelVersion: response.modelVersion, id: response.id, outputs: outputsToJson(response) };
  };

  close(): void {
    this.#health.close();
    this.#kserve.close();
    this.#gateway.close();
  }

  #unary<T>(client: grpc.Client, method: string, request: unknown, attempt: Attempt): Promise<T> {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(attempt.headers)) metadata.set(k, v);
    const options: grpc.CallOptions = attempt.deadline !== undefined ? { deadline: attempt.deadline } : {};
    const call = (client as unknown as Record<string, Unary>)[method]!.bind(client);
    return new Promise((resolve, reject) => {
      const pending = call(request, metadata, options, (err, reply) => (err ? reject(fromServiceError(err)) : resolve(reply as T)));
      attempt.signal?.addEventListener('abort', () => pending.cancel(), { once: true });
    });
  }
}

/** A grpc-js failure as a GatewayClientError: the gateway's code when it sent one, else one from the status. */
export function fromServiceError(err: grpc.ServiceError): GatewayClientError {
  const sent = err.metadata?.get('x-error-code')[0];
  const code = isCatalogCode(sent) ? sent : codeOfGrpcStatus(err.code);
  const httpStatus = statusesOf(code).httpStatus;
  return new GatewayClientError({ code, message: err.details || err.message, grpcStatus: err.code, httpStatus, retryAfterSeconds: parseRetryAfter(err.metadata?.get('retry-after')[0]), cause: err });
}
