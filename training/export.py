"""Export into the gateway's model repository (docs/model-repository.md), for both model
kinds: an image classifier (<name>/model.json, labels.txt, <version>/model.onnx) and a
MiniCLIP (kind "clip": image_encoder.onnx, text_encoder.onnx, tokenizer.json). Both go
through one ONNX export (dynamic batch axis, checker), one set of fixture images for the
golden files (<version>/golden/) and one onnxruntime-node parity check driven by model.json
(training/ort_parity.py) before the eval card (<version>/eval.json) is written. Batching is
left to the gateway's manifest defaults."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import onnx
import torch
import torch.nn as nn
from PIL import Image

from training import model_card, onnx_eval, ort_parity
from training.config import from_dict
from training.data.tokenizer import CONTEXT_LENGTH, DEFAULT_TOKENIZER_JSON, get_tokenizer
from training.data.shapes import ShapesConfig, class_names, render
from training.data.transforms import PreprocessConfig, preprocess_pil
from training.models import count_macs, count_params
from training.models.clip import ImageEncoderExport, TextEncoderExport
from training.models.dynamic_conv import DynamicConv2d
from training.models.onnx_flops import graph_cost
from training.train import model_from_checkpoint

PARITY_ATOL = 1e-4


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


def onnx_export(module: torch.nn.Module, dummy: torch.Tensor, path: Path, input_name: str, output_name: str,
                opset: int = 17) -> onnx.ModelProto:
    """The one ONNX export every model goes through: a dynamic batch axis, constant folding,
    then onnx.checker's full check; refuses a graph whose batch axis came out static."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module.eval(), dummy, str(path), opset_version=opset, input_names=[input_name],
                      output_names=[output_name], dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                      do_constant_folding=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    if not proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param:
        raise RuntimeError(f"{path}: batch axis is not dynamic")
    return proto


def export_onnx(model: torch.nn.Module, path: Path, size: List[int], opset: int = 17) -> onnx.ModelProto:
    """A classifier: input `input` [batch, 3, H, W] -> output `logits` [batch, classes]."""
    return onnx_export(_ExportWrapper(model.eval()), torch.zeros(1, 3, *size), path, "input", "logits", opset)


