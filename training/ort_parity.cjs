// ONNX Runtime parity of an exported model folder: runs every graph that <modelDir>/model.json
// names (an image classifier's <version>/model.onnx, or a CLIP's image and text encoders) with
// onnxruntime-node, the gateway's runtime (Python has no onnxruntime on the build machines), on
// every golden input of <versionDir>/golden/index.json, one at a time and all in one batch
// (the dynamic batch axis), against PyTorch's golden outputs. Prints one JSON line:
// {"items": n, "graphs": {"<graph>": {"single": maxAbsDiff, "batched": maxAbsDiff}}, "worst": maxAbsDiff}.
// Usage: node ort_parity.cjs <nodeModulesDir> <versionDir>
'use strict';
const fs = require('fs');
const path = require('path');

function graphsOf(manifest) {
  if (manifest.kind === 'clip') {
    const c = manifest.clip;
    return [
      { name: 'image', kind: 'image', file: c.imageEncoder.file, input: c.imageEncoder.input, output: c.imageEncoder.output },
      { name: 'text', kind: 'text', file: c.textEncoder.file, input: c.textEncoder.input, output: c.textEncoder.output },
    ];
  }
  return [{ name: 'model', kind: 'image', file: 'model.onnx', input: manifest.inputs[0].name, output: manifest.outputs[0].name }];
}

async function main() {
  const [nodeModules, vdir] = process.argv.slice(2);
  const ort = require(path.join(path.resolve(nodeModules), 'onnxruntime-node'));
  const manifest = JSON.parse(fs.readFileSync(path.join(vdir, '..', 'model.json'), 'utf8'));
  const gdir = path.join(vdir, 'golden');
  const index = JSON.parse(fs.readFileSync(path.join(gdir, 'index.json'), 'utf8'));
  const readF32 = (f) => { const b = fs.readFileSync(path.join(gdir, f)); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
  const maxDiff = (a, b) => {
    if (a.length !== b.length) throw new Error(`output has ${a.length} values, golden ${b.length}`);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  };
  const out = { items: 0, graphs: {}, worst: 0 };
  for (const g of graphsOf(manifest)) {
    const items = index.items.filter((it) => (it.kind || 'image') === g.kind);
    if (items.length === 0) throw new Error(`no golden items for graph ${g.name}`);
    const sess = await ort.InferenceSession.create(path.join(vdir, g.file));
    const feeds = items.map((it) => (g.kind === 'image'
      ? new ort.Tensor('float32', readF32(it.input), it.inputShape)
      : new ort.Tensor('int64', BigInt64Array.from(it.inputIds.map(BigInt)), [1, it.inputIds.length])));
    const refs = items.map((it) => readF32(it.output));
    const res = { single: 0, batched: 0 };
    for (let i = 0; i < items.length; i++) {
      const r = await sess.run({ [g.input]: feeds[i] });
      res.single = Math.max(res.single, maxDiff(r[g.output].data, refs[i]));
      out.items++;
    }
    const per = feeds[0].data.length;
    const data = g.kind === 'image' ? new Float32Array(per * feeds.length) : new BigInt64Array(per * feeds.length);
    feeds.forEach((f, i) => data.set(f.data, i * per));
    const r = await sess.run({ [g.input]: new ort.Tensor(g.kind === 'image' ? 'float32' : 'int64', data, [feeds.length, ...feeds[0].dims.slice(1)]) });
    const got = r[g.output].data;
    const n = refs[0].length;
    refs.forEach((ref, i) => { res.batched = Math.max(res.batched, maxDiff(got.subarray(i * n, (i + 1) * n), ref)); });
    out.graphs[g.name] = res;
    out.worst = Math.max(out.worst, res.single, res.batched);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String((e && e.stack) || e) + '\n'); process.exit(1); });
