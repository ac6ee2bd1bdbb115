# Export a trained classifier into the gateway's model repository
# (docs/model-repository.md): <root>/<name>/model.json, labels.txt,
# <version>/model.onnx, <version>/eval.json and <version>/golden/. As timm's export:
# dynamic batch axis, ONNX checker, then parity of the ONNX graph against PyTorch
# (with training/onnx_eval.py, see there why) before anything is declared done.
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnx
import torch
from PIL import Image

from training import onnx_eval, ort_parity
from training.config import from_dict
from training.data.shapes import ShapesConfig, class_names, render
from training.data.transforms import PreprocessConfig, preprocess_pil
from training.models import count_macs, count_params
from training.models.dynamic_conv import DynamicConv2d
from training.train import model_from_checkpoint

PARITY_ATOL = 1e-4
BATCHING_DEFAULTS = {"maxBatchSize": 32, "maxQueueDelayMs": 2, "preferredBatchSizes": [],
                     "maxQueueSize": 256, "instances": 1, "defaultTimeoutMs": 10000}


@dataclass
class ExportConfig:
    checkpoint: str = "training/runs/train/model.pt"
    repo: str = "models"               # model repository root
    name: str = "shapes-mobilenetv3"
    version: int = 1
    description: str = ""
    opset: int = 17
    eval_root: str = ""               # ImageFolder split to report top-1 on (e.g. <data>/test)
    golden: bool = True
    teacher_card: str = ""            # teacher's eval.json, to put teacher-vs-student in the card
    node_modules: str = ""            # where onnxruntime-node lives (see training/ort_parity.py)


class _ExportWrapper(torch.nn.Module):
    """Dynamic convs fold the batch into conv groups, and ONNX's `group` is a static
    attribute; for export they switch to the K-convolutions-then-mix form, which gives the
    same outputs (unit-tested) with a batch-independent graph."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        for m in model.modules():
            if isinstance(m, DynamicConv2d):
                m.forward = m.forward_reference  # type: ignore[assignment]

    def forward(self, x):
        return self.model(x)


def export_onnx(model: torch.nn.Module, path: Path, size: List[int], opset: int = 17) -> onnx.ModelProto:
    model = _ExportWrapper(model.eval())
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, *size)
    torch.onnx.export(model, dummy, str(path), opset_version=opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    if not dim0.dim_param:
        raise RuntimeError(f"{path}: batch axis is not dynamic")
    return proto


def parity(proto: onnx.ModelProto, model: torch.nn.Module, inputs: np.ndarray) -> float:
    """Max |ONNX - PyTorch| over `inputs` (a batch > 1 also exercises the dynamic axis)."""
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(inputs)).numpy()
    got = onnx_eval.run(proto, {"input": inputs})[0]
    if got.shape != ref.shape:
        raise RuntimeError(f"parity: ONNX output shape {got.shape} != PyTorch {ref.shape}")
    return float(np.abs(got - ref).max())


def fixture_images(size: List[int]) -> List[Image.Image]:
    """Four small fixtures: native size RGB, a larger non-square RGB (120x80, resize + crop
    path; 80 -> 64 scales 120 to exactly 96, so no rounding ambiguity), RGBA (alpha is
    dropped, as PIL's convert("RGB") and sharp's removeAlpha do) and 8-bit grayscale
    (replicated to 3 channels). Drawn from the generator's own 'fixture' split."""
    cfg = ShapesConfig(image_size=size[0])
    a = render(7, "fixture", 0, 5, cfg)
    b = render(7, "fixture", 1, 26, cfg).resize((120, 80), Image.BICUBIC)
    c = render(7, "fixture", 2, 43, cfg).convert("RGBA")
    alpha = np.tile(np.linspace(64, 255, size[1], dtype=np.uint8), (size[0], 1))
    c.putalpha(Image.fromarray(alpha, "L"))
    d = render(7, "fixture", 3, 60, cfg).resize((72, 72), Image.BICUBIC).convert("L")
    return [a, b, c, d]


