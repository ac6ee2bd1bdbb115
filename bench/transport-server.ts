// Reference for `npm run bench`: the protocols alone. The gateway's own gRPC service definition and
// server options (@grpc/grpc-js) and a fastify POST /v1/classify, both answering every Classify
// with the same canned response, no decoding and no inference. Its throughput on the benchmark's
// cores is what the transport costs before any model work; combined with the in-process limit
// it bounds what any gateway on these protocols can serve on this machine, and its one-at-a-time
// p50 is the floor of the low-load overhead. A third listener answers Classify the same way from a
// bare node:http2 stream handler with the same codecs and gRPC framing, no grpc-js: what a lean
// unary path could cost at best (`npm run bench:protocol-floor` compares the two).
//   node --import tsx bench/transport-server.ts [--host 127.0.0.1]
// Prints one JSON line {"msg":"server ready","grpcPort":N,"httpPort":N,"rawH2Port":N} on stdout once it listens.
import http2 from 'node:http2';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import Fastify from 'fastify';
import { CONNECTION_WINDOW_STREAMS, raiseReceiveWindows } from '../src/server/grpc-flow-control.js';
import { loadGatewayProto } from '../src/server/grpc.js';
import { hostPort } from '../src/server/host-port.js';
import { H2UnaryCaller } from './lib/h2-grpc.js';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' } } });
const host = values.host;

// The shape of a real top-1 answer, so both sides serialize what the gateway would.
const answer = {
  model: 'shapes-mobilenetv3',
  version: '1',
  labels: [{ label: 'circle', score: 0.98, index: 0 }],
  timing: { preprocess_ms: 0, queue_ms: 0, inference_ms: 0, total_ms: 0 },
  batch_size: 1,
  request_id: 'transport',
};

const { grpcObject } = loadGatewayProto();
const pkg = (grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
const server = new grpc.Server({ 'grpc.max_receive_message_length': 10 * 2 ** 20, 'grpc.max_send_message_length': 16 * 1024 * 1024 });
server.addService((pkg['InferenceGateway'] as grpc.ServiceClientConstructor).service, {
  Classify: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, answer),
});
const grpcPort = await new Promise<number>((resolve, reject) =>
  server.bindAsync(hostPort(host, 0), grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
);
// The gateway's default HTTP/2 windows (4 MiB per stream, 4x that per connection), on both gRPC listeners.
const STREAM_WINDOW_BYTES = 4 * 2 ** 20;
const windowProblem = raiseReceiveWindows(server, STREAM_WINDOW_BYTES);
if (windowProblem) throw new Error(windowProblem);

// The bare HTTP/2 listener: decodes the request and encodes the answer with grpc-js's own codecs
// for the method (protobufjs underneath), frames it, and ends with the grpc-status trailer.
const classify = (pkg['InferenceGateway'] as grpc.ServiceClientConstructor).service['Classify']!;
const CLASSIFY_PATH = classify.path;
const raw = http2.createServer({ settings: { initialWindowSize: STREAM_WINDOW_BYTES } });
raw.on('session', (session) => session.setLocalWindowSize(STREAM_WINDOW_BYTES * CONNECTION_WINDOW_STREAMS));
raw.on('stream', (stream, headers) => {
  if (headers[':path'] !== CLASSIFY_PATH) {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': 'unimplemented' }, { endStream: true });
    return;
  }
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    classify.requestDeserialize(body.subarray(5, 5 + body.readUInt32BE(1)));
    const frame = H2UnaryCaller.frame(classify.responseSerialize(answer));
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  });
});
const rawH2Port = await new Promise<number>((resolve) => raw.listen(0, host, () => resolve((raw.address() as { port: number }).port)));

const app = Fastify({ bodyLimit: 10 * 2 ** 20 });
app.addContentTypeParser(/^image\//, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/v1/classify', async () => answer);
await app.listen({ host, port: 0 });
const address = app.server.address();
const httpPort = typeof address === 'object' && address ? address.port : 0;
process.stdout.write(`${JSON.stringify({ msg: 'server ready', grpcPort, httpPort, rawH2Port })}\n`);

const stop = (): void => {
  server.forceShutdown();
  raw.close();
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
