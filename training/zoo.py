"""`zoo`: rebuild the default model zoo from nothing with fixed seeds: the hard 64-class
procedural data -> teacher -> MobileNetV3-small student distilled from it -> exports (with
golden files, eval cards and MODEL_CARD.md) -> the MiniCLIP step (training/clip_run.py) on
the easy captions its recipe was chosen on. `--smoke` runs the
same path with tiny sizes and a few steps into a scratch folder (CI runs it every time)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict

from training.config import RunDir, to_dict, write_config
from training.data.shapes import ShapesConfig, generate
from training.export import ExportConfig, export
from training.models import ModelConfig
from training.train import TrainConfig, run


@dataclass
class ZooGates:
    """Targets the zoo enforces: it fails, naming the gate, instead of shipping a miss."""
    max_student_flops_ratio: float = 0.25   # student MACs / teacher MACs, both counted from the ONNX graphs
    min_teacher_top1: float = 0.0           # on the test split
    min_student_top1: float = 0.0
    max_parity_abs_diff: float = 1e-4


class ZooGateError(RuntimeError):
    """A model missed one of the zoo's gates."""


def check_gates(gates: ZooGates, teacher_card: Dict, student_card: Dict) -> Dict:
    """Raises ZooGateError listing every missed gate; returns the measured values."""
    ratio = student_card["macs"] / teacher_card["macs"]
    t1 = teacher_card.get("eval", {}).get("top1")
    s1 = student_card.get("eval", {}).get("top1")
    worst = max(c["onnx"]["ortParity"]["worst"] for c in (teacher_card, student_card))
    measured = {"studentFlopsRatio": ratio, "teacherTop1": t1, "studentTop1": s1, "parityWorst": worst}
    missed = []
    if ratio > gates.max_student_flops_ratio:
        missed.append(f"student/teacher FLOPs {ratio:.3f} > {gates.max_student_flops_ratio} "
                      f"({student_card['macs']:,} vs {teacher_card['macs']:,} MACs): the student is not smaller")
    if t1 is not None and t1 < gates.min_teacher_top1:
        missed.append(f"teacher top-1 {t1:.4f} < {gates.min_teacher_top1}")
    if s1 is not None and s1 < gates.min_student_top1:
        missed.append(f"student top-1 {s1:.4f} < {gates.min_student_top1}")
    if worst > gates.max_parity_abs_diff:
        missed.append(f"onnxruntime parity {worst:.2e} > {gates.max_parity_abs_diff}")
    if missed:
        raise ZooGateError("zoo gates missed: " + "; ".join(missed))
    return measured


TEACHER_DESCRIPTIONS = {
    "resnet_teacher": "ResNet-10-style teacher (BasicBlocks) for shapes-mobilenetv3, hard 64-class shapes",
    "convnext_teacher": "ConvNeXt-style teacher (conv stem, depthwise 7x7 blocks) for shapes-mobilenetv3, hard 64-class shapes",
    "mobilenetv3_small": "MobileNetV3-small teacher for shapes-mobilenetv3",
}


@dataclass
class ZooConfig:
    seed: int = 0
    repo: str = "models"                       # where exported models go
    work_dir: str = "training/runs/zoo"        # data, checkpoints, logs
    smoke: bool = False
    clip: bool = True                          # also run the MiniCLIP step
    # A finished teacher run's model.pt to distill from instead of training the teacher; it
    # must have been trained with `teacher`'s recipe (checked) on this zoo's data (the caller's word).
    teacher_checkpoint: str = ""
    # The teacher must reach item 1's 90 % and the distilled student must beat the same
    # student trained from scratch on the same epochs (43.7 % test top-1, training/README.md).
    gates: ZooGates = field(default_factory=lambda: ZooGates(min_teacher_top1=0.90, min_student_top1=0.45))
    # The classifiers' data: the hard 64-class set exactly as `python3 -m training data --set
    # difficulty=hard` writes it (the hard knobs at the easy set's sizes and noise), the level
    # of the calibration runs and the ablation (training/README.md); hard_config()'s smaller,
    # noisier shapes were never calibrated for a teacher.
    data: ShapesConfig = field(default_factory=lambda: ShapesConfig(difficulty="hard"))
    # MiniCLIP's data: the easy captions its recipe was chosen on ("Zero-shot per held-out pair").
    clip_data: ShapesConfig = field(default_factory=ShapesConfig)
    # Teacher: the ConvNeXt (depthwise 7x7 blocks, layer scale, stochastic depth) at a 32 px first
    # stage (3x3 stride-2 conv stem, then a 1x1 patchify), LayerNorm throughout, 36 MMACs, 6.5x the
    # student. In the blocks the LayerNorm is over each image's C x H x W map (`layer_chw`): the
    # paper's per-pixel form did not learn these shapes at this budget (53.9 % val at 12 epochs) and
    # BatchNorm, which did (96.2 %), is not the design's block; the whole-map LayerNorm reached
    # 95.3 %. The 32 px first stage and 24 epochs instead of the ResNet's 12 were each worth 19-34
    # points of validation top-1 (training/README.md, "The ConvNeXt at the zoo's budget").
    # `resnet_teacher` (width 24, (1,1,1,1), 12 epochs) is the baseline row.
    teacher: TrainConfig = field(default_factory=lambda: TrainConfig(
        model=ModelConfig(arch="convnext_teacher", convnext_stem=1, convnext_stem_convs=(24,), convnext_stem_strides=(2,),
                          convnext_dims=(24, 48, 96, 192), convnext_depths=(1, 1, 3, 1), convnext_block_norm="layer_chw"),
        epochs=24, batch_size=64, lr=2e-3, log_every_steps=64))
    # The same 12 epochs (of 128) as the from-scratch MobileNetV3-small of the calibration runs
    # (44.1 % val), so the card's figure shows what distillation adds.
    student: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=12, log_every_steps=64))


