"""Calibrated multi-label zero-shot scores for MiniCLIP, as SigLIP scores pairs: a label's
score is sigmoid(scale x cosine + bias), with scale and bias fitted by logistic regression
on a validation split (the gateway applies them from the manifest's `clip.multiLabel`).

The multi-label task: colour words and shape words are separate labels ("red", ...,
"star", ...), each image has exactly two true labels (its colour and its shape). Reported:
precision and recall at 0.5 on held-out-pair test images, calibrated and uncalibrated
(sigmoid(logitScale x cosine), what the gateway did before)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, Iterable, Sequence, Tuple

import torch
import torch.nn.functional as F

from training.data.captions import CaptionSet
from training.data.transforms import PreprocessConfig
from training.train_clip import embed_images, tokenize_texts


def targets(records: Sequence[dict], words: Sequence[str]) -> torch.Tensor:
    """[N, L] 0/1: label l applies to image n when it is the image's colour or shape."""
    index = {w: i for i, w in enumerate(words)}
    t = torch.zeros(len(records), len(words))
    for n, r in enumerate(records):
        for key in ("colour", "shape"):
            if r.get(key) in index:
                t[n, index[r[key]]] = 1.0
    return t


def fit(cos: torch.Tensor, t: torch.Tensor, steps: int = 100) -> Tuple[float, float]:
    """(scale, bias) minimising the binary cross-entropy of sigmoid(scale x cos + bias)."""
    log_scale = torch.tensor(2.3, requires_grad=True)  # scale starts at 10
    bias = torch.tensor(-5.0, requires_grad=True)
    opt = torch.optim.LBFGS([log_scale, bias], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(cos * log_scale.exp() + bias, t)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_scale.exp()), float(bias)


def precision_recall(scores: torch.Tensor, t: torch.Tensor, threshold: float = 0.5) -> Dict:
    pred = scores >= threshold
    tp = float((pred & (t > 0)).sum())
    return {"precision": round(tp / max(1.0, float(pred.sum())), 4), "recall": round(tp / max(1.0, float(t.sum())), 4),
            "meanScoreSum": round(float(scores.sum(1).mean()), 3), "trueLabelsPerImage": round(float(t.sum(1).mean()), 3)}


def evaluate(image_encoder: torch.nn.Module, text_encoder: Callable[[torch.Tensor], torch.Tensor], val: CaptionSet,
             test: CaptionSet, colours: Sequence[str], shapes: Sequence[str], heldout: Iterable[Tuple[str, str]],
             pp: PreprocessConfig, logit_scale: float, pad_id: int, template: str = "a photo of a {}.") -> Dict:
    """Fits the calibration on `val`, reports precision/recall at 0.5 on the held-out-pair
    images of `test`, calibrated and not."""
    words = list(colours) + list(shapes)
    with torch.no_grad():
        txt = F.normalize(text_encoder(tokenize_texts([template.format(w) for w in words], pad_id)), dim=-1)
        cos_val = F.normalize(embed_images(image_encoder, val.images, pp), dim=-1) @ txt.t()
        cos_test = F.normalize(embed_images(image_encoder, test.images, pp), dim=-1) @ txt.t()
    return from_cosines(cos_val, cos_test, val.records, test.records, words, heldout, logit_scale, template)


def from_cosines(cos_val: torch.Tensor, cos_test: torch.Tensor, val_records: Sequence[dict], test_records: Sequence[dict],
                 words: Sequence[str], heldout: Iterable[Tuple[str, str]], logit_scale: float, template: str) -> Dict:
    """Fit on the validation cosines, report on the held-out-pair test images."""
    scale, bias = fit(cos_val, targets(val_records, words))
    held = set(map(tuple, heldout))
    mask = torch.tensor([(r["colour"], r["shape"]) in held for r in test_records])
    t_test = targets(test_records, words)[mask]
    c = cos_test[mask]
    return {
        "labels": list(words), "template": template, "fittedOn": f"{len(val_records)} validation images",
        "scale": round(scale, 4), "bias": round(bias, 4),
        "heldoutTestImages": int(mask.sum()),
        "calibrated": precision_recall(torch.sigmoid(c * scale + bias), t_test),
        "uncalibrated": precision_recall(torch.sigmoid(c * logit_scale), t_test),
    }


