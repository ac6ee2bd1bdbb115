"""Factored CLIP image tower: a colour branch that cannot see shape plus a shape branch
that cannot see hue, summed into one embedding.

Why: with one CNN over RGB, the held-out pairs of similar colours fail (pink hearts read as
squares, red squares as hearts, cyan crosses as stars) because in training colour predicts
shape there (the only reddish squares are pink, the only reddish hearts red), so the tower
learns colour as a cue for shape. Here neither branch can learn that shortcut:
- colour: a per-pixel MLP (1x1 convolutions, after a 4x4 average) pooled over the image
  (mean and max): it sees a colour histogram, no layout, so no shape;
- shape: the ResNet-style CNN over one channel, the chroma max(R,G,B) - min(R,G,B) of each
  pixel: the shape stands out from the greyish background whatever its hue, and a random
  per-image gain on the chroma in training (`chroma_jitter`) hides how saturated the colour
  class is (pink's chroma is lower than red's), so the branch cannot tell the colour.
The embedding is the sum of two linear projections, additive in colour and shape, which is
what lets an unseen pair land where its prompt does. Limitation: a shape with no chroma (grey
on grey) is invisible to the shape branch; the procedural colours are all saturated."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from training.data.transforms import IMAGENET_MEAN, IMAGENET_STD


class FactoredTower(nn.Module):
    """pixel_values (normalized with `mean`/`std`, NCHW) -> embedding [N, out_dim]."""

    def __init__(self, out_dim: int, shape_tower: nn.Module, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, colour_width: int = 32, chroma_jitter: float = 0.5,
                 shape_input: str = "chroma"):
        super().__init__()
        if not 0.0 <= chroma_jitter < 1.0:
            raise ValueError(f"chroma_jitter must be in [0, 1), got {chroma_jitter}")
        if shape_input not in ("chroma", "rgb"):
            raise ValueError(f"shape_input {shape_input!r}; valid: chroma, rgb")
        # "rgb" (an ablation): the shape branch sees the colours too, so only the sum structure remains
        self.shape_input = shape_input
        # the preprocessing the pixels arrive with, to recover 0..1 RGB inside the graph
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1))
        self.colour = nn.Sequential(nn.Conv2d(3, colour_width, 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(colour_width, colour_width, 1), nn.ReLU(inplace=True))
        self.colour_head = nn.Linear(2 * colour_width, out_dim)
        self.shape = shape_tower  # one input channel (chroma; 3 for "rgb"), ends in its own linear projection
        self.chroma_jitter = chroma_jitter

    def chroma(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[N, 1, H, W] chroma in 0..1 of the un-normalized RGB."""
        rgb = pixel_values * self.std + self.mean
        return rgb.amax(dim=1, keepdim=True) - rgb.amin(dim=1, keepdim=True)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        c = self.colour(F.avg_pool2d(pixel_values, 4))
        colour = self.colour_head(torch.cat([c.mean(dim=(2, 3)), c.amax(dim=(2, 3))], dim=1))
        if self.shape_input == "rgb":
            return colour + self.shape(pixel_values)
        s = self.chroma(pixel_values)
        if self.training and self.chroma_jitter:
            gain = 1 + self.chroma_jitter * (2 * torch.rand(s.shape[0], 1, 1, 1, device=s.device) - 1)
            s = s * gain
        # chroma of the procedural images: background ~0-0.15, shapes ~0.5-0.9
        return colour + self.shape((s - 0.25) / 0.3)
