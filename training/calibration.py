"""Calibrated multi-label zero-shot scores for MiniCLIP, as SigLIP scores pairs: a label's
score is sigmoid(scale x cosine + bias), with scale and bias fitted by logistic regression
on a validation split (the gateway applies them from the manifest's `clip.multiLabel`).

The multi-label task: colour words and shape words are separate labels ("red", ...,
"star", ...), each image has exactly two true labels (its colour and its shape). Reported:
precision and recall at 0.5 on held-out-pair test images, calibrated and uncalibrated
(sigmoid(logitScale x cosine), what the gateway did before)."""
from __future__ import annotations

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
    scale, bias = fit(cos_val, targets(val.records, words))
    held = set(map(tuple, heldout))
    mask = torch.tensor([(r["colour"], r["shape"]) in held for r in test.records])
    t_test = targets(test.records, words)[mask]
    c = cos_test[mask]
    return {
        "labels": words, "template": template, "fittedOn": f"{len(val)} validation images",
        "scale": round(scale, 4), "bias": round(bias, 4),
        "heldoutTestImages": int(mask.sum()),
        "calibrated": precision_recall(torch.sigmoid(c * scale + bias), t_test),
        "uncalibrated": precision_recall(torch.sigmoid(c * logit_scale), t_test),
    }
