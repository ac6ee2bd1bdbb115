// Times ONNX graphs with onnxruntime-node under the gateway's CPU session options (graph
// optimisation 'all', sequential, one inter-op thread, no spinning, intra-op threads as
// given): the engine of the NAS latency table. Usage:
// node ort_latency.cjs <nodeModulesDir> <spec.json>
// spec: {"intraOpThreads": 1, "warmup": 10, "rounds": 5, "runsPerRound": 20, "interleave": false,
//        "graphs": [{"id": "...", "file": "x.onnx", "input": "input", "dims": [1, 16, 32, 32]}]}
// Prints one JSON line: {"<id>": [mean ms of each round], ...}. With "interleave" every
// session is opened first and round r of every graph runs before round r + 1 of any, so a
// neighbour's burst of load lands on all graphs alike instead of on whichever was being timed.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [nodeModules, specFile] = process.argv.slice(2);
  const ort = require(path.join(path.resolve(nodeModules), 'onnxruntime-node'));
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));
  const options = {
    graphOptimizationLevel: 'all', intraOpNumThreads: spec.intraOpThreads, interOpNumThreads: 1,
    executionMode: 'sequential', logSeverityLevel: 3, executionProviders: ['cpu'],
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  async function open(g) {
    const sess = await ort.InferenceSession.create(g.file, options);
    const n = g.dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37); // fixed, non-constant input
    const feeds = { [g.input]: new ort.Tensor('float32', data, g.dims) };
    for (let i = 0; i < spec.warmup; i++) await sess.run(feeds);
    return { id: g.id, sess, feeds };
  }
  async function round(s) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < spec.runsPerRound; i++) await s.sess.run(s.feeds);
    return Number(process.hrtime.bigint() - t0) / 1e6 / spec.runsPerRound;
  }
  const out = {};
  if (spec.interleave) {
    const open_ = [];
    for (const g of spec.graphs) open_.push(await open(g));
    for (const s of open_) out[s.id] = [];
    for (let r = 0; r < spec.rounds; r++) for (const s of open_) out[s.id].push(await round(s));
    for (const s of open_) await s.sess.release();
  } else {
    for (const g of spec.graphs) {
      const s = await open(g);
      out[g.id] = [];
      for (let r = 0; r < spec.rounds; r++) out[g.id].push(await round(s));
      await s.sess.release();
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String((e && e.stack) || e) + '\n'); process.exit(1); });
