// ONNX Runtime parity for an exported classifier: runs <versionDir>/model.onnx with
// onnxruntime-node (the gateway's runtime; Python has no onnxruntime on these machines)
// on every golden input, one at a time and all in one batch (dynamic batch axis), and
// prints {"single": maxAbsDiff, "batched": maxAbsDiff, "items": n} against PyTorch's
// golden outputs. Usage: node ort_parity.cjs <repoRoot> <versionDir>
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

async function main() {
  const [repoRoot, vdir] = process.argv.slice(2);
  const ort = createRequire(path.join(path.resolve(repoRoot), 'package.json'))('onnxruntime-node');
  const gdir = path.join(vdir, 'golden');
  const index = JSON.parse(fs.readFileSync(path.join(gdir, 'index.json'), 'utf8'));
  const readF32 = (f) => { const b = fs.readFileSync(path.join(gdir, f)); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
  const maxDiff = (a, b) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
  const sess = await ort.InferenceSession.create(path.join(vdir, 'model.onnx'));
  const out = { single: 0, batched: 0, items: index.items.length };
  const inputs = index.items.map((it) => readF32(it.input));
  const refs = index.items.map((it) => readF32(it.output));
  for (let i = 0; i < inputs.length; i++) {
    const r = await sess.run({ input: new ort.Tensor('float32', inputs[i], index.items[i].inputShape) });
    out.single = Math.max(out.single, maxDiff(r.logits.data, refs[i]));
  }
  const per = inputs[0].length;
  const data = new Float32Array(per * inputs.length);
  inputs.forEach((x, i) => data.set(x, i * per));
  const dims = index.items[0].inputShape.slice(1);
  const r = await sess.run({ input: new ort.Tensor('float32', data, [inputs.length, ...dims]) });
  const n = refs[0].length;
  refs.forEach((ref, i) => { out.batched = Math.max(out.batched, maxDiff(r.logits.data.subarray(i * n, (i + 1) * n), ref)); });
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
