// The benchmarks' gRPC client of the gateway's own service (proto/gateway/v1/gateway.proto, loaded
// with the options the server uses): request serialization for the lean HTTP/2 caller, and promise
// unary calls for the benchmarks that go through @grpc/grpc-js. Kept in bench/ so the benchmarks
// depend on nothing under test/.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ROOT } from './server-process.js';

const PROTO_PATH = `${ROOT}proto/gateway/v1/gateway.proto`;
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

type Unary = ((request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, reply: unknown) => void) => grpc.ClientUnaryCall) & {
  readonly requestSerialize: (message: object) => Buffer;
};

let serviceClient: grpc.ServiceClientConstructor | undefined;

function clientConstructor(): grpc.ServiceClientConstructor {
  if (!serviceClient) {
    const grpcObject = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS));
    serviceClient = ((grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['InferenceGateway'] as grpc.ServiceClientConstructor;
  }
  return serviceClient;
}

/** A client of gateway.v1.InferenceGateway at `address` (plaintext). */
export class GatewayGrpcClient {
  private readonly raw: grpc.Client & Record<string, Unary>;

  constructor(address: string) {
    const Ctor = clientConstructor();
    this.raw = new Ctor(address, grpc.credentials.createInsecure()) as unknown as GatewayGrpcClient['raw'];
  }

  /** One unary call of `method` (e.g. "Classify", "ZeroShotClassify", "Embed"). */
  unary<T>(method: string, request: object): Promise<T> {
    const call = this.raw[method];
    if (!call) throw new Error(`gateway.v1.InferenceGateway has no method ${method}`);
    return new Promise((resolve, reject) => {
      call.call(this.raw, request, new grpc.Metadata(), {}, (err, reply) => (err ? reject(err) : resolve(reply as T)));
    });
  }

  close(): void {
    this.raw.close();
  }
}

/** `method`'s request message serialized with the project's proto (no connection is made). */
export function serializeRequest(method: string, message: object): Buffer {
  const definition = clientConstructor().service[method];
  if (!definition) throw new Error(`gateway.v1.InferenceGateway has no method ${method}`);
  return definition.requestSerialize(message);
}
