// gRPC transport: composes the server from the features' handlers (gateway.v1 from
// grpc-classify.ts, grpc-zeroshot.ts and grpc-labelsets.ts, KServe v2 from grpc-kserve.ts), grpc.health.v1 and
// reflection, binds it, and owns its serving state and graceful close. Shared helpers live in
// grpc-common.ts; this file holds no handler.
import { dirname, relative } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { TlsMaterial } from '../config.js';
import { classifyHandlers } from './grpc-classify.js';
import { PROTO_LOADER_OPTIONS, SERVICE_NAME, callStatus, loadGatewayProto } from './grpc-common.js';
import { DecodeCheckedServer } from './grpc-decode.js';
import { raiseReceiveWindows } from './grpc-flow-control.js';
import { KSERVE_SERVICE_NAME, addKServeService } from './grpc-kserve.js';
import { labelSetHandlers } from './grpc-labelsets.js';
import { zeroShotHandlers } from './grpc-zeroshot.js';
import { hostPort } from './host-port.js';
import type { Services } from './services.js';

/** The proto and its loader, for clients of the gateway (tests, benchmarks, the k6 scripts' check). */
export { PROTO_PATH, loadGatewayProto } from './grpc-common.js';

export interface GrpcServerHandle {
  readonly server: grpc.Server;
  readonly port: number;
  readonly health: HealthImplementation;
  /** Why the HTTP/2 receive windows could not be raised (grpc-flow-control.ts); undefined = raised. */
  readonly windowProblem: string | undefined;
  setServing(serving: boolean): void;
  /** Stops accepting calls, lets running ones finish (GOAWAY to clients), forces after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

export interface GrpcOptions {
  readonly host: string;
  readonly port: number;
  /** Largest request message, bytes (an image plus the zero-shot text limits). */
  readonly maxMessageBytes: number;
  /** Serve PutLabelSet and DeleteLabelSet (else UNIMPLEMENTED). */
  readonly adminApi: boolean;
  /** HTTP/2 receive window per stream, bytes (grpc-flow-control.ts); the connection's is 4x. */
  readonly flowControlWindowBytes: number;
  readonly tls?: TlsMaterial | undefined;
}

export async function startGrpcServer(services: Services, options: GrpcOptions): Promise<GrpcServerHandle> {
  const { packageDefinition, grpcObject } = loadGatewayProto();
  const server = new DecodeCheckedServer(
    {
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': 16 * 1024 * 1024,
      'grpc.keepalive_permit_without_calls': 1,
      // Nothing serves or reads channelz; with it on, grpc-js keeps per-call bookkeeping for it.
      'grpc.enable_channelz': 0,
    },
    callStatus,
  );
  const pkg = (grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
  const definition = (pkg['InferenceGateway'] as grpc.ServiceClientConstructor).service;

  // gateway.v1 is one proto service: each feature contributes its methods.
  server.addService(definition, {
    ...classifyHandlers(services.classify, services.models),
    ...zeroShotHandlers(services.zeroShot),
    ...labelSetHandlers(services.labelSets, { adminApi: options.adminApi }),
  });

  // KServe v2 / Open Inference Protocol on the same server and port.
  const kserveDefinition = addKServeService(server, services.kserve);

  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING', [KSERVE_SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  // Reflection lists what its package definition holds: health's proto is loaded into it too.
  new ReflectionService({ ...packageDefinition, ...kserveDefinition, ...loadHealthProto() }).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    const tls = options.tls;
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], Boolean(tls.clientCa))
      : grpc.ServerCredentials.createInsecure();
    server.bindAsync(hostPort(options.host, options.port), credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });

  const windowProblem = raiseReceiveWindows(server, options.flowControlWindowBytes);

  return {
    server,
    port,
    windowProblem,
    health,
    setServing(serving) {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      for (const name of ['', SERVICE_NAME, KSERVE_SERVICE_NAME]) health.setStatus(name, status);
    },
    close(graceMs) {
      return new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

/** grpc.health.v1's proto (from grpc-health-check), for server reflection. */
function loadHealthProto(): protoLoader.PackageDefinition {
  // Loaded by its path under the package's proto root, so reflection names the file health/v1/health.proto.
  const root = dirname(dirname(dirname(healthProtoPath)));
  return protoLoader.loadSync(relative(root, healthProtoPath), { ...PROTO_LOADER_OPTIONS, includeDirs: [root] });
}
