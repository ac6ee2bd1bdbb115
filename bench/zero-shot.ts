// Benchmark (not a test): zero-shot throughput with a fixed set of 20 labels repeated across
// requests, 32 concurrent clients, side by side in one run:
//   - the gateway: gRPC ZeroShotClassify (prompt cache warm) and, for reference, gRPC Embed of the
//     image alone (preprocessing, batching, image tower);
//   - the REAL transformers.js zero-shot pipeline (@huggingface/transformers,
//     pipeline('zero-shot-image-classification', <local folder>), which tokenizes and re-encodes
//     every label on every call) on the same ONNX files (bench/zero-shot-hf.ts), behind the same
//     gRPC transport (a bare gRPC server answering ZeroShotClassify with one pipeline call per
//     request) and called in-process (no transport);
//   - the transport alone (the bare gRPC server answering a constant), the ceiling of any server here.
// Before timing, the pipeline's scores are checked against the gateway's POST /v1/zero-shot on the
// model's golden images and a few bench images. Modes run in alternating rounds (load on a shared
// machine drifts); the table gives each round and the median. After the rounds, one call of each
// is split into its steps, sequentially. Prints `uptime` before and after.
// Then the label-set modes (bench/zero-shot-label-sets.ts): 1,000- and 20,000-label sets against the
// image tower alone and the transformers.js pipeline with 1,000 labels; `--label-sets only` runs just those.
// Then the reranking modes (bench/zero-shot-rerank.ts, when the model has a reranker): accuracy on
// the shapes test sets cosine only vs the cosine top-k reranked, and the throughput each costs;
// `--rerank only` runs just those.
//   npm run bench:zero-shot -- [--model-dir models/miniclip-shapes] [--requests 1000] [--rounds 3] [--concurrency 32] [--split-calls 200] [--label-sets on|off|only] [--hf-calls 3] [--rerank on|off|only] [--rerank-per-class 8] [--rerank-k 2,3,5]
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/gateway.js';
import { configureOrtTelemetry } from '../src/models/ort-telemetry.js';
import { loadGatewayProto } from '../src/server/grpc.js';
import { GatewayGrpcClient } from './lib/grpc-client.js';
import { type PipelineAnswer, hfFolderFor, loadHfZeroShot } from './zero-shot-hf.js';
import { labelSetBench } from './zero-shot-label-sets.js';
import { rerankBench } from './zero-shot-rerank.js';

// As the gateway does by default: onnxruntime's usage telemetry off before the first session.
configureOrtTelemetry(false);

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: join(ROOT, 'models', 'miniclip-shapes') },
    requests: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    'split-calls': { type: 'string', default: '200' },
    'label-sets': { type: 'string', default: 'on' },
    'hf-calls': { type: 'string', default: '3' },
    rerank: { type: 'string', default: 'on' },
    'rerank-per-class': { type: 'string', default: '8' },
    'rerank-k': { type: 'string', default: '2,3,5' },
  },
});
const requests = Number(values.requests);
const rounds = Number(values.rounds);
const concurrency = Number(values.concurrency);
const splitCalls = Number(values['split-calls']);
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

function unary<T>(client: GatewayGrpcClient, method: string, request: object): Promise<T> {
  return client.unary<T>(method, request);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const uptime = (): string => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime unavailable';
  }
};

interface ZeroShotReply {
  labels: { label: string; score: number }[];
  batch_size: number;
  timing: { preprocess_ms: number; queue_ms: number; inference_ms: number; text_ms: number; total_ms: number };
}

