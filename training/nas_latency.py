"""The NAS latency table: what every candidate op of every supernet position, the stem and
the head cost inside a whole network, measured with onnxruntime-node (the gateway's runtime,
`ort_latency.cjs`, the gateway's CPU session options) at batch 1 and 8; and the
differentiable expected latency the search adds to its loss.

Ops are timed where they run when served: inside whole children. Reference children cover
every op of every position, `reference_copies` times beside random neighbours and once in a
small network (`reference_children`). Each child is exported as the runs export theirs
(`export_onnx`), timed whole (`passes` x `rounds` rounds of `runs_per_round` runs; the
`quantile` of the round means, by default the fastest: other processes only ever add time,
and on this shared 2-core machine they preempted up to 95 % of the runs of a 2 ms graph, so
the fastest run is the graph's own cost) and, back-to-back in the same process, run `profile_runs`
times with onnxruntime's per-node profiling. Every node's kernel time goes to the block its
name carries (the exporter keeps the module path, /model/blocks/blocks.3/...; the layout
reorders onnxruntime inserts go to the block before them). Profiling adds to what it times
and a run costs more than its kernels (the session's fixed cost, the executor's step per
node, the copies in and out of JavaScript): `fit_overhead` fits wall = a + s x kernels + c x
nodes over the reference children, which turns each op's profiled time into a first
estimate, and `fit_entries` then fits the entries to the children's whole-graph times,
pulled towards those estimates. The predicted latency of an architecture is the stem's, the
head's and its chosen ops' entries summed. Held-out children (the `validate` list, e.g. the
architectures the searches found, and `LatencyConfig.validate` random ones) are timed whole in
the same process, the graphs of all children in one shuffled order; the table records its
error on them."""
from __future__ import annotations

import json
import math
import random
import re
import statistics
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from training.models.supernet import SKIP, ChildNet, OpSpec, SupernetConfig, child_from_names, positions

LATENCY_SCRIPT = Path(__file__).resolve().with_name("ort_latency.cjs")


@dataclass
class LatencyConfig:
    batches: List[int] = field(default_factory=lambda: [1, 8])
    image_size: int = 64
    intra_op_threads: int = 1     # the gateway's default on this 2-core machine (half the cores)
    warmup: int = 10
    rounds: int = 200
    runs_per_round: int = 1        # one run per round: a neighbour's 4 ms scheduler tick spoils fewer
    quantile: float = 0.02         # of the round means (and of the profiled runs)
    interleave: bool = False       # round r of every graph before round r + 1 of any (one node process)
    passes: int = 2                # without interleave: times over every graph (`rounds` each), forwards then back
    opset: int = 17
    profile_runs: int = 100        # per-node profiled runs of each reference child, after its timing
    reference_copies: int = 2      # reference children in which each op of each position is timed
    validate: int = 8              # held-out random children timed whole after the table
    seed: int = 0                  # of the reference and validation children
    prior_weight: float = 0.3      # of the profile's estimate of each entry against the whole-graph times


@dataclass
class NasLatencyConfig:
    """What `nas-latency` measures: the search space and how."""
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    # children to validate the table on besides the random ones, as op names (e.g. the
    # architectures the searches found): "k3_e3 k5_e3_se skip ..."
    validate_architectures: List[str] = field(default_factory=list)


