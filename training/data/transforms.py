"""Eval preprocessing exactly as the gateway's manifest describes it (docs/model-repository.md):
PIL decode -> RGB -> resize ("shorter": shorter side to size/cropFraction, then
center-crop; "stretch": straight to size) -> /scale -> (x - mean) / std, NCHW float32.
The same function feeds eval, export's golden tensors and the training cache, so the
preprocessing a model was trained with is the one written into its manifest."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
_INTERP = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


@dataclass
class PreprocessConfig:
    size: List[int] = field(default_factory=lambda: [64, 64])  # [height, width]
    resize_mode: str = "shorter"   # "shorter" | "stretch"
    crop_fraction: float = 1.0
    interpolation: str = "bilinear"
    scale: float = 255.0
    mean: List[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: List[float] = field(default_factory=lambda: list(IMAGENET_STD))

    def manifest(self) -> dict:
        """The manifest's `preprocessing` object (camelCase, gateway schema)."""
        return {
            "size": list(self.size),
            "resizeMode": self.resize_mode,
            "cropFraction": self.crop_fraction,
            "interpolation": self.interpolation,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
            "channelOrder": "RGB",
            "layout": "NCHW",
        }

    @classmethod
    def from_manifest(cls, m: dict) -> "PreprocessConfig":
        """The inverse of `manifest()`, for a model.json written by export (RGB, NCHW only)."""
        if m.get("channelOrder", "RGB") != "RGB" or m.get("layout", "NCHW") != "NCHW":
            raise ValueError(f"preprocessing {m}: only RGB NCHW models are evaluated here")
        d = cls()
        return cls(size=list(m.get("size", d.size)), resize_mode=m.get("resizeMode", d.resize_mode),
                   crop_fraction=m.get("cropFraction", d.crop_fraction), interpolation=m.get("interpolation", d.interpolation),
                   scale=m.get("scale", d.scale), mean=list(m.get("mean", d.mean)), std=list(m.get("std", d.std)))


def to_rgb(img: Image.Image) -> Image.Image:
    # Alpha is dropped, not composited (what PIL's convert("RGB") does and what sharp's
    # removeAlpha does), grayscale is replicated to 3 channels.
    return img if img.mode == "RGB" else img.convert("RGB")


def resize_crop(img: Image.Image, pp: PreprocessConfig) -> Image.Image:
    """Geometric part of the preprocessing, on an RGB PIL image -> exactly size [h, w]."""
    h, w = pp.size
    interp = _INTERP[pp.interpolation]
    if pp.resize_mode == "stretch":
        return img if img.size == (w, h) else img.resize((w, h), interp)
    if pp.resize_mode != "shorter":
        raise ValueError(f"resize_mode {pp.resize_mode!r}; valid: shorter, stretch")
    # timm: scale_size = floor(size / crop_pct); the shorter side goes to that, the longer
    # keeps the aspect ratio (rounded down as torchvision's Resize does).
    th, tw = math.floor(h / pp.crop_fraction), math.floor(w / pp.crop_fraction)
    iw, ih = img.size
    target = min(th, tw) if th == tw else None
    if target is not None:
        if iw <= ih:
            nw, nh = target, int(target * ih / iw)
        else:
            nh, nw = target, int(target * iw / ih)
    else:
        s = max(th / ih, tw / iw)
        nh, nw = max(th, round(ih * s)), max(tw, round(iw * s))
    if (nw, nh) != (iw, ih):
        img = img.resize((nw, nh), interp)
    left = int(round((nw - w) / 2.0))
    top = int(round((nh - h) / 2.0))
    return img.crop((left, top, left + w, top + h))


def to_uint8_chw(img: Image.Image, pp: PreprocessConfig) -> torch.Tensor:
    arr = np.asarray(resize_crop(to_rgb(img), pp), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def normalize(x: torch.Tensor, pp: PreprocessConfig) -> torch.Tensor:
    """uint8 (or float 0..scale) NCHW/CHW -> normalized float32."""
    x = x.float() / pp.scale
    shape = (-1, 1, 1)
    mean = torch.tensor(pp.mean, dtype=torch.float32).view(shape)
    std = torch.tensor(pp.std, dtype=torch.float32).view(shape)
    return (x - mean) / std


def preprocess_pil(img: Image.Image, pp: PreprocessConfig) -> torch.Tensor:
    """One image -> float32 [1, 3, H, W], the tensor the ONNX graph receives."""
    return normalize(to_uint8_chw(img, pp), pp).unsqueeze(0)
