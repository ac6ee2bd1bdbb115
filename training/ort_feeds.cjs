// Runs one ONNX graph with onnxruntime-node (the gateway's runtime) once on several named
// inputs, each a raw little-endian float32 or int64 file, and writes one output as raw
// float32: graphs with more than one input (the cross-modal model: images and token ids).
// Usage: node ort_feeds.cjs <nodeModulesDir> <model.onnx> <spec.json> <output.f32>
// spec.json: {"inputs": {"<name>": {"file": "...", "dims": [..], "dtype": "float32"|"int64"}}, "output": "<name>"}
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [nodeModules, model, specFile, outFile] = process.argv.slice(2);
  const ort = require(path.join(path.resolve(nodeModules), 'onnxruntime-node'));
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));
  const feeds = {};
  for (const [name, inp] of Object.entries(spec.inputs)) {
    const buf = fs.readFileSync(inp.file);
    const own = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length); // aligned copy for the typed array
    const data = inp.dtype === 'int64' ? new BigInt64Array(own) : new Float32Array(own);
    feeds[name] = new ort.Tensor(inp.dtype, data, inp.dims);
  }
  const sess = await ort.InferenceSession.create(model);
  const r = await sess.run(feeds);
  const y = r[spec.output].data;
  fs.writeFileSync(outFile, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
  process.stdout.write(JSON.stringify({ dims: r[spec.output].dims }) + '\n');
}

main().catch((e) => { process.stderr.write(String((e && e.stack) || e) + '\n'); process.exit(1); });
