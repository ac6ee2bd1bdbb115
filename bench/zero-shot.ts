// Benchmark (not a test): zero-shot throughput with a fixed set of 20 labels repeated across
// requests, 32 concurrent gRPC clients, against (a) the same image encoder alone (gRPC Embed of
// the image: preprocessing, batching, image tower) and (b) the same computation done the way
// transformers.js' zero-shot pipeline does it: every call tokenizes and re-encodes all its labels
// with the text tower and encodes its image, no cache, no cross-request batching (emulated here on
// the same ONNX files with the gateway's own sessions; @huggingface/transformers is not a
// dependency). Prints a table and the two ratios.
//   npm run bench:zero-shot -- [--model-dir models/miniclip-shapes] [--requests 2000] [--concurrency 32]
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/gateway.js';
import { l2NormalizeInPlace, zeroShotScores } from '../src/models/clip-scores.js';
import { parseManifest } from '../src/models/manifest.js';
import { ImagePreprocessor } from '../src/models/preprocess.js';
import { ModelSession } from '../src/models/session.js';
import { ClipTokenizer } from '../src/models/tokenizer.js';
import { loadGatewayProto } from '../src/server/grpc.js';
import { GatewayClient } from '../test/helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: join(ROOT, 'models', 'miniclip-shapes') },
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const COLOURS = ['red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'pink', 'black', 'white'];
const LABELS = COLOURS.flatMap((c) => [`${c} circle`, `${c} star`]); // 20 labels

/** Keeps `concurrency` calls in flight until `total` completed; returns requests per second. */
async function drive(total: number, call: (i: number) => Promise<unknown>): Promise<number> {
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < total) await call(issued++);
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

function unary(client: GatewayClient, method: string, request: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    client.raw[method]!(request, new grpc.Metadata(), {}, (err: grpc.ServiceError | null, reply: unknown) => (err ? reject(err) : resolve(reply)));
  });
}