def export_crossmodal_onnx(model: torch.nn.Module, input_ids: torch.Tensor, path: Path, size: List[int],
                           opset: int = 17) -> onnx.ModelProto:
    """The cross-modal classifier (training/models/cross_modal.py): inputs `pixel_values`
    [batch, 3, H, W] and `input_ids` [candidates, L] (int64 CLIP BPE ids, L fixed), output
    `logits` [batch, candidates]; both leading axes dynamic, checked by onnx.checker."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model.eval(), (torch.zeros(1, 3, *size), input_ids), str(path), opset_version=opset,
                      input_names=["pixel_values", "input_ids"], output_names=["logits"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "input_ids": {0: "candidates"},
                                    "logits": {0: "batch", 1: "candidates"}}, do_constant_folding=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
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


_DATA_KEYS = ("seed", "difficulty", "task", "train_per_class", "val_per_class", "test_per_class", "min_size_frac",
              "max_size_frac", "noise_std")


def training_summary(train_config: Dict) -> Dict:
    """How a classifier was trained, for its card: seed, schedule, optimiser, distillation and
    the generator settings of its data (from the data root's config.yaml, when there is one)."""
    import yaml

    tc = train_config
    out = {"seed": tc.get("seed"), "epochs": tc.get("epochs"), "maxSteps": tc.get("max_steps") or None,
           "batchSize": tc.get("batch_size"), "optimizer": "AdamW", "lr": tc.get("lr"), "weightDecay": tc.get("weight_decay"),
           "warmupSteps": tc.get("warmup_steps"), "schedule": "linear warm-up, then cosine to 0",
           "labelSmoothing": tc.get("label_smoothing")}
    if "child_steps" in tc:   # a `nas` run: the found child trained child_steps from scratch
        out.update(epochs=None, maxSteps=None, steps=tc["child_steps"], warmupSteps=tc.get("lr_warmup_steps"))
    if tc.get("teacher"):
        out["kd"] = {k: (tc.get("kd") or {}).get(k) for k in ("temperature", "alpha")}
    data_yaml = Path(str(tc.get("data_root", ""))) / "config.yaml"
    if data_yaml.is_file():
        data = yaml.safe_load(data_yaml.read_text()) or {}
        out["data"] = {k: data.get(k) for k in _DATA_KEYS}
    return out


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

    cost = graph_cost(proto)  # the card states what the served graph costs
    macs = cost["macs"]
    card = {
        "name": cfg.name, "version": cfg.version, "arch": ck["model"]["arch"], "model": ck["model"],
        "params": cost["params"], "macs": macs, "flops": 2 * macs,
        "flopsNote": "counted from model.onnx (training/models/onnx_flops.py): macs = multiply-accumulates per "
                     "image at the input size (Conv, MatMul, Gemm); flops = 2 * macs; params = initializer elements",
        "pytorch": {"params": count_params(model), "macs": count_macs(model, (1, 3, *pp.size))},
        "inputSize": pp.size, "numClasses": len(classes),
        "onnx": {"file": "model.onnx", "opset": cfg.opset, "bytes": onnx_path.stat().st_size,
                 "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
                 "parityMaxAbsDiff": max_diff, "parityTolerance": PARITY_ATOL,
                 "parityReference": "training/onnx_eval.py (NumPy) vs PyTorch eval()",
                 "ortParity": ort},
        "distilledFrom": ck["train_config"].get("teacher") or None,
        "training": training_summary(ck["train_config"]),
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
    model_card.write(model_dir)
    return card


# ---- MiniCLIP (kind "clip"): image and text encoders, tokenizer.json, golden files ----

GOLDEN_TEXTS = ["a photo of a red star.", "a photo of a purple star.", "A  Photo of a PINK heart",
                "a photo of a dog riding a blue crescent."]


def export_encoders(visual: nn.Module, text: nn.Module, vdir: Path, image_size: Sequence[int], opset: int = 17) -> Dict:
    img = ImageEncoderExport(visual).eval()
    txt = TextEncoderExport(text).eval()
    onnx_export(img, torch.zeros(2, 3, *image_size), vdir / "image_encoder.onnx", "pixel_values", "image_embeds", opset)
    ids = get_tokenizer()(["a photo of a red star.", "a cat"])
    onnx_export(txt, ids, vdir / "text_encoder.onnx", "input_ids", "text_embeds", opset)
    return {"image": img, "text": txt}


def write_clip_golden(img_enc: nn.Module, txt_enc: nn.Module, pp: PreprocessConfig, out: Path, pad_id: int,
                 texts: Sequence[str] = GOLDEN_TEXTS) -> Dict:
    """Fixture PNGs (64x64 RGB, 120x80 RGB, RGBA, grayscale; from training/export.py so
    both model kinds share one set) with the exact float32 input tensors and image
    embeddings PyTorch produced; texts with their token ids and text embeddings. Raw
    little-endian float32 files described by index.json."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    items: List[dict] = []
    with torch.no_grad():
        for k, im0 in enumerate(fixture_images(pp.size)):
            im0.save(out / f"{k}.png")
            with Image.open(out / f"{k}.png") as im:  # decode back: exactly what a client sends
                x = preprocess_pil(im, pp)
                mode, wh = im.mode, list(im.size)
            y = img_enc(x)
            x.numpy().astype("<f4").tofile(out / f"{k}.input.f32")
            y.numpy().astype("<f4").tofile(out / f"{k}.image_embeds.f32")
            items.append({"kind": "image", "image": f"{k}.png", "imageMode": mode, "imageSize": wh,
                          "input": f"{k}.input.f32", "inputName": "pixel_values", "inputShape": list(x.shape),
                          "output": f"{k}.image_embeds.f32", "outputName": "image_embeds", "outputShape": list(y.shape)})
        tok = get_tokenizer(pad_id=pad_id)
        for k, t in enumerate(texts):
            ids = tok([t])
            y = txt_enc(ids)
            y.numpy().astype("<f4").tofile(out / f"t{k}.text_embeds.f32")
            items.append({"kind": "text", "text": t, "inputName": "input_ids", "inputIds": ids[0].tolist(),
                          "output": f"t{k}.text_embeds.f32", "outputName": "text_embeds", "outputShape": list(y.shape)})
    index = {"items": items, "dtype": "float32", "byteOrder": "little", "padTokenId": pad_id,
             "contextLength": CONTEXT_LENGTH,
             "note": "image input = PIL decode -> RGB (alpha dropped) -> resize/crop per model.json preprocessing "
                     "-> /scale -> (x-mean)/std, NCHW; inputIds = CLIP BPE with start/end tokens, padded with "
                     "padTokenId to contextLength; outputs = PyTorch eval(), L2-normalized embeddings"}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_miniclip(visual: nn.Module, text: nn.Module, logit_scale: float, pp: PreprocessConfig, repo: Path,
                    name: str = "miniclip-shapes", version: int = 1, description: str = "", pad_id: int = 49407,
                    templates: Sequence[str] = ("a photo of a {}.",), card: Optional[Dict] = None, opset: int = 17,
                    node_modules: Optional[str] = None, multi_label: Optional[Dict] = None, log=print) -> Dict:
    """Writes the model folder and returns the eval card (given `card` plus export facts)."""
    model_dir = Path(repo) / name
    vdir = model_dir / str(version)
    vdir.mkdir(parents=True, exist_ok=True)
    enc = export_encoders(visual, text, vdir, pp.size, opset)
    log(f"clip export: wrote {vdir}/image_encoder.onnx and text_encoder.onnx, checker passed")
    shutil.copyfile(DEFAULT_TOKENIZER_JSON, vdir / "tokenizer.json")
    write_clip_golden(enc["image"], enc["text"], pp, vdir / "golden", pad_id)
    embed_dim = int(enc["image"](torch.zeros(1, 3, *pp.size)).shape[1])
    manifest = {
        "name": name,
        "kind": "clip",
        "description": description or "MiniCLIP trained on the procedural shapes captions",
        "preprocessing": pp.manifest(),
        "clip": {
            "imageEncoder": {"file": "image_encoder.onnx", "input": "pixel_values", "output": "image_embeds"},
            "textEncoder": {"file": "text_encoder.onnx", "input": "input_ids", "output": "text_embeds"},
            "tokenizer": "tokenizer.json",
            "contextLength": CONTEXT_LENGTH,
            "padTokenId": pad_id,
            "logitScale": round(float(logit_scale), 4),
            "embeddingSize": embed_dim,
            "templates": list(templates),
            **({"multiLabel": multi_label} if multi_label else {}),
        },
    }
    # parity reads the manifest for io names: write it, and remove it again on failure
    (model_dir / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
    try:
        parity = ort_parity.run(vdir, node_modules)
        log(f"clip export: parity onnxruntime-node vs PyTorch over {parity['items']} golden items: "
            f"max abs diff {parity['worst']:.2e}")
        if parity["worst"] > PARITY_ATOL:
            raise RuntimeError(f"parity failed: {parity} > {PARITY_ATOL}")
    except Exception:
        (model_dir / "model.json").unlink()
        raise
    card = dict(card or {})
    card.update({
        "name": name, "version": version, "kind": "clip",
        "onnx": {
            "opset": opset,
            "files": {f: {"bytes": (vdir / f).stat().st_size, "sha256": _sha(vdir / f)}
                      for f in ("image_encoder.onnx", "text_encoder.onnx", "tokenizer.json")},
            "parity": parity, "parityTolerance": PARITY_ATOL,
            "parityReference": "onnxruntime-node (training/ort_parity.cjs) vs PyTorch eval() on golden/, single and batched",
        },
    })
    (vdir / "eval.json").write_text(json.dumps(card, indent=2) + "\n")
    model_card.write(model_dir)
    return card


# ---- the zero-shot reranker of a MiniCLIP (cross-modal attention, training/rerank_run.py) ----

RERANK_GOLDEN_LABELS = ["red circle", "blue circle", "green star", "purple heart", "orange crescent", "cyan hexagon",
                        "yellow cross", "pink dog"]


def write_rerank_golden(model: nn.Module, pp: PreprocessConfig, out: Path, template: str, context_length: int,
                        labels: Sequence[str] = RERANK_GOLDEN_LABELS) -> Dict:
    """The fixture PNGs, the labels, their prompt ids and PyTorch's reranker logits [images,
    labels] (little-endian float32 per image) that the gateway's tests compare against."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tok = get_tokenizer(pad_id=0)
    ids = tok([template.format(l) for l in labels], context_length)
    items = []
    with torch.no_grad():
        for k, im0 in enumerate(fixture_images(pp.size)):
            im0.save(out / f"{k}.png")
            with Image.open(out / f"{k}.png") as im:  # decode back: exactly what a client sends
                x = preprocess_pil(im, pp)
            y = model.eval()(x, ids)
            y.numpy().astype("<f4").tofile(out / f"{k}.logits.f32")
            x.numpy().astype("<f4").tofile(out / f"{k}.input.f32")
            items.append({"image": f"{k}.png", "input": f"{k}.input.f32", "inputShape": list(x.shape),
                          "logits": f"{k}.logits.f32", "logitsShape": list(y.shape)})
    index = {"labels": list(labels), "template": template, "inputIds": ids.tolist(), "items": items,
             "dtype": "float32", "byteOrder": "little",
             "note": "logits[i, j] = PyTorch eval() reranker score of image i against template.format(labels[j]); "
                     "each candidate's score depends only on the image and that candidate"}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def export_reranker(model: nn.Module, pp: PreprocessConfig, model_dir: Path, template: str, context_length: int,
                    max_top_k: int, default: Dict, card: Optional[Dict] = None, opset: int = 17,
                    node_modules: Optional[str] = None, log=print) -> Dict:
    """Adds the reranker to an exported MiniCLIP's newest version: reranker.onnx (through
    `export_crossmodal_onnx`: checker, dynamic image and candidate axes), golden/rerank/, a
    parity check of onnxruntime-node against PyTorch on the golden images (one run of all
    images x all candidates, and each image alone with its candidates reversed), then the
    manifest's `clip.reranker` section and the eval card's `reranker` entry."""
    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "model.json").read_text())
    if PreprocessConfig.from_manifest(manifest["preprocessing"]) != pp:
        raise ValueError(f"the reranker's preprocessing {pp} differs from the image tower's {manifest['preprocessing']}: "
                         "the gateway feeds it the image tower's input")
    vdir = sorted((d for d in model_dir.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))[-1]
    path = vdir / "reranker.onnx"
    golden = write_rerank_golden(model, pp, vdir / "golden" / "rerank", template, context_length)
    ids = torch.tensor(golden["inputIds"])
    export_crossmodal_onnx(model, ids, path, pp.size, opset)
    x = np.concatenate([np.fromfile(vdir / "golden" / "rerank" / it["input"], "<f4").reshape(it["inputShape"])
                        for it in golden["items"]])
    ref = np.stack([np.fromfile(vdir / "golden" / "rerank" / it["logits"], "<f4") for it in golden["items"]])
    worst = 0.0
    got = ort_parity.run_feeds(path, {"pixel_values": x, "input_ids": ids.numpy()}, "logits", node_modules)
    worst = max(worst, float(np.abs(got - ref).max()))
    for i in range(len(x)):
        one = ort_parity.run_feeds(path, {"pixel_values": x[i:i + 1], "input_ids": ids.numpy()[::-1].copy()}, "logits",
                                   node_modules)
        worst = max(worst, float(np.abs(one[0, ::-1] - ref[i]).max()))
    log(f"rerank export: wrote {path} ({path.stat().st_size / 1e6:.2f} MB), checker passed; onnxruntime-node vs PyTorch "
        f"max abs diff {worst:.2e}")
    if worst > PARITY_ATOL:
        path.unlink()
        raise RuntimeError(f"reranker parity failed: {worst:.3e} > {PARITY_ATOL}")
    manifest["clip"]["reranker"] = {
        "file": "reranker.onnx", "imageInput": "pixel_values", "textInput": "input_ids", "output": "logits",
        "contextLength": context_length, "padTokenId": 0, "template": template, "maxTopK": max_top_k,
        "rerank": dict(default),
    }
    (model_dir / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
    entry = dict(card or {})
    entry.update({"file": "reranker.onnx", "bytes": path.stat().st_size, "sha256": _sha(path), "opset": opset,
                  "parity": {"worst": worst, "items": len(x), "runtime": "onnxruntime-node"},
                  "parityTolerance": PARITY_ATOL})
    model_card.attach(model_dir, "reranker", entry)
    return entry
