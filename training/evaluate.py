"""`eval`: top-1 (and per-class accuracy) of a checkpoint on an ImageFolder split, with
the same eval preprocessing the manifest declares."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import torch

from training.data.loaders import ImageFolderTensors
from training.data.transforms import PreprocessConfig
from training.train import evaluate


@dataclass
class EvalConfig:
    checkpoint: str = "training/runs/train/model.pt"
    data: str = "training/runs/data/shapes/test"
    out: str = ""          # optional JSON file for the result


def evaluate_folder(model: torch.nn.Module, root: str | Path, pp: PreprocessConfig, classes: List[str]) -> Dict:
    ds = ImageFolderTensors(root, pp, classes)
    res = evaluate(model, ds.images, ds.labels, pp)
    with torch.no_grad():
        from training.data.transforms import normalize
        preds = torch.cat([model(normalize(ds.images[i:i + 256], pp)).argmax(1) for i in range(0, len(ds), 256)])
    per_class = {}
    for c, name in enumerate(classes):
        m = ds.labels == c
        if m.any():
            per_class[name] = round(float((preds[m] == c).float().mean()), 4)
    worst = sorted(per_class.items(), key=lambda kv: kv[1])[:5]
    return {"top1": res["top1"], "loss": res["loss"], "n": res["n"], "worstClasses": dict(worst)}
