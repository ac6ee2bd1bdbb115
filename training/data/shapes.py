# Procedural "coloured shapes" dataset: 8 shapes x 8 colours = 64 classes named
# `<colour>_<shape>`, each image 64x64 RGB with random size, position, rotation, colour
# jitter, a textured background and pixel noise. Every image is a pure function of
# (seed, split, index), so datasets are reproducible and can be generated in any order.
from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 225, 30),
    "green": (30, 170, 50),
    "cyan": (30, 210, 220),
    "blue": (30, 60, 220),
    "purple": (140, 40, 190),
    "pink": (245, 110, 190),
}
# Shapes chosen to stay distinct under any rotation (a diamond would be a rotated square).
SHAPES: List[str] = ["circle", "square", "triangle", "star", "hexagon", "cross", "heart", "crescent"]
SPLITS = ("train", "val", "test")
SPLIT_IDS = {"train": 0, "val": 1, "test": 2, "fixture": 3}
SUPERSAMPLE = 4  # shapes are drawn at 4x and box-filtered down: anti-aliased edges


def class_names() -> List[str]:
    """All 64 class names, colour-major, in label order (label = index in this list)."""
    return [f"{c}_{s}" for c in COLOURS for s in SHAPES]


def caption(colour: str, shape: str) -> str:
    return f"a photo of a {colour} {shape}"


def heldout_combinations() -> List[Tuple[str, str]]:
    """Colour-shape pairs that CLIP training never sees (a true zero-shot test): 8 pairs,
    one per colour and one per shape (a shifted diagonal), so every colour and every shape
    still appears in training in 7 other combinations."""
    colours, shapes = list(COLOURS), SHAPES
    return [(colours[i], shapes[(i * 3 + 1) % len(shapes)]) for i in range(len(colours))]


def is_heldout(colour: str, shape: str) -> bool:
    return (colour, shape) in set(heldout_combinations())


@dataclass
class ShapesConfig:
    root: str = "training/runs/data/shapes"
    seed: int = 0
    image_size: int = 64
    train_per_class: int = 256
    val_per_class: int = 32
    test_per_class: int = 64
    min_size_frac: float = 0.35   # shape's bounding diameter as a fraction of the image
    max_size_frac: float = 0.75
    noise_std: float = 6.0        # Gaussian pixel noise, in 0..255 units
    workers: int = 2


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Muted, low-saturation texture: gradient + low-frequency blobs + stripes. Kept
    greyish so that the colour of the shape stays the only strong colour cue."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = rng.uniform(60, 200)
    tint = rng.uniform(-18, 18, size=3)
    angle = rng.uniform(0, 2 * math.pi)
    grad = (np.cos(angle) * xx + np.sin(angle) * yy - 0.5) * rng.uniform(-60, 60)
    coarse = rng.normal(0, 1, size=(6, 6)).astype(np.float32)
    blobs = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC)) * rng.uniform(5, 20)
    freq = rng.uniform(2, 8)
    sangle = rng.uniform(0, math.pi)
    stripes = np.sin(2 * math.pi * freq * (np.cos(sangle) * xx + np.sin(sangle) * yy)) * rng.uniform(0, 14)
    lum = base + grad + blobs + stripes
    img = lum[..., None] + tint[None, None, :]
    return img


def _polygon(n: int, r: float, rot: float, cx: float, cy: float, inner: Optional[float] = None) -> List[Tuple[float, float]]:
    pts = []
    steps = n * 2 if inner is not None else n
    for k in range(steps):
        a = rot + 2 * math.pi * k / steps - math.pi / 2
        rr = r if inner is None or k % 2 == 0 else r * inner
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def _rotate(pts, rot, cx, cy):
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in pts]


