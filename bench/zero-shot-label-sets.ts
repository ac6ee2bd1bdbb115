// The label-set part of `npm run bench:zero-shot` (not a test): a gateway (in this process, admin
// API on) registers a 1,000-label and a 20,000-label set over HTTP, then
//   - zero-shot against the 1,000-label set (gRPC ZeroShotClassify, label_set, top_k 5) vs plain
//     image-tower throughput (gRPC Embed, image only) in alternating rounds, 32 clients (target >= 0.8x);
//   - the same against the 20,000-label set, for scale;
//   - the transformers.js zero-shot pipeline given the same 1,000 labels, which tokenizes and
//     re-encodes all of them on every call: timed on a few sequential calls only (it is slow);
//     compared with the gateway's throughput and with its one-call-at-a-time latency (target >= 100x);
//   - memory of the 20,000-label set (matrix bytes, and the process's ArrayBuffer and RSS growth);
//   - the scoring kernel alone: the JS matrix-vector loop vs onnxruntime's Gemm, as the gateway runs
//     it (label-set-gemm.ts: one graph, the set's matrix fed as an input) and with the matrix baked
//     in as an initializer (a graph per set, built by /usr/bin/python3 + onnx as the rest of this
//     bench does), at 1,000 and 20,000 labels x the model's embedding width, one image.
import { execFileSync } from 'node:child_process';
import { cp, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/gateway.js';
import { LabelSetGemm } from '../src/models/label-set-gemm.js';
import { matVec } from '../src/models/label-set-scores.js';
import { topKIndices } from '../src/models/top-k.js';
import { GatewayGrpcClient } from './lib/grpc-client.js';
import type { HfZeroShot } from './zero-shot-hf.js';

export interface LabelSetBenchOptions {
  readonly modelDir: string;
  /** A scratch folder the caller removes. */
  readonly work: string;
  readonly images: readonly Buffer[];
  readonly hf: HfZeroShot;
  readonly template: string;
  readonly requests: number;
  readonly rounds: number;
  readonly concurrency: number;
  /** Sequential transformers.js calls with 1,000 labels (each re-encodes all of them). */
  readonly hfCalls: number;
  readonly drive: (total: number, call: (i: number) => Promise<unknown>) => Promise<number>;
  readonly median: (xs: readonly number[]) => number;
}

const SIZES = ['tiny', 'small', 'little', 'medium', 'large', 'big', 'huge', 'giant', 'thin', 'wide'];
const COLOURS = ['red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'pink', 'black', 'white'];
const SHAPES = ['circle', 'star', 'square', 'triangle', 'hexagon', 'cross', 'heart', 'ring', 'diamond', 'pentagon'];
/** 1,000 distinct labels: size x colour x shape. */
export const LABELS_1K = SIZES.flatMap((s) => COLOURS.flatMap((c) => SHAPES.map((h) => `${s} ${c} ${h}`)));
/** 20,000 distinct labels. */
const LABELS_20K = Array.from({ length: 20 }, (_, k) => LABELS_1K.map((l) => (k === 0 ? l : `${l} number ${k}`))).flat();

export async function labelSetBench(o: LabelSetBenchOptions): Promise<void> {
  const name = basename(o.modelDir);
  await cp(o.modelDir, join(o.work, 'repo-label-sets', name), { recursive: true });
  const gw = await startGateway(parseConfig({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, modelsDir: join(o.work, 'repo-label-sets'), logLevel: 'warn', executionProvider: 'cpu', adminApi: true }));
  const client = new GatewayGrpcClient(`127.0.0.1:${gw.grpcPort}`);
  try {
    await gw.loaded;
    const http = `http://127.0.0.1:${gw.httpPort}`;
    // A full collection before each reading, so the growth is what the set keeps, not garbage.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const settled = (): NodeJS.MemoryUsage => {
      gc();
      return process.memoryUsage();
    };
    const register = async (setName: string, labels: readonly string[]): Promise<{ ms: number; matrixBytes: number; arrayBuffersDelta: number; rssDelta: number }> => {
      const before = settled();
      const t0 = performance.now();
      const res = await fetch(`${http}/v1/label-sets/${setName}?model=${name}`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: `#template: ${o.template}\n${labels.join('\n')}\n` });
      const ms = performance.now() - t0;
      const body = (await res.json()) as { matrix_bytes: number };
      if (res.status !== 200) throw new Error(`PUT ${setName} answered ${res.status}: ${JSON.stringify(body)}`);
      const after = settled();
      return { ms, matrixBytes: body.matrix_bytes, arrayBuffersDelta: after.arrayBuffers - before.arrayBuffers, rssDelta: after.rss - before.rss };
    };
    const reg1k = await register('labels-1k', LABELS_1K);
    const reg20k = await register('labels-20k', LABELS_20K);

    const image = (i: number): Buffer => o.images[i % o.images.length]!;
    const modes = {
      embed: (i: number) => client.unary('Embed', { model: name, image: image(i) }),
      set1k: (i: number) => client.unary('ZeroShotClassify', { model: name, image: image(i), label_set: 'labels-1k', top_k: 5 }),
      set20k: (i: number) => client.unary('ZeroShotClassify', { model: name, image: image(i), label_set: 'labels-20k', top_k: 5 }),
    };
    type Mode = keyof typeof modes;
    const order: Mode[] = ['embed', 'set1k', 'set20k'];
    const results: Record<Mode, number[]> = { embed: [], set1k: [], set20k: [] };
    for (const mode of order) await o.drive(200, modes[mode]);
    for (let r = 0; r < o.rounds; r++) {
      for (const mode of order) results[mode].push(await o.drive(o.requests, modes[mode]));
      console.log(`label sets, round ${r + 1}/${o.rounds}: ${order.map((m) => `${m} ${results[m].at(-1)!.toFixed(1)}`).join(', ')} req/s`);
    }
    // One call at a time: the gateway against the 1,000-label set, and the pipeline with the same labels.
    const sequential = async (calls: number, call: (i: number) => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) await call(i);
      return (performance.now() - t0) / calls;
    };
    const gatewaySeqMs = await sequential(200, modes.set1k);
    await o.hf.classify(image(0), LABELS_1K.slice(0, 20), o.template); // warm-up on a few labels
    const hfMs = await sequential(o.hfCalls, (i) => o.hf.classify(image(i), LABELS_1K, o.template));

    const med = (m: Mode): number => o.median(results[m]);
    const perRound = (a: Mode, b: Mode): string => results[a].map((x, i) => (x / results[b][i]!).toFixed(2)).join(', ');
    const hfPerSecond = 1000 / hfMs;
    console.log(`\nlabel sets: model ${name}, ${o.concurrency} concurrent clients, ${o.requests} requests per mode per round, ${o.rounds} rounds, top_k 5`);
    console.log('| mode | req/s per round | median req/s |');
    console.log('|---|---|---|');
    const row = (label: string, m: Mode): string => `| ${label} | ${results[m].map((x) => x.toFixed(1)).join(' / ')} | ${med(m).toFixed(1)} |`;
    console.log(row('image tower alone (gRPC Embed, image only)', 'embed'));
    console.log(row('zero-shot, 1,000-label set (gRPC ZeroShotClassify label_set)', 'set1k'));
    console.log(row('zero-shot, 20,000-label set', 'set20k'));
    console.log(`| transformers.js pipeline, 1,000 labels, ${o.hfCalls} sequential in-process calls | - | ${hfPerSecond.toFixed(3)} (${hfMs.toFixed(0)} ms per call) |`);
    const r1k = med('set1k') / med('embed');
    console.log(`\n1,000-label set / image tower alone: ${r1k.toFixed(2)}x (rounds: ${perRound('set1k', 'embed')}); target >= 0.8x: ${r1k >= 0.8 ? 'met' : 'NOT met'}`);
    console.log(`20,000-label set / image tower alone: ${(med('set20k') / med('embed')).toFixed(2)}x (rounds: ${perRound('set20k', 'embed')})`);
    const vsHf = med('set1k') / hfPerSecond;
    console.log(`1,000-label set (${o.concurrency} clients) / transformers.js pipeline (its ${o.hfCalls} calls, one at a time): ${vsHf.toFixed(0)}x; target >= 100x: ${vsHf >= 100 ? 'met' : 'NOT met'}`);
    console.log(`one call at a time: gateway ${gatewaySeqMs.toFixed(2)} ms vs pipeline ${hfMs.toFixed(0)} ms: ${(hfMs / gatewaySeqMs).toFixed(0)}x`);
    const mib = (b: number): string => (b / 1048576).toFixed(2);
    console.log(`registration (PUT, text body, encoded in batches): 1,000 labels ${reg1k.ms.toFixed(0)} ms; 20,000 labels ${reg20k.ms.toFixed(0)} ms`);
    console.log(`memory of the 20,000-label set: matrix ${mib(reg20k.matrixBytes)} MiB (20,000 x width x 4 bytes); after a full GC, process ArrayBuffers +${mib(reg20k.arrayBuffersDelta)} MiB, RSS +${mib(reg20k.rssDelta)} MiB across its PUT (RSS also keeps what the allocators hold after the text batches)`);

    const width = reg1k.matrixBytes / (LABELS_1K.length * 4);
    await scoringKernels(o.work, width);
  } finally {
    client.close();
    await gw.shutdown();
  }
}

