// Baseline for `npm run bench`: the server a Node user would write first. fastify + sharp + one
// onnxruntime-node InferenceSession (created with its defaults), one session.run per request on
// the main thread: no batching, no worker thread, no queue or deadlines. It preprocesses with the
// gateway's own ImagePreprocessor so both servers do the same image work per request; what
// differs is only how requests reach the model. Emulates an outside user, so it imports
// onnxruntime-node itself (the gateway keeps that import in src/models/ort.ts).
//   node --import tsx bench/naive-server.ts --model-dir models/shapes-mobilenetv3 [--port 0]
// Prints one JSON line {"msg":"server ready","httpPort":N} on stdout once it listens.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import * as ort from 'onnxruntime-node';
import { type ClassifierManifest, parseManifest } from '../src/models/manifest.js';
import { configureOrtTelemetry } from '../src/models/ort-telemetry.js';
import { ImagePreprocessor } from '../src/models/preprocess.js';

// As the gateway does by default: onnxruntime's usage telemetry off before the first session.
configureOrtTelemetry(false);

const { values } = parseArgs({ options: { 'model-dir': { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
const modelDir = values['model-dir'];
if (!modelDir) throw new Error('--model-dir is required');

const manifest = parseManifest(JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8'))) as ClassifierManifest;
const labels = (await readFile(join(modelDir, '1', 'labels.txt'), 'utf8').catch(() => readFile(join(modelDir, 'labels.txt'), 'utf8'))).trim().split('\n');
const session = await ort.InferenceSession.create(join(modelDir, '1', manifest.file));
const inputName = manifest.inputs[0]!.name;
const outputName = manifest.outputs[0]!.name;
const preprocessor = new ImagePreprocessor(manifest.preprocessing, { maxImageBytes: 10 * 2 ** 20, maxImagePixels: 40_000_000 });

const app = Fastify({ bodyLimit: 10 * 2 ** 20 });
app.addContentTypeParser(/^image\//, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

app.post<{ Querystring: { top_k?: string } }>('/v1/classify', async (req, reply) => {
  const topK = Number(req.query.top_k ?? 1);
  let input: Float32Array;
  try {
    input = await preprocessor.run(req.body as Buffer);
  } catch (err) {
    return reply.code(400).send({ error: err instanceof Error ? err.message : String(err) });
  }
  const outputs = await session.run({ [inputName]: new ort.Tensor('float32', input, [1, ...preprocessor.itemDims]) });
  const logits = outputs[outputName]!.data as Float32Array;
  const max = Math.max(...logits);
  const exp = Array.from(logits, (v) => Math.exp(v - max));
  const sum = exp.reduce((s, v) => s + v, 0);
  const ranked = exp
    .map((v, index) => ({ label: labels[index] ?? String(index), score: v / sum, index }))
    .sort((a, b) => b.score - a.score)
    .slice(0, topK);
  return { labels: ranked };
});

await app.listen({ host: values.host, port: Number(values.port) });
const address = app.server.address();
const httpPort = typeof address === 'object' && address ? address.port : 0;
process.stdout.write(`${JSON.stringify({ msg: 'server ready', httpPort })}\n`);

const stop = (): void => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