def smoke_config(work_dir: str, repo: str, seed: int = 0) -> ZooConfig:
    """Tiny sizes: 4 images per class, a handful of steps; exercises every stage."""
    cfg = ZooConfig(seed=seed, repo=repo, work_dir=work_dir, smoke=True)
    cfg.gates = ZooGates()  # a few steps learn nothing: only the FLOPs and parity gates apply
    cfg.data = ShapesConfig(difficulty="hard", train_per_class=4, val_per_class=1, test_per_class=1, workers=1)
    cfg.clip_data = ShapesConfig(train_per_class=4, val_per_class=1, test_per_class=1, workers=1)
    # the real teacher architecture (a smaller one would fail the FLOPs gate), a few steps
    cfg.teacher = TrainConfig(model=ModelConfig(arch="convnext_teacher"),
                              epochs=1, max_steps=3, batch_size=32, warmup_steps=1, log_every_steps=1)
    cfg.student = TrainConfig(epochs=1, max_steps=3, batch_size=32, warmup_steps=1, log_every_steps=1)
    return cfg


def build(cfg: ZooConfig, log=print) -> Dict:
    t0 = time.perf_counter()
    work = Path(cfg.work_dir)
    rd = RunDir(work, cfg, name="zoo")
    data_root = work / "data"
    cfg.data.root = str(data_root)
    cfg.data.seed = cfg.seed
    generate(cfg.data, log=rd.info)
    write_config(cfg.data.root, cfg.data)  # as the `data` command leaves it: the cards read it
    timings = {"data": round(time.perf_counter() - t0, 1)}

    cfg.teacher.data_root = cfg.student.data_root = str(data_root)
    cfg.teacher.seed = cfg.student.seed = cfg.seed
    cfg.teacher.out_dir = str(work / "teacher")
    teacher_ckpt = str(work / "teacher" / "model.pt")
    if cfg.teacher_checkpoint:
        teacher_ckpt = cfg.teacher_checkpoint
        check_teacher_recipe(cfg.teacher, teacher_ckpt)
        rd.info(f"zoo: teacher not trained: {teacher_ckpt} (the same recipe) is distilled from and exported")
    else:
        t = time.perf_counter()
        run(cfg.teacher)
        timings["teacher_train"] = round(time.perf_counter() - t, 1)
    teacher_card = export(ExportConfig(checkpoint=teacher_ckpt, repo=cfg.repo,
                                       name="shapes-teacher", eval_root=str(data_root / "test"),
                                       description=TEACHER_DESCRIPTIONS[cfg.teacher.model.arch]),
                          log=rd.info)

    cfg.student.out_dir = str(work / "student")
    cfg.student.teacher = teacher_ckpt
    t = time.perf_counter()
    run(cfg.student)
    timings["student_distill"] = round(time.perf_counter() - t, 1)
    student_card = export(ExportConfig(checkpoint=str(work / "student" / "model.pt"), repo=cfg.repo,
                                       name="shapes-mobilenetv3", eval_root=str(data_root / "test"),
                                       teacher_card=str(Path(cfg.repo) / "shapes-teacher" / "1" / "eval.json"),
                                       description="MobileNetV3-small student distilled from shapes-teacher"),
                          log=rd.info)
    result = {"teacher": _summary(teacher_card), "student": _summary(student_card),
              "gates": check_gates(cfg.gates, teacher_card, student_card)}

    if cfg.clip:
        t = time.perf_counter()
        clip_root = work / "data-clip"
        cfg.clip_data.root = str(clip_root)
        cfg.clip_data.seed = cfg.seed
        generate(cfg.clip_data, log=rd.info)
        write_config(cfg.clip_data.root, cfg.clip_data)
        result["clip"] = run_clip_zoo(cfg, str(clip_root), rd.info)
        timings["clip"] = round(time.perf_counter() - t, 1)
    timings["total"] = round(time.perf_counter() - t0, 1)
    result["timings_seconds"] = timings
    rd.update_metrics(**result)
    rd.info(f"zoo: done in {timings['total']:.0f}s: {json.dumps(result)}")
    rd.close()
    return result


# run bookkeeping that does not change what a run learns
_NOT_RECIPE = {"data_root", "out_dir", "threads", "log_every_steps", "device", "resume", "kd_cache"}


def check_teacher_recipe(recipe: TrainConfig, checkpoint: str) -> None:
    """Raises ValueError naming every recipe key where `checkpoint`'s run differs from `recipe`."""
    from training.config import from_dict
    from training.train import load_checkpoint

    ran = to_dict(from_dict(TrainConfig, load_checkpoint(checkpoint)["train_config"]))
    want = to_dict(recipe)
    diff = sorted(k for k in set(ran) | set(want) if k not in _NOT_RECIPE and ran.get(k) != want.get(k))
    if diff:
        raise ValueError(f"teacher_checkpoint {checkpoint} was trained with another recipe: "
                         + ", ".join(f"{k}={ran.get(k)!r} (zoo: {want.get(k)!r})" for k in diff))


def _summary(card: Dict) -> Dict:
    return {"top1": card.get("eval", {}).get("top1"), "params": card["params"], "macs": card["macs"],
            "parityMaxAbsDiff": card["onnx"]["parityMaxAbsDiff"]}


def run_clip_zoo(cfg: ZooConfig, data_root: str, log) -> Dict:
    """The MiniCLIP step (training/clip_run.py) on the zoo's data and seed."""
    from training import clip_run

    return clip_run.build(data_root=data_root, repo=cfg.repo, work_dir=str(Path(cfg.work_dir) / "clip"),
                          smoke=cfg.smoke, seed=cfg.seed, log=log) or {}
