"""`ablation`: what dynamic convolution and distillation buy on the hard benchmark.

Rows, each trained the same number of steps with the same recipe, over several seeds:
static MobileNetV3-small, the same with dynamic convolution (same width), and a static one
widened to the dynamic graph's MACs (counted from the exported ONNX graphs), each with and
without KD. One dataset and one teacher (trained once, ConvNeXt-style by default) serve
every seed; a seed changes the student's initialisation, batch order, augmentation and
dropout. The three KD rows of a seed see the same batches, so the teacher's logits are
computed once per seed and reused (`kd_cache` in training/train.py). Test top-1 is
reported as mean ± sd over seeds in `<out>/ablation.md` and `<out>/ablation.json`.
A row whose `model.pt` exists is reused, so a cut-short ablation continues where it stopped."""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Tuple

from training.config import RunDir, to_dict
from training.data.shapes import ShapesConfig, class_names
from training.fine_data import FineDataRunConfig, fine_data
from training.evaluate import evaluate_folder
from training.models import ModelConfig, count_macs, create_model
from training.models.onnx_flops import graph_cost
from training.train import TrainConfig, run


@dataclass
class AblationConfig(FineDataRunConfig):
    out_dir: str = "training/runs/ablation"
    # the fine-grained hard set (8 classes that differ in one small detail, with distractors,
    # occlusion, texture and colour casts), sized so the whole ablation runs on one CPU core
    data: ShapesConfig = field(default_factory=lambda: fine_data(512, 64, 128))
    seeds: Tuple[int, ...] = (0, 1, 2)
    teacher: TrainConfig = field(default_factory=lambda: TrainConfig(
        model=ModelConfig(arch="convnext_teacher"), epochs=6, batch_size=64, lr=2e-3, warmup_steps=20,
        log_every_steps=16, threads=1))
    student: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=4, batch_size=64, warmup_steps=20,
                                                                     log_every_steps=16, threads=1))
    with_kd: bool = True           # false: skip the teacher and the KD rows
    dynamic_blocks: int = 4        # depthwise convs of the last N blocks become dynamic (K experts)
    dynamic_experts: int = 4


def _graph_macs(cfg: ModelConfig) -> int:
    from training.export import export_onnx

    with tempfile.TemporaryDirectory() as d:
        return graph_cost(export_onnx(create_model(cfg).eval(), Path(d) / "m.onnx", [64, 64]))["macs"]


def matched_width(target_macs: int, num_classes: int = 64) -> float:
    """The static student's width_mult whose graph MACs come closest to `target_macs` (for a
    static model the PyTorch count equals the graph's; a test checks it)."""
    best = min((abs(count_macs(create_model(ModelConfig(width_mult=w / 100, num_classes=num_classes))) - target_macs), w)
               for w in range(100, 141))
    return best[1] / 100


def _summary(values: List[float]) -> Dict:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


def _train(tc: TrainConfig) -> Dict:
    """Train one row, or reuse its finished run (model.pt and metrics.json present)."""
    done = Path(tc.out_dir) / "model.pt"
    metrics = Path(tc.out_dir) / "metrics.json"
    if not (done.exists() and metrics.exists()):
        run(tc)
    return json.loads(metrics.read_text())


