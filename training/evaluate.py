"""`eval`: top-1 (and the worst classes) on an ImageFolder split, of a PyTorch checkpoint or
of an exported model folder run by onnxruntime-node (the gateway's runtime) with the
preprocessing its model.json declares."""
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
    onnx: str = ""         # a model folder (<repo>/<name>) or version folder: evaluate its model.onnx instead
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


def _summary(preds: torch.Tensor, labels: torch.Tensor, classes: List[str]) -> Dict:
    per_class = {}
    for c, name in enumerate(classes):
        m = labels == c
        if m.any():
            per_class[name] = round(float((preds[m] == c).float().mean()), 4)
    worst = sorted(per_class.items(), key=lambda kv: kv[1])[:5]
    return {"top1": round(float((preds == labels).float().mean()), 4), "n": int(len(labels)), "worstClasses": dict(worst)}


def evaluate_onnx(model_path: str | Path, root: str | Path, node_modules: str | None = None) -> Dict:
    """Top-1 of an exported classifier (a model folder holding model.json, labels.txt and
    numbered versions, or one version folder) on an ImageFolder split, run by onnxruntime-node."""
    import json

    from training import ort_parity
    from training.data.transforms import normalize

    p = Path(model_path)
    if (p / "model.json").is_file():
        versions = sorted((d for d in p.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))
        if not versions:
            raise FileNotFoundError(f"{p}: no numbered version folder")
        mdir, vdir = p, versions[-1]
    elif (p.parent / "model.json").is_file():
        mdir, vdir = p.parent, p
    else:
        raise FileNotFoundError(f"{p}: neither a model folder nor a version folder (no model.json)")
    manifest = json.loads((mdir / "model.json").read_text())
    if manifest.get("kind") != "image-classifier":
        raise ValueError(f"{mdir}: eval --onnx handles image classifiers, not kind {manifest.get('kind')!r}")
    classes = (mdir / manifest.get("labels", "labels.txt")).read_text().split()
    pp = PreprocessConfig.from_manifest(manifest["preprocessing"])
    ds = ImageFolderTensors(root, pp, classes)
    x = normalize(ds.images, pp).numpy()
    logits = ort_parity.run_graph(vdir / manifest.get("file", "model.onnx"), manifest["inputs"][0]["name"],
                                  manifest["outputs"][0]["name"], x, node_modules)
    res = _summary(torch.from_numpy(logits).argmax(1), ds.labels, classes)
    return {**res, "model": str(vdir), "runtime": "onnxruntime-node"}