const GEMM_PY = `
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
n, d, src, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = np.fromfile(src, dtype=np.float32).reshape(n, d)
g = helper.make_graph([helper.make_node('Gemm', ['image', 'labels'], ['sims'], transB=1)], 'label_set',
  [helper.make_tensor_value_info('image', TensorProto.FLOAT, [1, d])], [helper.make_tensor_value_info('sims', TensorProto.FLOAT, [1, n])],
  [numpy_helper.from_array(m, 'labels')])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]), out)
`;

/** JS matVec + heap top-5 vs onnxruntime Gemm (matrix baked in) + heap top-5; median of 5 repeats, µs per image. */
async function scoringKernels(work: string, width: number): Promise<void> {
  console.log(`\nscoring kernel, one image x n labels x ${width} floats (in-process, this thread; median of 5 repeats):`);
  console.log('| labels | JS loop (µs) | ONNX Gemm, matrix as input (the gateway\'s, µs) | ONNX Gemm, matrix as initializer (µs) | max abs diff |');
  console.log('|---|---|---|---|---|');
  const gemm = await LabelSetGemm.create();
  for (const n of [1000, 20_000]) {
    let seed = 1;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
    const matrix = Float32Array.from({ length: n * width }, random);
    const image = Float32Array.from({ length: width }, random);
    const bin = join(work, `m${n}.bin`);
    const onnxPath = join(work, `gemm${n}.onnx`);
    await writeFile(bin, new Uint8Array(matrix.buffer));
    execFileSync('/usr/bin/python3', ['-c', GEMM_PY, String(n), String(width), bin, onnxPath]);
    const session = await ort.InferenceSession.create(onnxPath, { executionProviders: ['cpu'], intraOpNumThreads: 1, logSeverityLevel: 3 });
    const set = { labels: new Array<string>(n).fill(''), matrix, width };
    const iterations = n === 1000 ? 2000 : 200;
    const timeIt = async (run: () => unknown): Promise<number> => {
      const repeats: number[] = [];
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        for (let i = 0; i < iterations; i++) await run();
        repeats.push(((performance.now() - t0) / iterations) * 1000);
      }
      return repeats.sort((a, b) => a - b)[2]!;
    };
    const feeds = { image: new ort.Tensor('float32', image, [1, width]) };
    const js = await timeIt(() => topKIndices(matVec(set, image), 5));
    const asInput = await timeIt(async () => topKIndices(await gemm.similarities(set, image), 5));
    const baked = await timeIt(async () => topKIndices((await session.run(feeds))['sims']!.data as Float32Array, 5));
    const a = matVec(set, image);
    let diff = 0;
    for (const b of [await gemm.similarities(set, image), (await session.run(feeds))['sims']!.data as Float32Array]) for (let i = 0; i < n; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    console.log(`| ${n} | ${js.toFixed(1)} | ${asInput.toFixed(1)} | ${baked.toFixed(1)} | ${diff.toExponential(1)} |`);
    await session.release();
  }
  await gemm.release();
}
