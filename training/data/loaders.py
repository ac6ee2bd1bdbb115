"""Real loaders. `ImageFolderTensors` reads any torchvision ImageFolder tree
(<root>/<class>/<img>) through the eval geometry (resize + crop to the network size) and
keeps it as one uint8 tensor: on a 2-core CPU, decoding PNGs every epoch would cost more
than the small networks themselves. `CaptionJsonl` reads image-caption JSONL lines
{"image": <path relative to the file's folder>, "caption": ...} for CLIP training."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

import torch
from PIL import Image
from torch.utils.data import Dataset

from training.data.transforms import PreprocessConfig, to_uint8_chw


class ImageFolderTensors(Dataset):
    """uint8 [N, 3, H, W] images + int64 labels from an ImageFolder tree. Class order is
    `classes` when given (so a split missing a class keeps the label ids), else sorted
    folder names as torchvision's ImageFolder does."""

    def __init__(self, root: str | Path, pp: PreprocessConfig, classes: Optional[List[str]] = None):
        from torchvision.datasets import ImageFolder

        folder = ImageFolder(str(root))
        self.classes = list(classes) if classes is not None else list(folder.classes)
        index = {c: i for i, c in enumerate(self.classes)}
        remap = {i: index[c] for i, c in enumerate(folder.classes)}
        samples = [(p, remap[t]) for p, t in folder.samples]

        def load(path: str) -> torch.Tensor:
            with Image.open(path) as im:
                return to_uint8_chw(im, pp)

        with ThreadPoolExecutor(2) as ex:
            images = list(ex.map(load, [p for p, _ in samples]))
        self.images = torch.stack(images) if images else torch.empty(0, 3, *pp.size, dtype=torch.uint8)
        self.labels = torch.tensor([t for _, t in samples], dtype=torch.long)
        self.paths = [p for p, _ in samples]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


class CaptionJsonl(Dataset):
    """Image-caption pairs from a JSONL file; extra keys of each line are kept in `rows`."""

    def __init__(self, path: str | Path, pp: PreprocessConfig, keep=lambda row: True):
        path = Path(path)
        self.rows = [r for r in (json.loads(l) for l in path.read_text().splitlines() if l.strip()) if keep(r)]
        base = path.parent

        def load(row) -> torch.Tensor:
            with Image.open(base / row["image"]) as im:
                return to_uint8_chw(im, pp)

        with ThreadPoolExecutor(2) as ex:
            images = list(ex.map(load, self.rows))
        self.images = torch.stack(images) if images else torch.empty(0, 3, *pp.size, dtype=torch.uint8)
        self.captions = [r["caption"] for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        return self.images[i], self.captions[i]