def write_golden(model: torch.nn.Module, pp: PreprocessConfig, out: Path) -> Dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    items = []
    model.eval()
    for k, img in enumerate(fixture_images(pp.size)):
        img.save(out / f"{k}.png")
        with Image.open(out / f"{k}.png") as im:  # decode back: exactly what a client sends
            x = preprocess_pil(im, pp)
            mode, wh = im.mode, list(im.size)
        with torch.no_grad():
            y = model(x)
        x.numpy().astype("<f4").tofile(out / f"{k}.input.f32")
        y.numpy().astype("<f4").tofile(out / f"{k}.logits.f32")
        items.append({"image": f"{k}.png", "input": f"{k}.input.f32", "inputShape": list(x.shape),
                      "output": f"{k}.logits.f32", "outputName": "logits", "outputShape": list(y.shape),
                      "imageMode": mode, "imageSize": wh})
    index = {"items": items, "dtype": "float32", "byteOrder": "little",
             "note": "input = PIL decode -> RGB (alpha dropped) -> resize/crop per model.json "
                     "preprocessing -> /scale -> (x-mean)/std, NCHW; output = PyTorch eval()"}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def export(cfg: ExportConfig, log=print) -> Dict:
    model, ck = model_from_checkpoint(cfg.checkpoint)
    pp = from_dict(PreprocessConfig, ck["preprocess"])
    classes: List[str] = ck["classes"]
    model_dir = Path(cfg.repo) / cfg.name
    vdir = model_dir / str(cfg.version)
    onnx_path = vdir / "model.onnx"
    proto = export_onnx(model, onnx_path, pp.size, cfg.opset)
    log(f"export: wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB), checker passed")

    golden = write_golden(model, pp, vdir / "golden") if cfg.golden else None
    inputs = [np.fromfile(vdir / "golden" / it["input"], "<f4").reshape(it["inputShape"])
              for it in golden["items"]] if golden else []
    batch = np.concatenate(inputs + [np.random.default_rng(0).normal(size=(2, 3, *pp.size)).astype(np.float32)])
    max_diff = parity(proto, model, batch)
    log(f"export: parity ONNX (numpy evaluator) vs PyTorch on batch {batch.shape[0]}: max abs diff {max_diff:.2e}")
    if max_diff > PARITY_ATOL:
        raise RuntimeError(f"parity failed: max abs diff {max_diff:.3e} > {PARITY_ATOL}")

    (model_dir / "labels.txt").write_text("\n".join(classes) + "\n")
    manifest = {
        "name": cfg.name,
        "kind": "image-classifier",
        "description": cfg.description or f"{ck['model']['arch']} trained on the procedural shapes dataset",
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 3, *pp.size]}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, len(classes)]}],
        "preprocessing": pp.manifest(),
        "postprocessing": "softmax",
        "labels": "labels.txt",
        "batching": dict(BATCHING_DEFAULTS),
    }
    # the parity script reads the manifest for the graph's io names: written first, removed on failure
    (model_dir / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
    try:
        if not golden:
            raise RuntimeError("export: onnxruntime-node parity needs the golden files (golden=false)")
        ort = ort_parity.run(vdir, cfg.node_modules or None)
        log(f"export: onnxruntime-node parity vs PyTorch over {ort['items']} golden items, single and batched: "
            f"max abs diff {ort['worst']:.2e}")
        if ort["worst"] > PARITY_ATOL:
            raise RuntimeError(f"onnxruntime-node parity failed: {ort} > {PARITY_ATOL}")
    except Exception:
        (model_dir / "model.json").unlink()
        raise

    macs = count_macs(model, (1, 3, *pp.size))
    card = {
        "name": cfg.name, "version": cfg.version, "arch": ck["model"]["arch"], "model": ck["model"],
        "params": count_params(model), "macs": macs, "flops": 2 * macs,
        "flopsNote": "macs = multiply-accumulates per image at the input size; flops = 2 * macs",
        "inputSize": pp.size, "numClasses": len(classes),
        "onnx": {"file": "model.onnx", "opset": cfg.opset, "bytes": onnx_path.stat().st_size,
                 "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
                 "parityMaxAbsDiff": max_diff, "parityTolerance": PARITY_ATOL,
                 "parityReference": "training/onnx_eval.py (NumPy) vs PyTorch eval()",
                 "ortParity": ort},
        "distilledFrom": ck["train_config"].get("teacher") or None,
    }
    if cfg.eval_root:
        from training.evaluate import evaluate_folder

        res = evaluate_folder(model, cfg.eval_root, pp, classes)
        card["eval"] = {"split": str(cfg.eval_root), **res}
        log(f"export: top-1 on {cfg.eval_root}: {res['top1']:.4f} ({res['n']} images)")
    if cfg.teacher_card and Path(cfg.teacher_card).exists():
        t = json.loads(Path(cfg.teacher_card).read_text())
        card["teacher"] = {k: t.get(k) for k in ("name", "arch", "params", "macs", "flops")}
        card["teacher"]["top1"] = t.get("eval", {}).get("top1")
        if t.get("macs"):
            card["teacher"]["studentFlopsRatio"] = macs / t["macs"]
        if card.get("eval") and card["teacher"]["top1"] is not None:
            card["teacher"]["top1Gap"] = card["teacher"]["top1"] - card["eval"]["top1"]
    (vdir / "eval.json").write_text(json.dumps(card, indent=2) + "\n")
    return card
