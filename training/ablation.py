"""`ablation`: what dynamic convolution and distillation buy on the hard benchmark.

Rows, each trained the same number of steps with the same recipe, over several seeds:
static MobileNetV3-small, the same with dynamic convolution (same width), and a static one
widened to the dynamic graph's MACs (counted from the exported ONNX graphs), each with and
without KD from a ConvNeXt teacher (one teacher per seed). Test top-1 is reported as
mean ± sd over seeds in `<out>/ablation.md` and `<out>/ablation.json`."""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Tuple

from training.config import RunDir, to_dict
from training.data.shapes import ShapesConfig, generate, hard_config
from training.evaluate import evaluate_folder
from training.models import ModelConfig, count_macs, create_model
from training.models.onnx_flops import graph_cost
from training.train import TrainConfig, run


@dataclass
class AblationConfig:
    out_dir: str = "training/runs/ablation"
    seeds: Tuple[int, ...] = (0, 1, 2)
    # sized for the shared 2-core build machine (minutes per run), not for best accuracy
    data: ShapesConfig = field(default_factory=lambda: hard_config(train_per_class=24, val_per_class=8,
                                                                   test_per_class=16))
    teacher: TrainConfig = field(default_factory=lambda: TrainConfig(
        model=ModelConfig(arch="convnext_teacher"), epochs=6, batch_size=64, lr=2e-3, warmup_steps=20,
        log_every_steps=24))
    student: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=4, batch_size=64, warmup_steps=20,
                                                                     log_every_steps=24))
    with_kd: bool = True           # false: skip the teacher and the KD rows (the teacher is most of the cost)
    dynamic_blocks: int = 4        # depthwise convs of the last N blocks become dynamic (K experts)
    dynamic_experts: int = 4


def _graph_macs(cfg: ModelConfig) -> int:
    from training.export import export_onnx

    with tempfile.TemporaryDirectory() as d:
        return graph_cost(export_onnx(create_model(cfg).eval(), Path(d) / "m.onnx", [64, 64]))["macs"]


def matched_width(target_macs: int) -> float:
    """The static student's width_mult whose graph MACs come closest to `target_macs` (for a
    static model the PyTorch count equals the graph's; a test checks it)."""
    best = min((abs(count_macs(create_model(ModelConfig(width_mult=w / 100))) - target_macs), w) for w in range(100, 141))
    return best[1] / 100


def _summary(values: List[float]) -> Dict:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


def run_ablation(cfg: AblationConfig, log=print) -> Dict:
    out = Path(cfg.out_dir)
    rd = RunDir(out, cfg, name="ablation")
    t0 = time.perf_counter()
    dynamic = ModelConfig(dynamic_blocks=cfg.dynamic_blocks, dynamic_experts=cfg.dynamic_experts)
    wide = ModelConfig(width_mult=matched_width(_graph_macs(dynamic)))
    archs = {"static": ModelConfig(), "dynamic": dynamic, f"static-wide (x{wide.width_mult})": wide}
    macs = {name: _graph_macs(m) for name, m in archs.items()}
    rd.info(f"ablation: graph MACs {macs}")
    results: Dict[str, List[float]] = {}
    for seed in cfg.seeds:
        data = replace(cfg.data, root=str(out / f"data-{seed}"), seed=seed)
        generate(data, log=rd.info)
        teacher = replace(cfg.teacher, data_root=data.root, out_dir=str(out / f"seed{seed}" / "teacher"), seed=seed)
        runs = []
        if cfg.with_kd:
            run(teacher)
            runs.append(("teacher", teacher))
        for name, mcfg in archs.items():
            for kd in ((False, True) if cfg.with_kd else (False,)):
                s = replace(cfg.student, model=mcfg, data_root=data.root, seed=seed,
                            out_dir=str(out / f"seed{seed}" / f"{name.split(' ')[0]}{'-kd' if kd else ''}"),
                            teacher=str(Path(teacher.out_dir) / "model.pt") if kd else "")
                run(s)
                runs.append((f"{name}{' + KD' if kd else ''}", s))
        from training.train import model_from_checkpoint

        for row, tc in runs:
            model, ck = model_from_checkpoint(str(Path(tc.out_dir) / "model.pt"))
            top1 = evaluate_folder(model, Path(data.root) / "test", tc.preprocess, ck["classes"])["top1"]
            results.setdefault(row, []).append(top1)
            rd.info(f"ablation: seed {seed} {row}: test top-1 {top1:.4f}")
        res = _write(cfg, out, results, macs, t0)  # after every seed: a cut-short run still leaves its table
    rd.update_metrics(**{k: v for k, v in res.items() if k != "config"})
    rd.info((out / "ablation.md").read_text())
    rd.close()
    return res


def _write(cfg: AblationConfig, out: Path, results: Dict[str, List[float]], macs: Dict[str, int], t0: float) -> Dict:
    table = {row: _summary(v) for row, v in results.items()}
    lines = ["| row | graph MMACs | test top-1 (mean ± sd) | runs |", "|---|---|---|---|"]
    for row, st in table.items():
        arch = row.replace(" + KD", "")
        m = macs.get(arch)
        mm = f"{m / 1e6:.2f}" if m else f"{_graph_macs(cfg.teacher.model) / 1e6:.2f}"
        lines.append(f"| {row} | {mm} | {100 * st['mean']:.2f} ± {100 * st['sd']:.2f} % | "
                     f"{', '.join(f'{100 * v:.1f}' for v in st['runs'])} |")
    (out / "ablation.md").write_text("\n".join(lines) + "\n")
    res = {"table": table, "graphMacs": macs, "seconds": round(time.perf_counter() - t0, 1), "config": to_dict(cfg)}
    (out / "ablation.json").write_text(json.dumps(res, indent=2) + "\n")
    return res