async function main(): Promise<void> {
  const modelDir = values['model-dir'];
  const name = basename(modelDir);
  const manifest = parseManifest(JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')), name);
  if (manifest.kind !== 'clip') throw new Error(`${name} is not a clip model`);
  const [h, w] = manifest.preprocessing.size;
  const images = await Promise.all(
    Array.from({ length: 16 }, (_, i) => sharp({ create: { width: w, height: h, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 100 + i * 5, sigma: 40 } } }).png().toBuffer()),
  );

  // (1) and (2): the gateway, in this process, on a copy of the model folder.
  const root = await mkdtemp(join(tmpdir(), 'bench-zs-'));
  await cp(modelDir, join(root, name), { recursive: true });
  const gw = await startGateway(parseConfig({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, modelsDir: root, logLevel: 'warn', executionProvider: 'cpu' }));
  await gw.loaded;
  const client = new GatewayClient(`127.0.0.1:${gw.grpcPort}`);
  let encoderOnly: number;
  let zeroShot: number;
  try {
    const embed = (i: number): Promise<unknown> => unary(client, 'Embed', { model: name, image: images[i % images.length] });
    const classify = (i: number): Promise<unknown> => unary(client, 'ZeroShotClassify', { model: name, image: images[i % images.length], labels: LABELS });
    await drive(200, embed);
    await drive(200, classify); // warm-up; fills the prompt cache
    encoderOnly = await drive(requests, embed);
    zeroShot = await drive(requests, classify);
  } finally {
    client.close();
    await gw.shutdown();
    await rm(root, { recursive: true, force: true });
  }

  // (3) transformers.js-style: per call, tokenize + text tower over all labels, image tower, scores.
  const clip = manifest.clip;
  const vdir = join(modelDir, '1');
  const tokenizer = await ClipTokenizer.load(join(vdir, clip.tokenizer), { contextLength: clip.contextLength, padTokenId: clip.padTokenId });
  const pre = new ImagePreprocessor(manifest.preprocessing, { maxImageBytes: 1 << 24, maxImagePixels: 1 << 26 });
  const text = await ModelSession.open(join(vdir, clip.textEncoder.file), { provider: 'cpu', intraOpThreads: 0 });
  const vision = await ModelSession.open(join(vdir, clip.imageEncoder.file), { provider: 'cpu', intraOpThreads: 0 });
  const L = clip.contextLength;
  const pipelineCall = async (i: number, image: Buffer = images[i % images.length]!): Promise<unknown> => {
    const ids = new BigInt64Array(LABELS.length * L);
    LABELS.forEach((label, j) => tokenizer.encode(`a photo of a ${label}.`).ids.forEach((id, k) => (ids[j * L + k] = BigInt(id))));
    const pixels = await pre.run(image);
    const [t, v] = await Promise.all([
      text.run({ [clip.textEncoder.input]: { data: ids, dims: [LABELS.length, L] } }, [clip.textEncoder.output]),
      vision.run({ [clip.imageEncoder.input]: { data: pixels, dims: [1, ...pre.itemDims] } }, [clip.imageEncoder.output]),
    ]);
    const e = clip.embeddingSize;
    const txt = LABELS.map((_, j) => l2NormalizeInPlace(t[clip.textEncoder.output]!.data.slice(j * e, (j + 1) * e)));
    return zeroShotScores(l2NormalizeInPlace(v[clip.imageEncoder.output]!.data.slice(0, e)), txt, clip.logitScale, false);
  };
  // The same pipeline behind the same transport: a bare gRPC server answering ZeroShotClassify.
  const { grpcObject } = loadGatewayProto();
  const service = ((grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['InferenceGateway'] as grpc.ServiceClientConstructor;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20 });
  server.addService(service.service, {
    ZeroShotClassify: (call: grpc.ServerUnaryCall<{ image: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      pipelineCall(0, call.request.image).then(
        (r) => callback(null, { labels: (r as { scores: number[] }).scores.map((score, j) => ({ label: LABELS[j], score })) }),
        (err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message }),
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const pipelineClient = new GatewayClient(`127.0.0.1:${port}`);
  let pipeline: number;
  let pipelineInProcess: number;
  try {
    const overGrpc = (i: number): Promise<unknown> => unary(pipelineClient, 'ZeroShotClassify', { model: name, image: images[i % images.length], labels: LABELS });
    await drive(100, overGrpc);
    pipeline = await drive(Math.max(200, Math.floor(requests / 2)), overGrpc);
    pipelineInProcess = await drive(Math.max(200, Math.floor(requests / 2)), pipelineCall);
  } finally {
    pipelineClient.close();
    server.forceShutdown();
    await Promise.all([text.release(), vision.release()]);
  }

  console.log(`\nmodel ${name}, ${LABELS.length} labels repeated across requests, ${concurrency} concurrent clients, CPU`);
  console.log('| mode | throughput (req/s) |');
  console.log('|---|---|');
  console.log(`| image encoder alone (gRPC Embed, image only) | ${encoderOnly.toFixed(1)} |`);
  console.log(`| zero-shot, gateway (gRPC ZeroShotClassify, prompt cache warm) | ${zeroShot.toFixed(1)} |`);
  console.log(`| zero-shot, transformers.js-style (re-encode every label per call), same gRPC transport | ${pipeline.toFixed(1)} |`);
  console.log(`| zero-shot, transformers.js-style, in-process calls (no transport) | ${pipelineInProcess.toFixed(1)} |`);
  console.log(`\nzero-shot / image encoder alone: ${(zeroShot / encoderOnly).toFixed(2)}x (target >= 0.8x)`);
  console.log(`zero-shot / transformers.js-style over gRPC: ${(zeroShot / pipeline).toFixed(2)}x (target >= 5x); in-process: ${(zeroShot / pipelineInProcess).toFixed(2)}x`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