async function main(): Promise<void> {
  const uptimeBefore = uptime();
  const modelDir = values['model-dir'];
  const name = basename(modelDir);
  const work = await mkdtemp(join(tmpdir(), 'bench-zs-'));
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  let client: GatewayGrpcClient | undefined;
  let pipelineClient: GatewayGrpcClient | undefined;
  let server: grpc.Server | undefined;
  let hf: Awaited<ReturnType<typeof loadHfZeroShot>> | undefined;
  const rerank = (): Promise<void> =>
    rerankBench({ modelDir, work, requests, rounds, concurrency, perClass: Number(values['rerank-per-class']), depths: values['rerank-k'].split(',').map(Number), drive, median });
  try {
    if (values.rerank === 'only') {
      await rerank();
      console.log(`\nuptime before: ${uptimeBefore}\nuptime after:  ${uptime()}`);
      return;
    }
    // The transformers.js folder (same ONNX files + a combined model.onnx) and the pipeline on it.
    const folder = await hfFolderFor(modelDir, join(work, 'hf'));
    const clip = folder.manifest.clip;
    const template = clip.templates[0]!;
    const [h, w] = folder.manifest.preprocessing.size;
    const images = await Promise.all(
      Array.from({ length: 16 }, (_, i) => sharp({ create: { width: w, height: h, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 100 + i * 5, sigma: 40 } } }).png().toBuffer()),
    );
    hf = await loadHfZeroShot(folder);
    const pipe = hf;
    const labelSets = (): Promise<void> =>
      labelSetBench({ modelDir, work, images, hf: pipe, template, requests, rounds, concurrency, hfCalls: Number(values['hf-calls']), drive, median });
    if (values['label-sets'] === 'only') {
      await labelSets();
      console.log(`\nuptime before: ${uptimeBefore}\nuptime after:  ${uptime()}`);
      return;
    }

    // The gateway, in this process, on a copy of the model folder as given.
    await cp(modelDir, join(work, 'repo', name), { recursive: true });
    gw = await startGateway(parseConfig({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, modelsDir: join(work, 'repo'), logLevel: 'warn', executionProvider: 'cpu' }));
    await gw.loaded;
    client = new GatewayGrpcClient(`127.0.0.1:${gw.grpcPort}`);
    const gwClient = client;

    // Agreement: the pipeline's scores against the gateway's POST /v1/zero-shot, same labels and template.
    const golden = join(folder.sourceFiles, 'golden');
    const goldenPngs = (await readdir(golden).catch(() => [] as string[])).filter((f) => f.endsWith('.png')).sort();
    const checks: { what: string; bytes: Buffer }[] = [
      ...(await Promise.all(goldenPngs.map(async (f) => ({ what: `golden/${f}`, bytes: await readFile(join(golden, f)) })))),
      ...images.slice(0, 4).map((bytes, i) => ({ what: `bench image ${i}`, bytes })),
    ];
    console.log(`\nagreement, ${LABELS.length} labels, template ${JSON.stringify(template)}: gateway POST /v1/zero-shot vs transformers.js pipeline`);
    console.log('| image | size | gateway top-1 (score) | transformers.js top-1 (score) | same ranking (20) | max abs score diff |');
    console.log('|---|---|---|---|---|---|');
    let agreeTop1 = 0;
    for (const c of checks) {
      const meta = await sharp(c.bytes).metadata();
      const res = await fetch(`http://127.0.0.1:${gw.httpPort}/v1/zero-shot`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: name, image: c.bytes.toString('base64'), labels: LABELS, template }),
      });
      if (res.status !== 200) throw new Error(`gateway /v1/zero-shot answered ${res.status}: ${await res.text()}`);
      const g = ((await res.json()) as { labels: { label: string; score: number }[] }).labels;
      const p: PipelineAnswer = await pipe.classify(c.bytes, LABELS, template);
      const pScore = new Map(p.map((x) => [x.label, x.score]));
      const diff = Math.max(...g.map((x) => Math.abs(x.score - pScore.get(x.label)!)));
      const same = g.every((x, i) => x.label === p[i]!.label);
      if (g[0]!.label === p[0]!.label) agreeTop1++;
      console.log(`| ${c.what} | ${meta.width}x${meta.height} | ${g[0]!.label} (${g[0]!.score.toFixed(4)}) | ${p[0]!.label} (${p[0]!.score.toFixed(4)}) | ${same ? 'yes' : 'no'} | ${diff.toExponential(1)} |`);
    }
    console.log(`top-1 agrees on ${agreeTop1}/${checks.length} images`);

    // The pipeline behind the same transport: a bare gRPC server answering ZeroShotClassify,
    // one pipeline call per request; or (transport alone) a constant answer.
    let answerConstant = false;
    const constant = { labels: LABELS.map((label, j) => ({ label, score: j === 0 ? 1 : 0 })) };
    const { grpcObject } = loadGatewayProto();
    const service = ((grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['InferenceGateway'] as grpc.ServiceClientConstructor;
    server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20 });
    server.addService(service.service, {
      ZeroShotClassify: (call: grpc.ServerUnaryCall<{ image: Buffer; labels: string[] }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        if (answerConstant) return callback(null, constant);
        pipe.classify(call.request.image, call.request.labels, template).then(
          (labels) => callback(null, { model: name, version: '1', labels }),
          (err: Error) => callback({ code: grpc.status.INTERNAL, details: err.message }),
        );
      },
    });
    const port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    pipelineClient = new GatewayGrpcClient(`127.0.0.1:${port}`);
    const bareClient = pipelineClient;

    const image = (i: number): Buffer => images[i % images.length]!;
    const gatewayTimings: ZeroShotReply[] = [];
    const modes = {
      transport: (i: number) => unary(bareClient, 'ZeroShotClassify', { model: name, image: image(i), labels: LABELS }),
      embed: (i: number) => unary(gwClient, 'Embed', { model: name, image: image(i) }),
      zeroShot: async (i: number) => gatewayTimings.push(await unary<ZeroShotReply>(gwClient, 'ZeroShotClassify', { model: name, image: image(i), labels: LABELS })),
      hfGrpc: (i: number) => unary(bareClient, 'ZeroShotClassify', { model: name, image: image(i), labels: LABELS }),
      hfInProcess: (i: number) => pipe.classify(image(i), LABELS, template),
    };
    type Mode = keyof typeof modes;
    const order: Mode[] = ['transport', 'embed', 'zeroShot', 'hfGrpc', 'hfInProcess'];
    const results: Record<Mode, number[]> = { transport: [], embed: [], zeroShot: [], hfGrpc: [], hfInProcess: [] };
    // Warm-up: fills the prompt cache, JITs every path.
    for (const mode of order) {
      answerConstant = mode === 'transport';
      await drive(200, modes[mode]);
    }
    gatewayTimings.length = 0;
    for (let r = 0; r < rounds; r++) {
      for (const mode of order) {
        answerConstant = mode === 'transport';
        results[mode].push(await drive(requests, modes[mode]));
      }
      console.log(`round ${r + 1}/${rounds}: ${order.map((m) => `${m} ${results[m].at(-1)!.toFixed(1)}`).join(', ')} req/s`);
    }

    // One call of each, split into its steps (sequential, no concurrency).
    const steps: Record<string, number[]> = {};
    for (let i = 0; i < splitCalls; i++) {
      for (const [k, v] of Object.entries(await pipe.classifyTimed(image(i), LABELS, template))) (steps[k] ??= []).push(v);
    }
    const towers = await towerTimes(folder.root, folder.name, clip.contextLength, [h, w], splitCalls);
    const underLoad = gatewayTimings.map((x) => ({ ...x.timing, batch_size: x.batch_size }));
    const sequential: Partial<Record<Mode, number>> = {};
    for (const mode of order) {
      answerConstant = mode === 'transport';
      const t0 = performance.now();
      for (let i = 0; i < splitCalls; i++) await modes[mode](i);
      sequential[mode] = (performance.now() - t0) / splitCalls;
    }

    // Report.
    const med = (m: Mode): number => median(results[m]);
    const row = (label: string, m: Mode): string => `| ${label} | ${results[m].map((x) => x.toFixed(1)).join(' / ')} | ${med(m).toFixed(1)} |`;
    console.log(`\nmodel ${name}, ${LABELS.length} labels repeated across requests, ${concurrency} concurrent clients, CPU; ${requests} requests per mode per round, ${rounds} rounds`);
    console.log(`| mode | req/s per round | median req/s |`);
    console.log('|---|---|---|');
    console.log(row('transport alone (bare gRPC server, constant answer)', 'transport'));
    console.log(row('image encoder alone (gateway gRPC Embed, image only)', 'embed'));
    console.log(row('zero-shot, gateway (gRPC ZeroShotClassify, prompt cache warm)', 'zeroShot'));
    console.log(row('transformers.js pipeline behind the same gRPC transport', 'hfGrpc'));
    console.log(row('transformers.js pipeline, in-process calls (no transport)', 'hfInProcess'));
    const ratio = (a: Mode, b: Mode): string => `${(med(a) / med(b)).toFixed(2)}x (rounds: ${results[a].map((x, i) => (x / results[b][i]!).toFixed(2)).join(', ')})`;
    const vsEncoder = med('zeroShot') / med('embed');
    const vsHf = med('zeroShot') / med('hfGrpc');
    console.log(`\nzero-shot / image encoder alone: ${ratio('zeroShot', 'embed')}; target >= 0.8x: ${vsEncoder >= 0.8 ? 'met' : 'NOT met'}`);
    console.log(`zero-shot / transformers.js pipeline over gRPC: ${ratio('zeroShot', 'hfGrpc')}; target >= 5x: ${vsHf >= 5 ? 'met' : 'NOT met'}`);
    console.log(`zero-shot / transformers.js pipeline in-process: ${ratio('zeroShot', 'hfInProcess')}`);

    const t = underLoad;
    console.log(`\ngateway, zero-shot under load (mean of ${t.length} answers): preprocess ${mean(t.map((x) => x.preprocess_ms)).toFixed(2)} ms, queue ${mean(t.map((x) => x.queue_ms)).toFixed(2)} ms, image batch run ${mean(t.map((x) => x.inference_ms)).toFixed(2)} ms for ${mean(t.map((x) => x.batch_size)).toFixed(1)} images, prompts ${mean(t.map((x) => x.text_ms)).toFixed(3)} ms, total ${mean(t.map((x) => x.total_ms)).toFixed(2)} ms`);
    console.log(`one call at a time (${splitCalls} calls each, mean ms; keys as in the round lines: the table's rows in order):`);
    console.log(`  ${order.map((m) => `${m} ${sequential[m]!.toFixed(2)}`).join(', ')}`);
    const stepSum = Object.values(steps).reduce((a, v) => a + mean(v), 0);
    console.log(`  transformers.js pipeline steps: ${Object.entries(steps).map(([k, v]) => `${k} ${mean(v).toFixed(2)}`).join(', ')} (sum ${stepSum.toFixed(2)})`);
    console.log(`  inside its model run, the towers alone (onnxruntime-node, transformers.js' session options): text tower ${LABELS.length} prompts x ${clip.contextLength} tokens ${towers.text.toFixed(2)}, image tower 1 image ${towers.image.toFixed(2)}`);
    if (values['label-sets'] !== 'off') await labelSets();
    if (values.rerank !== 'off') await rerank();
    console.log(`\nuptime before: ${uptimeBefore}\nuptime after:  ${uptime()}`);
  } finally {
    pipelineClient?.close();
    server?.forceShutdown();
    client?.close();
    await hf?.dispose();
    await gw?.shutdown();
    await rm(work, { recursive: true, force: true });
  }
}

/** Mean ms of the text tower on LABELS.length prompts and of the image tower on one image, separate sessions. */
async function towerTimes(root: string, name: string, contextLength: number, [h, w]: [number, number], calls: number): Promise<{ text: number; image: number }> {
  const options: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3 };
  const text = await ort.InferenceSession.create(join(root, name, 'onnx', 'text_model.onnx'), options);
  const vision = await ort.InferenceSession.create(join(root, name, 'onnx', 'vision_model.onnx'), options);
  try {
    const ids = new ort.Tensor('int64', new BigInt64Array(LABELS.length * contextLength).fill(49407n), [LABELS.length, contextLength]);
    const pixels = new ort.Tensor('float32', new Float32Array(3 * h * w).fill(0.5), [1, 3, h, w]);
    const time = async (run: () => Promise<unknown>): Promise<number> => {
      await run();
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) await run();
      return (performance.now() - t0) / calls;
    };
    return {
      text: await time(() => text.run({ [text.inputNames[0]!]: ids })),
      image: await time(() => vision.run({ [vision.inputNames[0]!]: pixels })),
    };
  } finally {
    await Promise.all([text.release(), vision.release()]);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