def run_ablation(cfg: AblationConfig, log=print) -> Dict:
    from training.train import model_from_checkpoint

    out = Path(cfg.out_dir)
    rd = RunDir(out, cfg, name="ablation")
    t0 = time.perf_counter()
    nc = len(class_names(cfg.data.task))
    dynamic = ModelConfig(num_classes=nc, dynamic_blocks=cfg.dynamic_blocks, dynamic_experts=cfg.dynamic_experts)
    wide = ModelConfig(num_classes=nc, width_mult=matched_width(_graph_macs(dynamic), nc))
    archs = {"static": ModelConfig(num_classes=nc), "dynamic": dynamic, f"static-wide (x{wide.width_mult})": wide}
    macs = {name: _graph_macs(m) for name, m in archs.items()}
    rd.info(f"ablation: graph MACs {macs}")
    data = replace(cfg.data, root=str(cfg.dataset_root(rd.info, reuse=True)))
    test_dir = Path(data.root) / "test"
    teacher = replace(cfg.teacher, model=replace(cfg.teacher.model, num_classes=nc), data_root=data.root,
                      out_dir=str(out / "teacher"), seed=cfg.data.seed)
    results: Dict[str, List[float]] = {}
    info: Dict[str, Dict] = {}

    def record(row: str, tc: TrainConfig, m: Dict, seed: int | None) -> None:
        model, ck = model_from_checkpoint(str(Path(tc.out_dir) / "model.pt"))
        top1 = evaluate_folder(model, test_dir, tc.preprocess, ck["classes"])["top1"]
        results.setdefault(row, []).append(top1)
        r = info.setdefault(row, {"steps": m["steps"], "train_seconds": []})
        r["train_seconds"].append(m["train_seconds"])
        if r["steps"] != m["steps"]:
            raise RuntimeError(f"ablation: row {row} trained {m['steps']} steps, not {r['steps']} as its other seeds")
        rd.info(f"ablation: {'' if seed is None else f'seed {seed} '}{row}: test top-1 {top1:.4f} "
                f"({m['steps']} steps, {m['train_seconds']:.0f}s)")

    teacher_macs = None
    if cfg.with_kd:
        record("teacher", teacher, _train(teacher), None)
        teacher_macs = _graph_macs(teacher.model)
    for seed in cfg.seeds:
        for name, mcfg in archs.items():
            for kd in ((False, True) if cfg.with_kd else (False,)):
                s = replace(cfg.student, model=mcfg, data_root=data.root, seed=seed,
                            out_dir=str(out / f"seed{seed}" / f"{name.split(' ')[0]}{'-kd' if kd else ''}"),
                            teacher=str(Path(teacher.out_dir) / "model.pt") if kd else "",
                            kd_cache=str(out / f"seed{seed}" / "teacher-logits.pt") if kd else "")
                record(f"{name}{' + KD' if kd else ''}", s, _train(s), seed)
        res = _write(cfg, out, results, info, macs, teacher_macs, t0)  # after every seed: a cut-short run leaves its table
    rd.update_metrics(**{k: v for k, v in res.items() if k != "config"})
    rd.info((out / "ablation.md").read_text())
    rd.close()
    return res


def _write(cfg: AblationConfig, out: Path, results: Dict[str, List[float]], info: Dict[str, Dict],
           macs: Dict[str, int], teacher_macs: int | None, t0: float) -> Dict:
    table = {row: {**_summary(v), **info[row]} for row, v in results.items()}
    lines = ["| row | graph MMACs | steps | test top-1 (mean ± sd) | runs (seed order) | train s per run |",
             "|---|---|---|---|---|---|"]
    for row, st in table.items():
        m = macs.get(row.replace(" + KD", ""), teacher_macs)
        mm = f"{m / 1e6:.2f}" if m else "?"
        fig = (f"{100 * st['mean']:.2f} ± {100 * st['sd']:.2f} %" if len(st["runs"]) > 1
               else f"{100 * st['mean']:.2f} % (one run)")
        lines.append(f"| {row} | {mm} | {st['steps']} | {fig} | {', '.join(f'{100 * v:.1f}' for v in st['runs'])} | "
                     f"{round(statistics.mean(st['train_seconds']))} |")
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    res = {"table": table, "graphMacs": macs, "teacherGraphMacs": teacher_macs, "verdict": verdict(table),
           "markdown": "\n".join(lines) + "\n", "seconds": round(time.perf_counter() - t0, 1), "config": to_dict(cfg)}
    (out / "ablation.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def verdict(table: Dict[str, Dict]) -> Dict:
    """Does the dynamic student win? Against the static student of the same width and the
    static one widened to its MACs, with KD and without: it wins a comparison when its mean
    beats the other row's by more than the larger of the two standard deviations (with fewer
    than two runs a row has no sd, and nothing is won), and it wins overall only if it wins
    every comparison it has rows for."""
    comps = {}
    for kd in ("", " + KD"):
        dyn = table.get(f"dynamic{kd}")
        if not dyn:
            continue
        for row, st in table.items():
            if row.endswith(kd) and row != f"dynamic{kd}" and row.startswith("static") and (kd or "+ KD" not in row):
                margin = dyn["mean"] - st["mean"]
                seeds = min(len(dyn["runs"]), len(st["runs"]))
                comps[f"dynamic{kd} vs {row}"] = {"meanDiff": round(margin, 4), "seeds": seeds,
                                                  "wins": seeds >= 2 and margin > max(dyn["sd"], st["sd"])}
    return {"comparisons": comps, "dynamicWins": bool(comps) and all(c["wins"] for c in comps.values())}
