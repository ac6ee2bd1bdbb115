"""The MiniCLIP step of the default zoo and of `python3 -m training clip`: load the
captions (held-out colour-shape combinations removed), train the teacher CLIP, distill
its image tower into MobileNetV3-small, evaluate zero-shot, export `miniclip-shapes`."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import torch

from training import calibration
from training.data.captions import load_caption_jsonl
from training.export import export_miniclip
from training.models.clip import ClipModelConfig, MiniCLIP, TextConfig, count_flops, count_params, create_image_tower
from training.train_clip import ClipTrainConfig, OptimConfig, distill_student, train_teacher, zero_shot_eval
from training.config import RunDir, from_dict, set_threads, to_dict
from training.data.shapes import COLOURS, SHAPES, heldout_combinations
from training.data.transforms import PreprocessConfig


@dataclass
class ClipRunConfig:
    data_root: str = "training/runs/data/shapes"   # procedural shapes root (captions_<split>.jsonl)
    train_split: str = "train"
    eval_split: str = "test"
    val_split: str = "val"                         # recipe choice and the multi-label calibration ("" = none)
    work_dir: str = "training/runs/clip"           # checkpoints, config.yaml, metrics.json, train.log
    repo: str = "models"                           # model repository the export goes to
    name: str = "miniclip-shapes"
    version: int = 1
    export: bool = True
    limit_train: int = 0                           # > 0: N training records, evenly spread (smoke)
    limit_eval: int = 0                            # > 0: N evaluation records, evenly spread (smoke)
    teacher_checkpoint: str = ""                   # a teacher.pt of an earlier run: skip teacher training
    student_checkpoint: str = ""                   # a student.pt of an earlier run: skip distillation
    # image encoder of `name`: "teacher" (the CLIP-trained tower, factored by default) | "student"
    # (MobileNetV3-small distilled from it; needs distill). The teacher ships: its zero-shot
    # figures are the ones measured over three seeds, and it costs about what MobileNetV3-small does
    export_tower: str = "teacher"
    export_teacher: bool = True                    # with export_tower "student": also export `<name>-teacher`
    distill: bool = False                          # true: also distill a MobileNetV3-small student
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    train: ClipTrainConfig = field(default_factory=ClipTrainConfig)


def smoke_config(cfg: Optional[ClipRunConfig] = None) -> ClipRunConfig:
    """Tiny sizes and a few steps: exercises every stage (train, distill, eval, export,
    ONNX parity) in seconds."""
    cfg = cfg or ClipRunConfig()
    t = cfg.train
    t.model = ClipModelConfig(embed_dim=32, image_width=8, image_tower=t.model.image_tower, colour_width=8,
                              text=TextConfig(width=32, layers=1, heads=2))
    t.teacher = OptimConfig(steps=3, batch_size=32, warmup_fraction=0.34)
    t.student = OptimConfig(steps=3, batch_size=32, warmup_fraction=0.34)
    t.log_every = 1
    cfg.limit_train = 512
    cfg.limit_eval = 256
    return cfg


def _towers_summary(model_visual, student, text, pp: PreprocessConfig, text_len: int, tower: str) -> Dict:
    x = torch.zeros(1, 3, *pp.size)
    ids = torch.zeros(1, text_len, dtype=torch.long)
    ids[0, -1] = 49407
    return {
        "studentImageEncoder": {"arch": "mobilenetv3_small (torchvision)", "params": count_params(student),
                                "flops": count_flops(student, x)} if student is not None else None,
        "teacherImageEncoder": {"arch": tower, "params": count_params(model_visual),
                                "flops": count_flops(model_visual, x)},
        "textEncoder": {"params": count_params(text), "flops": count_flops(text, ids),
                        "flopsNote": f"per prompt at the full context length {text_len}"},
        "flopsNote": "flops = 2 x multiply-accumulates of conv/linear/attention matmuls, batch 1",
    }


def _trained_seconds(checkpoint: str, key: str) -> float | None:
    """Training time of a reused checkpoint, from the metrics.json its run left beside it."""
    m = Path(checkpoint).parent / "metrics.json"
    try:
        hist = json.loads(m.read_text())[key]
        return hist[-1]["elapsed_s"] if hist else None
    except (OSError, KeyError, ValueError):
        return None


def run(cfg: ClipRunConfig, log=None) -> Dict:
    t_start = time.time()
    rd = RunDir(cfg.work_dir, cfg, name="clip")
    log = log or rd.info
    set_threads(cfg.train.threads)
    pp = cfg.preprocess
    root = Path(cfg.data_root)
    held = heldout_combinations()
    held_set = set(held)
    train = load_caption_jsonl(root / f"captions_{cfg.train_split}.jsonl", pp,
                               keep=lambda r: (r["colour"], r["shape"]) not in held_set, limit=cfg.limit_train or None)
    test = load_caption_jsonl(root / f"captions_{cfg.eval_split}.jsonl", pp, limit=cfg.limit_eval or None)
    val_file = root / f"captions_{cfg.val_split}.jsonl"
    val = load_caption_jsonl(val_file, pp, limit=cfg.limit_eval or None) if cfg.val_split and val_file.exists() else None
    log(f"clip: {len(train)} training pairs ({len(train.texts)} captions; held-out combinations excluded: "
        f"{', '.join(f'{c} {s}' for c, s in held)}), {len(test)} {cfg.eval_split} images, "
        f"loaded in {time.time() - t_start:.1f}s")

    if cfg.teacher_checkpoint:
        ck = torch.load(cfg.teacher_checkpoint, map_location="cpu")
        cfg.train.model = from_dict(ClipModelConfig, ck["config"])
        teacher = MiniCLIP(cfg.train.model)
        teacher.load_state_dict(ck["state_dict"])
        teacher.eval()
        t_info = {"history": [], "train_seconds": _trained_seconds(cfg.teacher_checkpoint, "teacher_history"),
                  "checkpoint": cfg.teacher_checkpoint}
        log(f"clip: teacher loaded from {cfg.teacher_checkpoint}")
    else:
        teacher, t_info = train_teacher(cfg.train, train, pp, log)
    torch.save({"config": to_dict(cfg.train.model), "state_dict": teacher.state_dict()}, Path(cfg.work_dir) / "teacher.pt")
    zs_teacher = zero_shot_eval(teacher.visual, teacher.encode_text, test, list(COLOURS), SHAPES, held, pp, cfg.train.pad_id)
    log(f"clip: teacher zero-shot {json.dumps(zs_teacher)}")

    if not cfg.distill:
        if cfg.export_tower != "teacher":
            raise ValueError("distill=false leaves no student: set export_tower=teacher")
        student, s_info = None, {"history": [], "train_seconds": None}
    elif cfg.student_checkpoint:
        student = create_image_tower("mobilenetv3_small", cfg.train.model.embed_dim, se=cfg.train.student_se)
        student.load_state_dict(torch.load(cfg.student_checkpoint, map_location="cpu")["state_dict"])
        student.eval()
        s_info = {"history": [], "train_seconds": _trained_seconds(cfg.student_checkpoint, "student_history"),
                  "checkpoint": cfg.student_checkpoint}
        log(f"clip: student loaded from {cfg.student_checkpoint}")
    else:
        student, s_info = distill_student(cfg.train, teacher, train, pp, log)
    zs_student = None
    if student is not None:
        torch.save({"state_dict": student.state_dict()}, Path(cfg.work_dir) / "student.pt")
        zs_student = zero_shot_eval(student, teacher.encode_text, test, list(COLOURS), SHAPES, held, pp, cfg.train.pad_id)
        log(f"clip: student zero-shot {json.dumps(zs_student)}")
    zs_val = calib = None
    visual = student if cfg.export_tower == "student" else teacher.visual
    if val is not None:
        # choose recipes on these figures (held-out pairs, validation images), never on the test split's
        zs_val = zero_shot_eval(visual, teacher.encode_text, val, list(COLOURS), SHAPES, held, pp, cfg.train.pad_id)
        log(f"clip: {cfg.export_tower} zero-shot on {cfg.val_split} {json.dumps(zs_val)}")
        calib = calibration.evaluate(visual, teacher.encode_text, val, test, list(COLOURS), SHAPES, held, pp,
                                     float(teacher.logit_scale()), cfg.train.pad_id)
        log(f"clip: multi-label calibration {json.dumps(calib)}")

    logit_scale = float(teacher.logit_scale())
    mflops = count_flops(visual, torch.zeros(1, 3, *pp.size)) / 1e6
    tower = ("factored image tower (a per-pixel colour branch plus a ResNet-style shape branch over chroma, "
             "summed)" if cfg.train.model.image_tower == "factored" else "ResNet-style CLIP image tower")
    description = (f"MiniCLIP: MobileNetV3-small image encoder distilled from a {tower}, "
                   "with the teacher's causal text transformer over the CLIP BPE vocabulary"
                   if cfg.export_tower == "student" else
                   f"MiniCLIP: {tower}, {mflops:.1f} MFLOPs, and a causal text transformer over the CLIP "
                   "BPE vocabulary, trained together contrastively")
    card = {
        "description": description,
        "zeroShot": {
            "split": f"{cfg.data_root}/{cfg.eval_split}",
            "protocol": "each image scored against the prompt of every one of the 64 colour-shape combinations "
                        "('a photo of a {colour} {shape}.'); top-1 reported on images of held-out combinations "
                        "(never in CLIP training) and of seen ones",
            "heldoutCombinations": [f"{c}_{s}" for c, s in held],
            "student": zs_student, "teacher": zs_teacher,
            "exported": zs_student if cfg.export_tower == "student" else zs_teacher,  # what the gateway serves
            "validation": {"split": cfg.val_split, "tower": cfg.export_tower, **(zs_val or {})} if zs_val else None,
            "studentMinusTeacherHeldoutTop1":
                round(zs_student["heldout_top1"] - zs_teacher["heldout_top1"], 4) if zs_student else None,
        },
        **_towers_summary(teacher.visual, student, teacher.text, pp, cfg.train.model.text.context_length,
                          cfg.train.model.image_tower),
        "logitScale": logit_scale,
        "multiLabel": calib,
        "training": {
            "pairs": len(train), "captions": len(train.texts), "seed": cfg.train.seed,
            "imageTower": cfg.train.model.image_tower, "partialCaptions": cfg.train.partial_captions,
            "greyShapeOnly": cfg.train.grey_shape_only, "labelSmoothing": cfg.train.label_smoothing,
            "teacherSteps": cfg.train.teacher.steps, "studentSteps": cfg.train.student.steps if student else None,
            "batchSize": [cfg.train.teacher.batch_size] + ([cfg.train.student.batch_size] if student else []),
            "loss": cfg.train.loss,
            "distill": {"mode": cfg.train.distill_mode, "distillWeight": cfg.train.distill_weight,
                        "contrastiveWeight": cfg.train.contrastive_weight} if student else None,
            "teacherSeconds": t_info["train_seconds"], "studentSeconds": s_info["train_seconds"],
            "teacherCheckpoint": t_info.get("checkpoint"), "studentCheckpoint": s_info.get("checkpoint"),
            "threads": cfg.train.threads,
        },
        "textTower": {"keptTokenIds": teacher.text.kept_ids, "unknownTokens": "mapped to one UNK row",
                      "padTokenId": cfg.train.pad_id},
    }
    result = {"zeroShot": {"student": zs_student, "teacher": zs_teacher, "validation": zs_val},
              "logitScale": logit_scale, "multiLabel": calib}
    if cfg.export:
        if cfg.export_tower not in ("student", "teacher"):
            raise ValueError(f"export_tower {cfg.export_tower!r}; valid: student, teacher")
        card["exportedImageEncoder"] = cfg.export_tower
        ml = {"scale": calib["scale"], "bias": calib["bias"]} if calib else None
        card = export_miniclip(visual, teacher.text, logit_scale, pp, Path(cfg.repo), cfg.name, cfg.version,
                               description=card["description"], pad_id=cfg.train.pad_id, card=card,
                               multi_label=ml, log=log)
        result["export"] = str(Path(cfg.repo) / cfg.name)
        result["parity"] = card["onnx"]["parity"]
        if cfg.export_teacher and cfg.export_tower == "student":
            tname = f"{cfg.name}-teacher"
            tcard = {k: v for k, v in card.items() if k not in ("onnx", "name", "version", "kind", "multiLabel")}
            tcard["exportedImageEncoder"] = "teacher"
            tcard["description"] = ("MiniCLIP teacher: the ResNet-style CLIP image tower the student of "
                                    f"{cfg.name} was distilled from, with the same text encoder (for comparison)")
            export_miniclip(teacher.visual, teacher.text, logit_scale, pp, Path(cfg.repo), tname, cfg.version,
                            description=tcard["description"], pad_id=cfg.train.pad_id, card=tcard, log=log)
            result["exportTeacher"] = str(Path(cfg.repo) / tname)
    result["seconds"] = round(time.time() - t_start, 1)
    rd.update_metrics(**result, teacher_history=t_info["history"], student_history=s_info["history"])
    log(f"clip: done in {result['seconds']:.0f}s")
    rd.close()
    return result


def build(data_root: str, repo: str, work_dir: str, smoke: bool = False, seed: int = 0, log=None) -> Dict:
    """Zoo step (called by training/zoo.py): the default MiniCLIP, or the smoke version."""
    cfg = ClipRunConfig(data_root=data_root, repo=repo, work_dir=work_dir)
    if smoke:
        cfg = smoke_config(cfg)
    cfg.train.seed = seed
    res = run(cfg, log)
    shipped = res["zeroShot"][cfg.export_tower]
    return {"tower": cfg.export_tower, "heldoutTop1": shipped["heldout_top1"], "seenTop1": shipped["seen_top1"],
            "heldoutPerPair": shipped["heldout_per_pair"], "teacherHeldoutTop1": res["zeroShot"]["teacher"]["heldout_top1"],
            "seconds": res["seconds"], "parity": res.get("parity")}


def _mean_sd(values) -> Dict:
    vals = [v for v in values if v is not None]
    mean = sum(vals) / len(vals)
    sd = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0
    return {"mean": round(mean, 4), "sd": round(sd, 4), "runs": vals}


def _finished(cfg: ClipRunConfig) -> Optional[Dict]:
    """The metrics of a finished run of exactly this config in its work_dir, else None."""
    import yaml

    d = Path(cfg.work_dir)
    try:
        if yaml.safe_load((d / "config.yaml").read_text()) != json.loads(json.dumps(to_dict(cfg))):
            return None
        m = json.loads((d / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return m if "zeroShot" in m and "seconds" in m else None


def run_seeds(cfg: ClipRunConfig, seeds, min_pair: float = 0.60, min_mean: float = 0.85, log=None) -> Dict:
    """The same recipe over several seeds (no export; `teacher_checkpoint` can export a
    seed's teacher later; a seed whose finished run of the same config is in its folder is
    reused): zero-shot top-1 of the exported tower on every held-out pair,
    mean ± sd over the seeds, on the validation split (where recipes are chosen) and on the
    test split, checked against the targets (every pair >= `min_pair`, mean >= `min_mean`).
    Writes zero_shot_seeds.json and zero_shot_seeds.md into `work_dir`."""
    import copy

    out = Path(cfg.work_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_seed = []
    for seed in seeds:
        c = copy.deepcopy(cfg)  # training fills in the text tower's token ids: no seed may see another's
        c.work_dir, c.export, c.train.seed = str(out / f"seed{seed}"), False, seed
        res = _finished(c)
        if res is None:
            res = run(c, log)
        zs = res["zeroShot"]
        per_seed.append({"seed": seed, "val": zs["validation"], "test": zs[cfg.export_tower], "seconds": res["seconds"]})
    summary: Dict = {"tower": cfg.export_tower, "seeds": list(seeds), "targets": {"pair": min_pair, "mean": min_mean}}
    for split in ("val", "test"):
        rows = [r[split] for r in per_seed if r[split]]
        if not rows:
            continue
        pairs = {k: _mean_sd([r["heldout_per_pair"][k] for r in rows]) for k in rows[0]["heldout_per_pair"]}
        held = _mean_sd([r["heldout_top1"] for r in rows])
        summary[split] = {"heldoutPerPair": pairs, "heldoutTop1": held, "seenTop1": _mean_sd([r["seen_top1"] for r in rows]),
                          "targetsMet": held["mean"] >= min_mean and all(v["mean"] >= min_pair for v in pairs.values())}
    summary["seconds"] = [r["seconds"] for r in per_seed]
    summary["config"] = to_dict(cfg)
    (out / "zero_shot_seeds.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"Zero-shot top-1 of the {cfg.export_tower} image tower on the held-out pairs, seeds {list(seeds)}; "
             f"targets: every pair >= {min_pair:.0%}, mean >= {min_mean:.0%}", "",
             "| pair | " + " | ".join(f"{s} (mean ± sd; runs)" for s in ("val", "test") if s in summary) + " |",
             "|---|" + "---|" * sum(s in summary for s in ("val", "test"))]

    def fmt(st: Dict) -> str:
        return f"{100 * st['mean']:.1f} ± {100 * st['sd']:.1f} % ({', '.join(f'{100 * v:.1f}' for v in st['runs'])})"
    splits = [s for s in ("val", "test") if s in summary]
    for pair in summary[splits[0]]["heldoutPerPair"]:
        lines.append(f"| {pair} | " + " | ".join(fmt(summary[s]["heldoutPerPair"][pair]) for s in splits) + " |")
    lines.append("| **held-out mean** | " + " | ".join(fmt(summary[s]["heldoutTop1"]) for s in splits) + " |")
    lines.append("| seen pairs | " + " | ".join(fmt(summary[s]["seenTop1"]) for s in splits) + " |")
    lines.append("| targets met | " + " | ".join(str(summary[s]["targetsMet"]) for s in splits) + " |")
    (out / "zero_shot_seeds.md").write_text("\n".join(lines) + "\n")
    return summary
