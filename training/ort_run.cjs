// Runs one ONNX graph with onnxruntime-node (the gateway's runtime) over a raw little-endian
// float32 (or int64) input file in batches, and writes the outputs as raw float32: the engine
// of `gateway-training eval --onnx` and `calibrate`. Usage:
// node ort_run.cjs <nodeModulesDir> <model.onnx> <inputName> <outputName> <input.bin> <dimsJson> <output.f32> [batch] [float32|int64]
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [nodeModules, model, inputName, outputName, inFile, dimsJson, outFile, batchArg, dtypeArg] = process.argv.slice(2);
  const dtype = dtypeArg || 'float32';
  const ort = require(path.join(path.resolve(nodeModules), 'onnxruntime-node'));
  const dims = JSON.parse(dimsJson);
  const buf = fs.readFileSync(inFile);
  const own = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length); // aligned copy for the typed array
  const x = dtype === 'int64' ? new BigInt64Array(own) : new Float32Array(own);
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  if (x.length !== dims[0] * per) throw new Error(`${inFile}: ${x.length} values, dims ${dimsJson} need ${dims[0] * per}`);
  const sess = await ort.InferenceSession.create(model);
  const batch = Number(batchArg || 256);
  const chunks = [];
  for (let i = 0; i < dims[0]; i += batch) {
    const n = Math.min(batch, dims[0] - i);
    const r = await sess.run({ [inputName]: new ort.Tensor(dtype, x.slice(i * per, (i + n) * per), [n, ...dims.slice(1)]) });
    chunks.push(Buffer.from(r[outputName].data.buffer, r[outputName].data.byteOffset, r[outputName].data.byteLength));
  }
  fs.writeFileSync(outFile, Buffer.concat(chunks));
}

main().catch((e) => { process.stderr.write(String((e && e.stack) || e) + '\n'); process.exit(1); });