def calibrate_export(model_dir: str | Path, data_root: str | Path, val_split: str = "val", test_split: str = "test",
                     node_modules: str | None = None, log=print) -> Dict:
    """Fit the calibration of an exported MiniCLIP folder from its ONNX encoders (run by
    onnxruntime-node, as served) on `<data_root>/captions_<val_split>.jsonl`, report on the
    test split, and write it into model.json (`clip.multiLabel`) and the newest version's
    eval.json (`multiLabel`)."""
    import json

    import numpy as np

    from training import ort_parity
    from training.data.captions import load_caption_jsonl
    from training.data.shapes import COLOURS, SHAPES, heldout_combinations
    from training.data.tokenizer import get_tokenizer
    from training.data.transforms import normalize

    mdir, root = Path(model_dir), Path(data_root)
    manifest = json.loads((mdir / "model.json").read_text())
    if manifest.get("kind") != "clip":
        raise ValueError(f"{mdir}: calibrate needs a kind 'clip' model, not {manifest.get('kind')!r}")
    vdir = sorted((d for d in mdir.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))[-1]
    c = manifest["clip"]
    pp = PreprocessConfig.from_manifest(manifest["preprocessing"])
    template = c.get("templates", ["a photo of a {}."])[0]
    words = list(COLOURS) + list(SHAPES)
    ids = get_tokenizer(pad_id=c.get("padTokenId", 49407))([template.format(w) for w in words]).numpy()
    txt = F.normalize(torch.from_numpy(ort_parity.run_graph(vdir / c["textEncoder"]["file"], c["textEncoder"]["input"],
                                                            c["textEncoder"]["output"], ids, node_modules)), dim=-1)
    cos, sets, emb = {}, {}, {}
    for split in (val_split, test_split):
        sets[split] = load_caption_jsonl(root / f"captions_{split}.jsonl", pp)
        x = normalize(sets[split].images, pp).numpy().astype(np.float32)
        img = torch.from_numpy(ort_parity.run_graph(vdir / c["imageEncoder"]["file"], c["imageEncoder"]["input"],
                                                    c["imageEncoder"]["output"], x, node_modules))
        emb[split] = F.normalize(img, dim=-1)
        cos[split] = emb[split] @ txt.t()
        log(f"calibrate: {len(sets[split])} {split} images embedded")
    res = from_cosines(cos[val_split], cos[test_split], sets[val_split].records, sets[test_split].records, words,
                       heldout_combinations(), float(c.get("logitScale", 100.0)), template)
    # per held-out pair zero-shot top-1 over all 64 colour-shape prompts, from the same ONNX run
    combos = [(col, sh) for col in COLOURS for sh in SHAPES]
    pids = get_tokenizer(pad_id=c.get("padTokenId", 49407))([template.format(f"{col} {sh}") for col, sh in combos]).numpy()
    ptxt = F.normalize(torch.from_numpy(ort_parity.run_graph(vdir / c["textEncoder"]["file"], c["textEncoder"]["input"],
                                                             c["textEncoder"]["output"], pids, node_modules)), dim=-1)
    pred = (emb[test_split] @ ptxt.t()).argmax(1).tolist()
    per_pair = {}
    for col, sh in heldout_combinations():
        idx = [i for i, r in enumerate(sets[test_split].records) if (r["colour"], r["shape"]) == (col, sh)]
        per_pair[f"{col}_{sh}"] = round(sum(combos[pred[i]] == (col, sh) for i in idx) / max(1, len(idx)), 4)
    res["zeroShotHeldoutPerPair"] = per_pair
    log(f"calibrate: held-out pairs, zero-shot top-1 over the 64 prompts (onnxruntime-node): {per_pair}")
    res["data"] = str(root)
    res["runtime"] = "onnxruntime-node"
    c["multiLabel"] = {"scale": res["scale"], "bias": res["bias"]}
    (mdir / "model.json").write_text(json.dumps(manifest, indent=2) + "\n")
    card_path = vdir / "eval.json"
    if card_path.exists():
        card = json.loads(card_path.read_text())
        card["multiLabel"] = res
        card_path.write_text(json.dumps(card, indent=2) + "\n")
    from training import model_card

    model_card.write(mdir)
    log(f"calibrate: {json.dumps(res)}")
    return res
