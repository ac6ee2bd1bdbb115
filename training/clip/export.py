# Export a MiniCLIP into the gateway's model repository as kind "clip"
# (docs/model-repository.md): model.json, <v>/image_encoder.onnx, <v>/text_encoder.onnx,
# <v>/tokenizer.json, <v>/eval.json and <v>/golden/. timm's order: ONNX export with a
# dynamic batch axis, checker, parity against PyTorch (onnxruntime-node on the golden
# inputs, single and batched), and only then the manifest.
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import onnx
import torch
import torch.nn as nn
from PIL import Image

from training import ort_parity
from training.clip.model import ImageEncoderExport, TextEncoderExport
from training.clip.tokenizer import CONTEXT_LENGTH, DEFAULT_TOKENIZER_JSON, get_tokenizer
from training.data.transforms import PreprocessConfig, preprocess_pil
from training.export import BATCHING_DEFAULTS, fixture_images

PARITY_ATOL = 1e-4
GOLDEN_TEXTS = ["a photo of a red star.", "a photo of a purple star.", "A  Photo of a PINK heart",
                "a photo of a dog riding a blue crescent."]


def _export(module: nn.Module, dummy: torch.Tensor, path: Path, input_name: str, output_name: str, opset: int) -> onnx.ModelProto:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module.eval(), dummy, str(path), opset_version=opset, input_names=[input_name],
                      output_names=[output_name], dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                      do_constant_folding=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    if not proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param:
        raise RuntimeError(f"{path}: batch axis is not dynamic")
    return proto


def export_encoders(visual: nn.Module, text: nn.Module, vdir: Path, image_size: Sequence[int], opset: int = 17) -> Dict:
    img = ImageEncoderExport(visual).eval()
    txt = TextEncoderExport(text).eval()
    _export(img, torch.zeros(2, 3, *image_size), vdir / "image_encoder.onnx", "pixel_values", "image_embeds", opset)
    ids = get_tokenizer()(["a photo of a red star.", "a cat"])
    _export(txt, ids, vdir / "text_encoder.onnx", "input_ids", "text_embeds", opset)
    return {"image": img, "text": txt}


def write_golden(img_enc: nn.Module, txt_enc: nn.Module, pp: PreprocessConfig, out: Path, pad_id: int,
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
                    node_modules: Optional[str] = None, log=print) -> Dict:
    """Writes the model folder and returns the eval card (given `card` plus export facts)."""
    model_dir = Path(repo) / name
    vdir = model_dir / str(version)
    vdir.mkdir(parents=True, exist_ok=True)
    enc = export_encoders(visual, text, vdir, pp.size, opset)
    log(f"clip export: wrote {vdir}/image_encoder.onnx and text_encoder.onnx, checker passed")
    shutil.copyfile(DEFAULT_TOKENIZER_JSON, vdir / "tokenizer.json")
    write_golden(enc["image"], enc["text"], pp, vdir / "golden", pad_id)
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
        },
        "batching": dict(BATCHING_DEFAULTS),
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
    return card
