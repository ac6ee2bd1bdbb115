"""The NAS latency table: every candidate op of every supernet position, and the fixed stem
and head, exported alone to ONNX at its input shape and timed with onnxruntime-node (the
gateway's runtime, `ort_latency.cjs`, the gateway's CPU session options) at batch 1 and 8;
and the differentiable expected latency the search adds to its loss.

A measurement is `rounds` rounds of `runs_per_round` runs after a warm-up; the table keeps
each round's mean and uses the `quantile` of them (on a shared machine other processes only
ever add time, so a low quantile of short rounds estimates the op's own cost; the mean or
the median would measure the neighbours). Every graph timed alone also pays one run's fixed
cost and the copy of its output back to JavaScript, which inside a whole network only the
logits pay: each entry has the time of a single Identity node of its output's shape
subtracted, and the stem's entry gets the Identity at the logits' shape added back once, so
that a sum over the entries predicts one whole graph's run. The
predicted latency of an architecture is the stem's, the head's and its chosen ops' entries
summed."""
from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from training.models.supernet import SKIP, OpSpec, SupernetConfig, head, make_op, positions, stem

LATENCY_SCRIPT = Path(__file__).resolve().with_name("ort_latency.cjs")


@dataclass
class LatencyConfig:
    batches: List[int] = field(default_factory=lambda: [1, 8])
    image_size: int = 64
    intra_op_threads: int = 1     # the gateway's default on this 2-core machine (half the cores)
    warmup: int = 10
    rounds: int = 100
    runs_per_round: int = 2
    quantile: float = 0.1          # of the round means: the latency an entry records
    interleave: bool = False       # round r of every graph before round r + 1 of any (one node process)
    opset: int = 17


@dataclass
class NasLatencyConfig:
    """What `nas-latency` measures: the search space and how."""
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)


def time_graphs(graphs: Sequence[Dict], cfg: LatencyConfig, node_modules: Optional[str] = None,
                timeout_s: int = 3600) -> Dict[str, List[float]]:
    """{id: [mean ms per round]} for graphs [{"id", "file", "input", "dims"}], one node process."""
    from training.ort_parity import preflight

    node, nm = preflight(node_modules)
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "spec.json"
        spec.write_text(json.dumps({"intraOpThreads": cfg.intra_op_threads, "warmup": cfg.warmup,
                                    "rounds": cfg.rounds, "runsPerRound": cfg.runs_per_round,
                                    "interleave": cfg.interleave, "graphs": list(graphs)}))
        proc = subprocess.run([node, str(LATENCY_SCRIPT), str(nm), str(spec)], capture_output=True, text=True,
                              timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"onnxruntime-node timing failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def low_quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank, from below) of the measured round means."""
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def _export(module: nn.Module, shape: Sequence[int], path: Path, opset: int) -> None:
    torch.onnx.export(module.eval(), torch.zeros(*shape), str(path), opset_version=opset, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                      do_constant_folding=True)


def measure_table(net: SupernetConfig, cfg: LatencyConfig, node_modules: Optional[str] = None, log=print,
                  models: Optional[Dict[str, Path]] = None) -> Dict:
    """Export and time every op; returns the table (see `LatencyTable`). `models` ({id: a
    whole classifier's ONNX file}) are timed in the same node process, their ms at each batch
    in the table's "models_ms": with `interleave`, under the same load as the ops."""
    torch.manual_seed(0)
    pos = positions(net)
    hw = cfg.image_size // 2            # after the stride-2 stem
    graphs, entries = [], []
    io: Dict[str, str] = {}             # output shape -> id of the Identity graph of that shape
    with tempfile.TemporaryDirectory() as d:
        def add(gid: str, module: nn.Module, shape: Sequence[int]) -> None:
            f = Path(d) / f"{gid}.onnx"
            _export(module, [1, *shape], f, cfg.opset)
            for b in cfg.batches:
                graphs.append({"id": f"{gid}@{b}", "file": str(f), "input": "input", "dims": [b, *shape]})
            if not isinstance(module, nn.Identity):
                with torch.no_grad():
                    out_shape = list(module.eval()(torch.zeros(1, *shape)).shape[1:])
                key = "x".join(map(str, out_shape))
                if key not in io:
                    io[key] = f"io_{key}"
                    add(io[key], nn.Identity(), out_shape)
                io[gid] = io[key]

        add("stem", stem(net), [3, cfg.image_size, cfg.image_size])
        for i, (cin, cout, s, specs) in enumerate(pos):
            entries.append({"in_channels": cin, "out_channels": cout, "stride": s, "input_hw": hw,
                            "ops": [o.name for o in specs]})
            for o in specs:
                if o != SKIP:
                    add(f"p{i}_{o.name}", make_op(o, cin, cout, s, i, net.bn_momentum), [cin, hw, hw])
            hw = (hw + s - 1) // s
        add("head", head(net), [net.plan[-1][0], hw, hw])
        for mid, f in (models or {}).items():
            for b in cfg.batches:
                graphs.append({"id": f"model:{mid}@{b}", "file": str(f), "input": "input",
                               "dims": [b, 3, cfg.image_size, cfg.image_size]})
        log(f"nas-latency: timing {len(graphs)} graphs with onnxruntime-node")
        rounds = time_graphs(graphs, cfg, node_modules)

    def q(gid: str, b: int) -> float:
        return low_quantile(rounds[f"{gid}@{b}"], cfg.quantile)

    def ms(gid: str) -> Dict[str, float]:
        return {str(b): max(0.0, q(gid, b) - q(io[gid], b)) for b in cfg.batches}

    for i, e in enumerate(entries):
        e["ms"] = {name: ({str(b): 0.0 for b in cfg.batches} if name == SKIP.name else ms(f"p{i}_{name}"))
                   for name in e["ops"]}
    run_ms = {str(b): q(io["head"], b) for b in cfg.batches}   # one run with the logits' output copy
    stem_ms = {b: v + run_ms[b] for b, v in ms("stem").items()}
    from training.ort_parity import find_node_modules

    version = json.loads((find_node_modules(node_modules) / "onnxruntime-node" / "package.json").read_text())["version"]
    table = {"runtime": f"onnxruntime-node {version}", "measure": asdict(cfg), "supernet": asdict(net),
             "fixed_ms": {"stem": stem_ms, "head": ms("head")}, "run_ms": run_ms, "positions": entries,
             "rounds_ms": rounds}
    if models:
        table["models_ms"] = {mid: {str(b): q(f"model:{mid}", b) for b in cfg.batches} for mid in models}
    return table


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
            f.parent.mkdir(parents=True, exist_ok=True)
            _export(model, [1, 3, cfg.image_size, cfg.image_size], f, cfg.opset)
        graphs = [{"id": str(b), "file": str(f), "input": "input", "dims": [b, 3, cfg.image_size, cfg.image_size]}
                  for b in cfg.batches]
        rounds = time_graphs(graphs, cfg, node_modules)
    return {k: low_quantile(v, cfg.quantile) for k, v in rounds.items()}
