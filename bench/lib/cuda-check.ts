// Pre-flight of bench/gpu.sh: opens the benchmark's model on onnxruntime's CUDA provider (the
// gateway's own src/models/ort.ts, `cuda` = no fallback) and runs one batch, so a host without a
// usable CUDA provider fails here with onnxruntime's reason instead of minutes into the report.
//   node --import tsx bench/lib/cuda-check.ts <model dir>
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ClassifierManifest, parseManifest } from '../../src/models/manifest.js';
import { openOrtSession, runOrtSession } from '../../src/models/ort.js';
import { ImagePreprocessor } from '../../src/models/preprocess.js';

const modelDir = process.argv[2];
if (!modelDir) throw new Error('usage: cuda-check.ts <model dir>');
const manifest = parseManifest(JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8'))) as ClassifierManifest;
const { session, provider } = await openOrtSession(join(modelDir, '1', manifest.file), { provider: 'cuda', intraOpThreads: 1 });
if (provider !== 'cuda') throw new Error(`session opened on ${provider}, not cuda`);
const pre = new ImagePreprocessor(manifest.preprocessing, { maxImageBytes: 1, maxImagePixels: 1 });
await runOrtSession(session, { [manifest.inputs[0]!.name]: { data: new Float32Array(pre.slotSize), dims: [1, ...pre.itemDims] } }, [manifest.outputs[0]!.name]);
console.log(`CUDA provider OK: ${manifest.file} ran one batch on cuda`);