def time_graphs(graphs: Sequence[Dict], cfg: LatencyConfig, node_modules: Optional[str] = None,
                timeout_s: int = 3600) -> Dict[str, Dict]:
    """{"rounds": {id: [mean ms per round]}, "profiles": {id: profile}} for graphs [{"id",
    "file", "input", "dims", "profile"?}], one node process (see ort_latency.cjs)."""
    from training.ort_parity import preflight

    node, nm = preflight(node_modules)
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "spec.json"
        prof = Path(d) / "profiles"
        prof.mkdir()
        spec.write_text(json.dumps({"intraOpThreads": cfg.intra_op_threads, "warmup": cfg.warmup,
                                    "rounds": cfg.rounds, "runsPerRound": cfg.runs_per_round,
                                    "interleave": cfg.interleave, "passes": cfg.passes,
                                    "profileRuns": cfg.profile_runs,
                                    "profileDir": str(prof), "graphs": list(graphs)}))
        proc = subprocess.run([node, str(LATENCY_SCRIPT), str(nm), str(spec)], capture_output=True, text=True,
                              timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"onnxruntime-node timing failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def low_quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank, from below) of the measured values."""
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


_BLOCK = re.compile(r"^/model/blocks/blocks\.(\d+)/")


def node_group(name: str) -> Optional[str]:
    """The part of a child a profiled node belongs to ("stem", "head" or the position's
    index), from the module path the exporter gives node names; None for nodes onnxruntime
    added (layout reorders), which go to the group before them."""
    if name.startswith("/model/stem/"):
        return "stem"
    if name.startswith("/model/head/"):
        return "head"
    m = _BLOCK.match(name)
    return m.group(1) if m else None


def attribute(profile: Dict, q: float) -> Dict[str, Dict[str, float]]:
    """{group: {"ms": the q-quantile over the profiled runs of its nodes' kernel time summed,
    "nodes": how many nodes}} of one profiled child."""
    groups, cur = [], "stem"
    for name in profile["names"]:
        cur = node_group(name) or cur
        groups.append(cur)
    out: Dict[str, Dict[str, float]] = {}
    for g in dict.fromkeys(groups):
        idx = [i for i, x in enumerate(groups) if x == g]
        out[g] = {"ms": low_quantile([sum(run[i] for i in idx) / 1000.0 for run in profile["us"]], q),
                  "nodes": len(idx)}
    return out


def fit_overhead(rows: Sequence[Dict]) -> Dict[str, float]:
    """Least squares of a whole run's wall time over rows {"wall_ms", "kernel_ms", "nodes"}
    (the reference children of one batch size): wall = run_ms + scale x kernel_ms + node_ms x
    nodes. `scale` and `node_ms` absorb what profiling adds to the kernels it times (its
    clock reads, µs rounding) and what the executor adds per node; `run_ms` is one run's fixed
    cost (session, copies in and out of JavaScript)."""
    x = np.array([[1.0, r["kernel_ms"], r["nodes"]] for r in rows])
    y = np.array([r["wall_ms"] for r in rows])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    rel = (x @ coef - y) / y
    return {"run_ms": float(coef[0]), "scale": float(coef[1]), "node_ms": float(coef[2]),
            "fit_max_abs_error": float(np.abs(rel).max())}


def fit_entries(prior: Dict, children: Sequence[Sequence[str]], wall_ms: Sequence[float], weight: float) -> Dict:
    """The table's entries ({"fixed": ms, (position, op): ms}) that best explain the reference
    children's whole-graph times (fixed + their ops' entries = wall, in relative error), pulled
    towards the profile's estimates `prior` (each entry's relative deviation from it counts
    `weight` times one child's): the profile says how a child's time splits between its
    blocks, the whole-graph times what profiling and the executor add to them."""
    keys = list(prior)
    col = {k: j for j, k in enumerate(keys)}
    rows, rhs = [], []
    for c, w in zip(children, wall_ms):
        r = np.zeros(len(keys))
        r[col["fixed"]] = 1.0
        for i, name in enumerate(c):
            if (i, name) in col:
                r[col[(i, name)]] = 1.0
        rows.append(r / w)
        rhs.append(1.0)
    for k in keys:
        r = np.zeros(len(keys))
        r[col[k]] = np.sqrt(weight) / max(prior[k], 1e-6)
        rows.append(r)
        rhs.append(np.sqrt(weight))
    x, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return {k: max(0.0, float(v)) for k, v in zip(keys, x)}   # a negative entry would reward an op


def cheapest(specs: Sequence[OpSpec]) -> OpSpec:
    """`skip` where a position allows it, else its smallest block (first kernel and expansion, no SE, static)."""
    return SKIP if SKIP in specs else min(specs, key=lambda o: (o.expansion, o.kernel, o.se, o.dynamic))


def reference_children(net: SupernetConfig, copies: int, seed: int) -> List[List[OpSpec]]:
    """Children in which every op of every position appears `copies` times beside random
    neighbours (per copy, each position's ops in a random order), and once more in a small
    network (every third position chosen, the others at their cheapest op): an op's time in
    a network depends on its neighbours' (the caches they leave), and the searches end in
    small networks."""
    pos = positions(net)
    width = max(len(p[3]) for p in pos)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(copies):
        perms = [torch.randperm(len(p[3]), generator=gen).tolist() for p in pos]
        out += [[p[3][perm[j % len(perm)]] for p, perm in zip(pos, perms)] for j in range(width)]
    perms = [torch.randperm(len(p[3]), generator=gen).tolist() for p in pos]
    for phase in range(min(3, len(pos))):
        out += [[p[3][perm[j % len(perm)]] if i % 3 == phase else cheapest(p[3])
                 for i, (p, perm) in enumerate(zip(pos, perms))] for j in range(width)]
    return [list(c) for c in dict.fromkeys(tuple(c) for c in out)]   # a small space repeats children


def random_children(net: SupernetConfig, n: int, seed: int, exclude: Sequence[Sequence[OpSpec]] = ()) -> List[List[OpSpec]]:
    """n random children, none of them in `exclude` (nor twice)."""
    pos = positions(net)
    gen = torch.Generator().manual_seed(seed + 7919)
    seen = {tuple(c) for c in exclude}
    n = min(n, math.prod(len(p[3]) for p in pos) - len(seen))   # a tiny space has few children
    out: List[List[OpSpec]] = []
    while len(out) < n:
        c = [p[3][int(torch.randint(len(p[3]), (), generator=gen))] for p in pos]
        if tuple(c) not in seen:
            seen.add(tuple(c))
            out.append(c)
    return out


def parse_architecture(net: SupernetConfig, text: str) -> List[OpSpec]:
    """Op names separated by spaces, one per position, as the table and the runs write them."""
    return list(child_from_names(net, text.split()).choice)


def _export_child(net: SupernetConfig, choice: Sequence[OpSpec], path: Path, cfg: LatencyConfig) -> None:
    from training.export import export_onnx

    export_onnx(ChildNet(net, choice), path, [cfg.image_size] * 2, cfg.opset)


def measure_table(net: SupernetConfig, cfg: LatencyConfig, node_modules: Optional[str] = None, log=print,
                  models: Optional[Dict[str, Path]] = None,
                  validate: Sequence[Sequence[OpSpec]] = (), raw_out: Optional[str] = None) -> Dict:
    """Export, time and profile the reference children and build the table (see the module
    docstring and `LatencyTable`); then time `validate` children (besides `cfg.validate`
    random ones) and `models` ({id: a whole classifier's ONNX file}) whole in the same
    process: the table's "validation" rows and "models_ms"."""
    torch.manual_seed(cfg.seed)
    refs = reference_children(net, cfg.reference_copies, cfg.seed)
    vals = [list(c) for c in validate if tuple(c) not in {tuple(r) for r in refs}]
    vals += random_children(net, cfg.validate, cfg.seed, exclude=refs + vals)
    shape = [3, cfg.image_size, cfg.image_size]
    graphs = []
    with tempfile.TemporaryDirectory() as d:
        for kind, children in (("ref", refs), ("val", vals)):
            for k, c in enumerate(children):
                f = Path(d) / f"{kind}{k}.onnx"
                _export_child(net, c, f, cfg)
                graphs += [{"id": f"{kind}{k}@{b}", "file": str(f), "input": "input", "dims": [b, *shape],
                            "profile": kind == "ref"} for b in cfg.batches]
        for mid, f in (models or {}).items():
            graphs += [{"id": f"model:{mid}@{b}", "file": str(f), "input": "input", "dims": [b, *shape]}
                       for b in cfg.batches]
        # in a random order: a change of the machine's load between the first and the last
        # minute then lands on reference and held-out children alike
        random.Random(cfg.seed).shuffle(graphs)
        log(f"nas-latency: timing {len(graphs)} graphs with onnxruntime-node ({len(refs)} reference children "
            f"profiled per node, {len(vals)} held out)")
        res = time_graphs(graphs, cfg, node_modules)
    if raw_out:
        Path(raw_out).write_text(json.dumps(res))
    return build_table(net, cfg, refs, vals, res["rounds"], res["profiles"], list(models or {}), node_modules)


def build_table(net: SupernetConfig, cfg: LatencyConfig, refs: Sequence[Sequence[OpSpec]],
                vals: Sequence[Sequence[OpSpec]], rounds: Dict[str, List[float]], profiles: Dict[str, Dict],
                models: Sequence[str] = (), node_modules: Optional[str] = None) -> Dict:
    """The table from the measurements of `measure_table`."""
    pos = positions(net)

    def wall(gid: str) -> float:
        return low_quantile(rounds[gid], cfg.quantile)

    entries = [{"in_channels": cin, "out_channels": cout, "stride": s, "input_hw": None, "ops": [o.name for o in specs]}
               for cin, cout, s, specs in pos]
    hw = cfg.image_size // 2            # after the stride-2 stem
    for e in entries:
        e["input_hw"] = hw
        hw = (hw + e["stride"] - 1) // e["stride"]
    fixed: Dict[str, Dict[str, float]] = {"stem": {}, "head": {}}
    overhead: Dict[str, Dict[str, float]] = {}
    for b in cfg.batches:
        parts = {k: attribute(profiles[f"ref{k}@{b}"], cfg.quantile) for k in range(len(refs))}
        fit = fit_overhead([{"wall_ms": wall(f"ref{k}@{b}"), "kernel_ms": sum(g["ms"] for g in p.values()),
                             "nodes": sum(g["nodes"] for g in p.values())} for k, p in parts.items()])
        overhead[str(b)] = fit

        def cost(g: Dict[str, float]) -> float:
            return fit["scale"] * g["ms"] + fit["node_ms"] * g["nodes"]

        prior = {"fixed": fit["run_ms"] + sum(statistics.mean(cost(p[g]) for p in parts.values()) for g in ("stem", "head"))}
        for i, e in enumerate(entries):
            for name in e["ops"]:
                got = [cost(p[str(i)]) if str(i) in p else 0.0 for k, p in parts.items() if refs[k][i].name == name]
                if not got:
                    raise RuntimeError(f"no reference child has {name} at position {i}")
                if name != SKIP.name:
                    prior[(i, name)] = statistics.mean(got)
        solved = fit_entries(prior, [[o.name for o in c] for c in refs], [wall(f"ref{k}@{b}") for k in range(len(refs))],
                             cfg.prior_weight)
        head_ms = statistics.mean(cost(p["head"]) for p in parts.values())
        fixed["stem"][str(b)], fixed["head"][str(b)] = solved["fixed"] - head_ms, head_ms
        for i, e in enumerate(entries):
            ms = e.setdefault("ms", {name: {} for name in e["ops"]})
            for name in e["ops"]:
                ms[name][str(b)] = 0.0 if name == SKIP.name else solved[(i, name)]
        fit["profile_only_fit_max_abs_error"] = fit.pop("fit_max_abs_error")
        fit["fit_max_abs_error"] = max(abs(solved["fixed"] + sum(solved.get((i, n), 0.0) for i, n in enumerate(c))
                                           - wall(f"ref{k}@{b}")) / wall(f"ref{k}@{b}")
                                       for k, c in enumerate([[o.name for o in c] for c in refs]))
    from training.ort_parity import find_node_modules

    version = json.loads((find_node_modules(node_modules) / "onnxruntime-node" / "package.json").read_text())["version"]
    table = {"runtime": f"onnxruntime-node {version}", "measure": asdict(cfg), "supernet": asdict(net),
             "fixed_ms": fixed, "overhead": overhead, "positions": entries,
             "reference_children": [[o.name for o in c] for c in refs]}
    lookup = {b: LatencyTable(table, net, b) for b in cfg.batches}
    table["validation"] = [{"architecture": [o.name for o in c],
                            **{f"batch {b}": _error(lookup[b].lookup_ms(c), wall(f"val{k}@{b}")) for b in cfg.batches}}
                           for k, c in enumerate(vals)]
    table["validation_max_abs_error"] = {str(b): max(abs(v[f"batch {b}"]["error"]) for v in table["validation"])
                                         for b in cfg.batches} if vals else {}
    if models:
        table["models_ms"] = {mid: {str(b): wall(f"model:{mid}@{b}") for b in cfg.batches} for mid in models}
    table["rounds_ms"] = rounds
    return table


def _error(predicted: float, measured: float) -> Dict[str, float]:
    return {"predicted_ms": round(predicted, 4), "measured_ms": round(measured, 4),
            "error": round((predicted - measured) / measured, 4)}


def table_json(table: Dict) -> str:
    """The table as committed: indented, with each graph's round means on one line (µs precision)."""
    rounds = table.get("rounds_ms", {})
    head = json.dumps({k: v for k, v in table.items() if k != "rounds_ms"}, indent=1)
    lines = ",\n".join(f"  {json.dumps(k)}: {json.dumps([round(x, 4) for x in v])}" for k, v in rounds.items())
    return head[:-2] + ',\n "rounds_ms": {\n' + lines + "\n }\n}\n"


class LatencyTable:
    """Lookups into a measured table for one batch size, aligned with a supernet's candidates."""

    def __init__(self, table: Dict, net: SupernetConfig, batch: int):
        key = str(batch)
        if key not in table["fixed_ms"]["stem"]:
            raise ValueError(f"the latency table has no batch {batch}; measured: {list(table['fixed_ms']['stem'])}")
        pos = positions(net)
        if len(pos) != len(table["positions"]):
            raise ValueError(f"the latency table has {len(table['positions'])} positions, the supernet {len(pos)}")
        for i, ((cin, cout, s, specs), e) in enumerate(zip(pos, table["positions"])):
            if (cin, cout, s) != (e["in_channels"], e["out_channels"], e["stride"]) or [o.name for o in specs] != e["ops"]:
                raise ValueError(f"latency table position {i} was measured for another search space "
                                 f"({e['in_channels']}->{e['out_channels']} stride {e['stride']}, ops {e['ops']})")
        self.fixed_ms = table["fixed_ms"]["stem"][key] + table["fixed_ms"]["head"][key]
        width = max(len(e["ops"]) for e in table["positions"])
        self.op_ms = torch.zeros(len(pos), width)
        for i, e in enumerate(table["positions"]):
            self.op_ms[i, : len(e["ops"])] = torch.tensor([e["ms"][name][key] for name in e["ops"]])
        self.names = [e["ops"] for e in table["positions"]]

    def expected_ms(self, alpha_bar: torch.Tensor) -> torch.Tensor:
        """fixed + sum over positions and ops of alpha_bar x op latency: differentiable in
        alpha_bar (d / d alpha_bar[i, j] = the op's entry); with one-hot rows it is exactly the
        chosen architecture's table sum."""
        return self.fixed_ms + (alpha_bar * self.op_ms.to(alpha_bar.dtype)).sum()

    def lookup_ms(self, choice: Sequence[OpSpec]) -> float:
        return self.fixed_ms + sum(float(self.op_ms[i, self.names[i].index(o.name)]) for i, o in enumerate(choice))


def measure_model(model: nn.Module, cfg: LatencyConfig, onnx_path: Optional[Path] = None,
                  node_modules: Optional[str] = None) -> Dict[str, float]:
    """{batch: ms} of a whole classifier graph ([batch, 3, size, size] -> logits) timed the
    same way as the table's entries (low quantile of the rounds), run overhead included."""
    with tempfile.TemporaryDirectory() as d:
        f = Path(onnx_path) if onnx_path else Path(d) / "model.onnx"
        if not f.is_file():
            from training.export import export_onnx

            export_onnx(model, f, [cfg.image_size] * 2, cfg.opset)
        graphs = [{"id": str(b), "file": str(f), "input": "input", "dims": [b, 3, cfg.image_size, cfg.image_size]}
                  for b in cfg.batches]
        rounds = time_graphs(graphs, cfg, node_modules)["rounds"]
    return {k: low_quantile(v, cfg.quantile) for k, v in rounds.items()}
