// The reranking part of `npm run bench:zero-shot` (not a test): what the cross-modal reranker of a
// clip model (clip.reranker in model.json) gains in accuracy and costs in throughput. A gateway in
// this process serves a copy of the model folder; the test images of the procedural shapes set
// (easy and hard benchmark, rendered by the training package: /usr/bin/python3) are classified
// against all 64 colour x shape labels through the model's template, cosine only and with the
// cosine top-k reranked; then cosine-only and reranked zero-shot (gRPC ZeroShotClassify, the same
// 64 labels, prompt cache warm) run in alternating rounds at `concurrency` clients.
//   npm run bench:zero-shot -- --rerank only [--rerank-per-class 8] [--rerank-k 2,3,5] [--requests 1000] [--rounds 3]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/gateway.js';
import { GatewayGrpcClient } from './lib/grpc-client.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface RerankBenchOptions {
  readonly modelDir: string;
  /** A scratch folder the caller removes. */
  readonly work: string;
  readonly requests: number;
  readonly rounds: number;
  readonly concurrency: number;
  /** Test images per colour-shape class and benchmark. */
  readonly perClass: number;
  /** Rerank depths measured. */
  readonly depths: readonly number[];
  readonly drive: (total: number, call: (i: number) => Promise<unknown>) => Promise<number>;
  readonly median: (xs: readonly number[]) => number;
}

interface TestImage {
  readonly label: string;
  readonly heldout: boolean;
  readonly png: Buffer;
}

interface Answer {
  labels: { label: string }[];
  rerank?: { inference_ms: number; batch_size: number };
}

