// k6 load test of gRPC gateway.v1.InferenceGateway/Classify with the project's proto
// (proto/gateway/v1/gateway.proto): the fixture images round-robin, one connection per VU; each
// answer is checked (status OK, model, labels, top-1 class).
//   k6 run -e GATEWAY_GRPC_ADDR=127.0.0.1:50051 loadtest/k6/grpc-classify.ts
//   k6 run -e GATEWAY_SCENARIO=ramping_vus -e GATEWAY_VUS=64 -e GATEWAY_REQUEST_TIMEOUT_MS=2000 loadtest/k6/grpc-classify.ts
// k6 resolves the proto's import path from the entry script's folder: GATEWAY_PROTO_DIR (default ../../proto)
// is relative to loadtest/k6/. Settings (environment): lib/options.ts and loadtest/k6/README.md.
import { check, fail } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate } from 'k6/metrics';
import grpc from 'k6/net/grpc';
import type { Options } from 'k6/options';
import { FAILURE_REASONS, type FailureReason, classifyChecks, failureMetric, findModel, grpcFailureReason, modelProblem, parseAnswer, unreachableMessage } from './lib/answers.ts';
import { ERROR_RATE_METRIC, loadOptions, readSettings } from './lib/options.ts';
import { GATEWAY_PROTO, GRPC_CLASSIFY, GRPC_LIST_MODELS, classifyGrpcMessage, grpcMetadata, parseFixtureIndex } from './lib/requests.ts';

export const options: Options = loadOptions('grpc-classify', __ENV);

const settings = readSettings('grpc-classify', __ENV);
const call = { apiKey: settings.apiKey, requestTimeoutMs: settings.requestTimeoutMs };
const client = new grpc.Client();
client.load([settings.protoDir], GATEWAY_PROTO);
const fixtures = parseFixtureIndex(open(import.meta.resolve('./fixtures/index.json')));
const items = fixtures.images.map((image) => ({
  message: classifyGrpcMessage(open(import.meta.resolve(`./fixtures/${image.file}`), 'b'), settings),
  checks: classifyChecks({ model: settings.model, topK: settings.topK, top1: settings.expectClass ? image.className : undefined }),
}));
const errors = new Rate(ERROR_RATE_METRIC);
/** One counter per failure reason (gateway error code, NO_ANSWER, ...): the summary lists those that counted. */
const failed = Object.fromEntries(FAILURE_REASONS.map((reason) => [reason, new Counter(failureMetric(reason))])) as Record<FailureReason, Counter>;
const metadata = grpcMetadata(call);
/** The call's deadline (the gateway drops work that cannot make it); 0 = k6's default. */
const callTimeout = settings.requestTimeoutMs > 0 ? { timeout: settings.requestTimeoutMs } : {};
let connected = false;

function connect(): void {
  if (connected) return;
  client.connect(settings.grpcAddr, { plaintext: !settings.grpcTls, timeout: '10s' });
  connected = true;
}

/** Refuses to start unless the gateway answers and the model (and GATEWAY_MODEL_VERSION, if set) is served, READY, and an image classifier. */
export function setup(): void {
  try {
    connect();
  } catch (err) {
    fail(unreachableMessage(settings.grpcAddr, 'GATEWAY_GRPC_ADDR', String(err)));
  }
  const res = client.invoke(GRPC_LIST_MODELS, {}, { metadata, tags: { name: 'setup' } });
  client.close();
  connected = false;
  const problem = res.status === grpc.StatusOK ? modelProblem(findModel(parseAnswer(res.message), settings.model), { name: settings.model, kind: 'image-classifier', version: settings.version }) : `ListModels at ${settings.grpcAddr} failed with status ${res.status}: ${JSON.stringify(res.error)}`;
  if (problem !== undefined) fail(problem);
}

export default function (): void {
  connect();
  const item = items[exec.scenario.iterationInTest % items.length]!;
  const res = client.invoke(GRPC_CLASSIFY, item.message, { metadata, ...callTimeout, tags: { name: 'Classify' } });
  const statusOk = check(res, { 'status is OK': (r) => r.status === grpc.StatusOK });
  const answerOk = check(parseAnswer(res.message), item.checks);
  errors.add(!(statusOk && answerOk));
  const reason = grpcFailureReason({ status: res.status, headers: res.headers, trailers: res.trailers }, statusOk && answerOk);
  if (reason !== undefined) failed[reason].add(1, { status: String(res.status) });
}
