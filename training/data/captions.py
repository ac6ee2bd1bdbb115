"""Image-caption data for CLIP training: a loader for any JSONL of {"image", "caption"}
records (paths relative to the JSONL's folder or to a given root). Preprocessing is the
package's one implementation (training/data/transforms.py), shared by training, eval,
export and golden files, so the manifest describes exactly what the model saw."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import torch
from PIL import Image

from training.data.transforms import PreprocessConfig, normalize, preprocess_pil, to_uint8_chw


def preprocess_image(img: Image.Image, pp: PreprocessConfig) -> torch.Tensor:
    """PIL image -> float32 [1,3,H,W], exactly the tensor the model is fed."""
    return preprocess_pil(img, pp)


def normalize_uint8(x: torch.Tensor, pp: PreprocessConfig) -> torch.Tensor:
    """uint8 [N,3,H,W] -> float32 (x / scale - mean) / std, the manifest's numbers."""
    return normalize(x, pp)


def read_jsonl(path: Path) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class CaptionSet:
    """Images preloaded as uint8 [N,3,H,W] (the procedural set is small; preloading keeps
    the 2-core training loop free of decode work), captions, caption-group labels (index
    of the caption in `texts`: equal captions are positives of each other), records."""
    images: torch.Tensor
    captions: List[str]
    labels: torch.Tensor
    texts: List[str]
    records: List[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.captions)


def load_caption_jsonl(jsonl: Path, pp: PreprocessConfig, image_root: Optional[Path] = None,
                       keep: Optional[Callable[[dict], bool]] = None, limit: Optional[int] = None) -> CaptionSet:
    """Read an image-caption JSONL (each line needs "image" and "caption"; other keys are
    kept in `records`). `image` is resolved against `image_root`, else the JSONL's folder.
    `limit` keeps N records spread evenly over the file."""
    jsonl = Path(jsonl)
    root = Path(image_root) if image_root else jsonl.parent
    recs = [r for r in read_jsonl(jsonl) if keep is None or keep(r)]
    if limit and limit < len(recs):
        # an even stride, not the first N: the files are grouped by class
        recs = [recs[int(i * len(recs) / limit)] for i in range(limit)]
    if not recs:
        raise ValueError(f"{jsonl}: no records left to load")
    imgs = torch.empty((len(recs), 3, pp.size[0], pp.size[1]), dtype=torch.uint8)
    for i, r in enumerate(recs):
        p = Path(r["image"])
        with Image.open(p if p.is_absolute() else root / p) as im:
            imgs[i] = to_uint8_chw(im, pp)
    caps = [r["caption"] for r in recs]
    texts = sorted(set(caps))
    index = {t: i for i, t in enumerate(texts)}
    return CaptionSet(imgs, caps, torch.tensor([index[c] for c in caps]), texts, recs)


def prompt(colour: str, shape: str, template: str = "a photo of a {}.") -> str:
    return template.format(f"{colour} {shape}")