/** The test split of the easy or hard benchmark, `perClass` images per class, rendered by training/data/shapes.py. */
function renderTestSet(difficulty: 'easy' | 'hard', perClass: number, dir: string): TestImage[] {
  const script = `
import json, sys
from training.data.shapes import ShapesConfig, class_names, hard_config, is_heldout, render
per_class, out, difficulty = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cfg = hard_config() if difficulty == "hard" else ShapesConfig()
rows = []
for label, name in enumerate(class_names()):
    for i in range(per_class):
        path = f"{out}/{difficulty}_{label}_{i}.png"
        render(cfg.seed, "test", i, label, cfg).save(path, optimize=False)
        rows.append({"path": path, "label": name.replace("_", " "), "heldout": is_heldout(*name.split("_", 1))})
print(json.dumps(rows))
`;
  const stdout = execFileSync('/usr/bin/python3', ['-c', script, String(perClass), dir, difficulty], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return (JSON.parse(stdout) as { path: string; label: string; heldout: boolean }[]).map((r) => ({ label: r.label, heldout: r.heldout, png: readFileSync(r.path) }));
}

export async function rerankBench(o: RerankBenchOptions): Promise<void> {
  const manifest = JSON.parse(await readFile(join(o.modelDir, 'model.json'), 'utf8')) as { clip: { templates: string[]; reranker?: { maxTopK: number; template: string } } };
  if (!manifest.clip.reranker) {
    console.log(`\nreranking: ${o.modelDir} has no reranker (clip.reranker in model.json); skipped`);
    return;
  }
  const name = basename(o.modelDir);
  const template = manifest.clip.templates[0]!;
  const colours = ['red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'pink'];
  const shapes = ['circle', 'square', 'triangle', 'star', 'hexagon', 'cross', 'heart', 'crescent'];
  const labels = colours.flatMap((c) => shapes.map((s) => `${c} ${s}`));
  const dir = await mkdtemp(join(o.work, 'rerank-images-'));
  const sets = { easy: renderTestSet('easy', o.perClass, dir), hard: renderTestSet('hard', o.perClass, dir) };
  const repo = join(o.work, 'rerank-repo');
  await cp(o.modelDir, join(repo, name), { recursive: true });
  const gw = await startGateway(parseConfig({ host: '127.0.0.1', httpPort: 0, grpcPort: 0, modelsDir: repo, logLevel: 'warn', executionProvider: 'cpu' }));
  const client = new GatewayGrpcClient(`127.0.0.1:${gw.grpcPort}`);
  try {
    await gw.loaded;
    const ask = async (png: Buffer, k: number): Promise<Answer> => {
      const res = await fetch(`http://127.0.0.1:${gw.httpPort}/v1/zero-shot`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: name, image: png.toString('base64'), labels, template, top_k: 1, ...(k > 0 ? { rerank: true, rerank_top_k: k } : { rerank: false }) }),
      });
      if (res.status !== 200) throw new Error(`gateway /v1/zero-shot answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as Answer;
    };
    const modes = [0, ...o.depths];
    const modeName = (k: number): string => (k === 0 ? 'cosine only' : `cosine top-${k} reranked`);
    console.log(`\nreranking, accuracy: top-1 over ${labels.length} colour x shape labels (template ${JSON.stringify(template)}), ${o.perClass} test images per class of each benchmark`);
    console.log('| benchmark | mode | seen pairs | held-out pairs | all |');
    console.log('|---|---|---|---|---|');
    for (const [set, images] of Object.entries(sets)) {
      for (const k of modes) {
        const answers = new Array<Answer>(images.length);
        await o.drive(images.length, async (i) => {
          answers[i] = await ask(images[i]!.png, k);
        });
        const acc = (keep: (img: TestImage) => boolean): string => {
          const idx = images.flatMap((img, i) => (keep(img) ? [i] : []));
          return `${((100 * idx.filter((i) => answers[i]!.labels[0]!.label === images[i]!.label).length) / idx.length).toFixed(1)} % (${idx.length})`;
        };
        console.log(`| ${set} | ${modeName(k)} | ${acc((img) => !img.heldout)} | ${acc((img) => img.heldout)} | ${acc(() => true)} |`);
      }
    }

    const images = sets.easy.map((img) => img.png);
    const rerankRuns: { inference_ms: number; batch_size: number }[][] = modes.map(() => []);
    const call = (k: number, slot: number) => async (i: number) => {
      const reply = await client.unary<{ rerank: { inference_ms: number; batch_size: number } | null }>('ZeroShotClassify', { model: name, image: images[i % images.length], labels, templates: [template], top_k: 1, rerank: k > 0, rerank_top_k: k });
      if (reply.rerank) rerankRuns[slot]!.push(reply.rerank);
    };
    for (const [slot, k] of modes.entries()) await o.drive(200, call(k, slot));
    for (const runs of rerankRuns) runs.length = 0;
    const results: number[][] = modes.map(() => []);
    for (let r = 0; r < o.rounds; r++) {
      for (const [slot, k] of modes.entries()) results[slot]!.push(await o.drive(o.requests, call(k, slot)));
      console.log(`round ${r + 1}/${o.rounds}: ${modes.map((k, slot) => `${modeName(k)} ${results[slot]!.at(-1)!.toFixed(1)}`).join(', ')} req/s`);
    }
    console.log(`\nreranking, throughput: gRPC ZeroShotClassify, ${labels.length} labels (prompt cache warm), ${o.concurrency} concurrent clients, ${o.requests} requests per mode per round, ${o.rounds} rounds, CPU`);
    console.log('| mode | req/s per round | median req/s | vs cosine only | reranker run (mean ms, mean images per run) |');
    console.log('|---|---|---|---|---|');
    const base = o.median(results[0]!);
    for (const [slot, k] of modes.entries()) {
      const runs = rerankRuns[slot]!;
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
      const run = runs.length > 0 ? `${mean(runs.map((x) => x.inference_ms)).toFixed(2)} ms, ${mean(runs.map((x) => x.batch_size)).toFixed(1)}` : '-';
      console.log(`| ${modeName(k)} | ${results[slot]!.map((x) => x.toFixed(1)).join(' / ')} | ${o.median(results[slot]!).toFixed(1)} | ${(o.median(results[slot]!) / base).toFixed(2)}x | ${run} |`);
    }
  } finally {
    client.close();
    await gw.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
}