def _shape_mask(shape: str, r: float, rot: float, cx: float, cy: float, canvas: int) -> Image.Image:
    mask = Image.new("L", (canvas, canvas), 0)
    d = ImageDraw.Draw(mask)
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "square":
        d.polygon(_polygon(4, r, rot + math.pi / 4, cx, cy), fill=255)
    elif shape == "triangle":
        d.polygon(_polygon(3, r, rot, cx, cy), fill=255)
    elif shape == "star":
        d.polygon(_polygon(5, r, rot, cx, cy, inner=0.45), fill=255)
    elif shape == "hexagon":
        d.polygon(_polygon(6, r, rot, cx, cy), fill=255)
    elif shape == "cross":
        w = r * 0.36
        arm = [(cx - w, cy - r), (cx + w, cy - r), (cx + w, cy - w), (cx + r, cy - w), (cx + r, cy + w),
               (cx + w, cy + w), (cx + w, cy + r), (cx - w, cy + r), (cx - w, cy + w), (cx - r, cy + w),
               (cx - r, cy - w), (cx - w, cy - w)]
        d.polygon(_rotate(arm, rot, cx, cy), fill=255)
    elif shape == "heart":
        # Two round lobes over a sharp point, with a cleft between the lobes. The classic
        # parametric heart (x = 16 sin^3 t, ...) is so fat that, small and rotated on 64 px,
        # it rendered as a rounded square: heart<->square was the most common confusion
        # of teacher and student alike.
        lr_ = 0.5 * r
        (lx, ly), (rx, ry) = _rotate([(cx - 0.48 * r, cy - 0.4 * r), (cx + 0.48 * r, cy - 0.4 * r)], rot, cx, cy)
        d.ellipse([lx - lr_, ly - lr_, lx + lr_, ly + lr_], fill=255)
        d.ellipse([rx - lr_, ry - lr_, rx + lr_, ry + lr_], fill=255)
        a = math.radians(160)
        body = [(cx - 0.48 * r + lr_ * math.cos(a), cy - 0.4 * r + lr_ * math.sin(a)), (cx - 0.48 * r, cy - 0.4 * r),
                (cx + 0.48 * r, cy - 0.4 * r), (cx + 0.48 * r - lr_ * math.cos(a), cy - 0.4 * r + lr_ * math.sin(a)),
                (cx, cy + 0.9 * r)]
        d.polygon(_rotate(body, rot, cx, cy), fill=255)
    elif shape == "crescent":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ox, oy = cx + 0.45 * r * math.cos(rot), cy + 0.45 * r * math.sin(rot)
        r2 = r * 0.85
        d.ellipse([ox - r2, oy - r2, ox + r2, oy + r2], fill=0)
    else:
        raise ValueError(f"unknown shape {shape!r}; valid: {SHAPES}")
    return mask


def render(seed: int, split: str, index: int, label: int, cfg: ShapesConfig = ShapesConfig()) -> Image.Image:
    """Render image `index` of `split` for class `label`; a pure function of its arguments."""
    names = class_names()
    colour, shape = names[label].split("_", 1)
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index, label])
    size = cfg.image_size
    canvas = size * SUPERSAMPLE
    bg = _background(rng, size)
    diam = rng.uniform(cfg.min_size_frac, cfg.max_size_frac) * size
    r = diam / 2
    margin = r * 0.9
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    rot = rng.uniform(0, 2 * math.pi)
    mask = _shape_mask(shape, r * SUPERSAMPLE, rot, cx * SUPERSAMPLE, cy * SUPERSAMPLE, canvas)
    alpha = np.asarray(mask.resize((size, size), Image.BOX), dtype=np.float32)[..., None] / 255.0
    rgb = np.array(COLOURS[colour], dtype=np.float32)
    # Per-image colour jitter and a linear shading across the shape: the colour name must be
    # learned as a range, not one exact RGB value.
    rgb = rgb * rng.uniform(0.85, 1.1) + rng.normal(0, 8, size=3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    sa = rng.uniform(0, 2 * math.pi)
    shade = 1.0 + ((xx - cx) * math.cos(sa) + (yy - cy) * math.sin(sa)) / max(diam, 1) * rng.uniform(0, 0.3)
    fg = rgb[None, None, :] * shade[..., None]
    img = bg * (1 - alpha) + fg * alpha
    img = img + rng.normal(0, cfg.noise_std, size=img.shape)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def _per_class(cfg: ShapesConfig, split: str) -> int:
    return {"train": cfg.train_per_class, "val": cfg.val_per_class, "test": cfg.test_per_class}[split]


def _write_class(args) -> List[dict]:
    cfg, split, label = args
    names = class_names()
    name = names[label]
    colour, shape = name.split("_", 1)
    out = Path(cfg.root) / split / name
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(_per_class(cfg, split)):
        rel = f"{split}/{name}/{i}.png"
        render(cfg.seed, split, i, label, cfg).save(Path(cfg.root) / rel, optimize=False)
        rows.append({"image": rel, "caption": caption(colour, shape), "colour": colour, "shape": shape,
                     "label": label, "heldout": is_heldout(colour, shape)})
    return rows


def generate(cfg: ShapesConfig, splits=SPLITS, log=print) -> Dict[str, int]:
    """Write `<root>/<split>/<class>/<idx>.png` plus `<root>/captions_<split>.jsonl`,
    `<root>/classes.txt` and `<root>/heldout.json`. Returns images written per split."""
    root = Path(cfg.root)
    root.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in splits:
        jobs = [(cfg, split, label) for label in range(len(class_names()))]
        if cfg.workers > 1:
            with ProcessPoolExecutor(cfg.workers) as ex:
                results = list(ex.map(_write_class, jobs))
        else:
            results = [_write_class(j) for j in jobs]
        rows = [r for rs in results for r in rs]
        with open(root / f"captions_{split}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        counts[split] = len(rows)
        log(f"data: wrote {len(rows)} {split} images to {root / split}")
    (root / "classes.txt").write_text("\n".join(class_names()) + "\n")
    (root / "heldout.json").write_text(json.dumps([f"{c}_{s}" for c, s in heldout_combinations()]) + "\n")
    return counts
