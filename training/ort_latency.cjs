// Times ONNX graphs with onnxruntime-node under the gateway's CPU session options (graph
// optimisation 'all', sequential, one inter-op thread, no spinning, intra-op threads as
// given): the engine of the NAS latency table. Usage:
// node ort_latency.cjs <nodeModulesDir> <spec.json>
// spec: {"intraOpThreads": 1, "warmup": 10, "rounds": 5, "runsPerRound": 20, "interleave": false,
//        "passes": 1, "profileRuns": 0, "profileDir": "/tmp/x",
//        "graphs": [{"id": "...", "file": "x.onnx", "input": "input", "dims": [1, 16, 32, 32], "profile": true}]}
// Prints one JSON line: {"rounds": {"<id>": [mean ms of each round]}, "profiles": {"<id>": profile}}.
// Without "interleave", the graphs are timed one after the other, `passes` times over (every
// other pass in reverse order), each pass adding `rounds` rounds.
// With "interleave" every session is opened first and round r of every graph runs before
// round r + 1 of any, so a neighbour's burst of load lands on all graphs alike.
// A graph with "profile" is then run `profileRuns` more times (after the warm-up) in a second
// session with onnxruntime's per-node profiling: its profile is {"names": [node names in
// execution order], "us": [[each node's kernel µs] per run], "runUs": [model_run µs per run]},
// so a node's time is measured inside its whole network (cache and neighbours as served).
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
  function feedsFor(g) {
    const n = g.dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37); // fixed, non-constant input
    return { [g.input]: new ort.Tensor('float32', data, g.dims) };
  }
  async function open(g) {
    const sess = await ort.InferenceSession.create(g.file, options);
    const feeds = feedsFor(g);
    for (let i = 0; i < spec.warmup; i++) await sess.run(feeds);
    return { id: g.id, sess, feeds };
  }
  async function round(s) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < spec.runsPerRound; i++) await s.sess.run(s.feeds);
    return Number(process.hrtime.bigint() - t0) / 1e6 / spec.runsPerRound;
  }
  async function profile(g, k) {
    const prefix = path.join(spec.profileDir, `p${k}`);
    const sess = await ort.InferenceSession.create(g.file, { ...options, enableProfiling: true, profileFilePrefix: prefix });
    const feeds = feedsFor(g);
    for (let i = 0; i < spec.warmup + spec.profileRuns; i++) await sess.run(feeds);
    sess.endProfiling();
    await sess.release();
    const file = fs.readdirSync(spec.profileDir).filter((f) => f.startsWith(`p${k}_`) && f.endsWith('.json'));
    if (file.length !== 1) throw new Error(`profile of ${g.id}: expected one file ${prefix}_*.json, found ${file}`);
    const full = path.join(spec.profileDir, file[0]);
    const events = JSON.parse(fs.readFileSync(full, 'utf8'));
    fs.unlinkSync(full);
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts);
    const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).sort((a, b) => a.ts - b.ts);
    const out = { names: null, us: [], runUs: [] };
    let j = 0;
    for (let r = 0; r < runs.length; r++) {
      const end = runs[r].ts + runs[r].dur;
      const names = [];
      const us = [];
      while (j < nodes.length && nodes[j].ts < runs[r].ts) j++;
      for (; j < nodes.length && nodes[j].ts <= end; j++) {
        names.push(nodes[j].name.slice(0, -'_kernel_time'.length));
        us.push(nodes[j].dur);
      }
      if (r < spec.warmup) continue;
      if (out.names === null) out.names = names;
      else if (names.join('\n') !== out.names.join('\n')) throw new Error(`profile of ${g.id}: run ${r} ran other nodes`);
      out.us.push(us);
      out.runUs.push(runs[r].dur);
    }
    if (out.us.length !== spec.profileRuns) {
      throw new Error(`profile of ${g.id}: ${out.us.length} profiled runs, expected ${spec.profileRuns}`);
    }
    return out;
  }
  const out = { rounds: {}, profiles: {} };
  if (spec.interleave) {
    const open_ = [];
    for (const g of spec.graphs) open_.push(await open(g));
    for (const s of open_) out.rounds[s.id] = [];
    for (let r = 0; r < spec.rounds; r++) for (const s of open_) out.rounds[s.id].push(await round(s));
    for (const s of open_) await s.sess.release();
    for (let k = 0; k < spec.graphs.length; k++) {
      if (spec.graphs[k].profile) out.profiles[spec.graphs[k].id] = await profile(spec.graphs[k], k);
    }
  } else {
    for (const g of spec.graphs) out.rounds[g.id] = [];
    for (let pass = 0; pass < (spec.passes || 1); pass++) {
      // odd passes go backwards: a load that rises or falls over the run lands on every graph alike
      const order = spec.graphs.map((g, k) => k);
      if (pass % 2 === 1) order.reverse();
      for (const k of order) {
        const g = spec.graphs[k];
        const s = await open(g);
        for (let r = 0; r < spec.rounds; r++) out.rounds[g.id].push(await round(s));
        await s.sess.release();
        if (g.profile && pass === 0) out.profiles[g.id] = await profile(g, k); // back-to-back with its timing
      }
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String((e && e.stack) || e) + '\n'); process.exit(1); });
