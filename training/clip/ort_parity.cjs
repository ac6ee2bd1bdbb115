// ONNX Runtime parity for a MiniCLIP export: runs image_encoder.onnx and text_encoder.onnx
// with onnxruntime-node (the runtime the gateway uses; Python has no onnxruntime here) on
// every golden input, one at a time and all in one batch (the dynamic batch axis), and
// prints {"image": maxAbsDiff, "text": maxAbsDiff, ...} against PyTorch's golden outputs.
// Usage: node ort_parity.cjs <repoRoot> <versionDir>
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

async function main() {
  const [repoRoot, vdir] = process.argv.slice(2);
  const ort = createRequire(path.join(path.resolve(repoRoot), 'package.json'))('onnxruntime-node');
  const manifest = JSON.parse(fs.readFileSync(path.join(vdir, '..', 'model.json'), 'utf8')).clip;
  const gdir = path.join(vdir, 'golden');
  const index = JSON.parse(fs.readFileSync(path.join(gdir, 'index.json'), 'utf8'));
  const readF32 = (f) => { const b = fs.readFileSync(path.join(gdir, f)); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
  const maxDiff = (a, b) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
  const out = { image: 0, text: 0, imageBatched: 0, textBatched: 0, items: 0 };
  for (const kind of ['image', 'text']) {
    const enc = kind === 'image' ? manifest.imageEncoder : manifest.textEncoder;
    const sess = await ort.InferenceSession.create(path.join(vdir, enc.file));
    const items = index.items.filter((it) => it.kind === kind);
    const feeds = items.map((it) => (kind === 'image'
      ? new ort.Tensor('float32', readF32(it.input), it.inputShape)
      : new ort.Tensor('int64', BigInt64Array.from(it.inputIds.map(BigInt)), [1, it.inputIds.length])));
    const refs = items.map((it) => readF32(it.output));
    for (let i = 0; i < items.length; i++) {
      const r = await sess.run({ [enc.input]: feeds[i] });
      out[kind] = Math.max(out[kind], maxDiff(r[enc.output].data, refs[i]));
      out.items++;
    }
    // one batch of all items: same numbers expected
    const dims = feeds[0].dims.slice(1);
    const per = feeds[0].data.length;
    const data = kind === 'image' ? new Float32Array(per * feeds.length) : new BigInt64Array(per * feeds.length);
    feeds.forEach((f, i) => data.set(f.data, i * per));
    const r = await sess.run({ [enc.input]: new ort.Tensor(kind === 'image' ? 'float32' : 'int64', data, [feeds.length, ...dims]) });
    const got = r[enc.output].data;
    const n = refs[0].length;
    refs.forEach((ref, i) => { out[`${kind}Batched`] = Math.max(out[`${kind}Batched`], maxDiff(got.subarray(i * n, (i + 1) * n), ref)); });
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
