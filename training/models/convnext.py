"""ConvNeXt-style server model (Liu et al. 2022, "A ConvNet for the 2020s"), scaled to
64 px inputs and a 2-core CPU budget: patchify stem (k x k conv, stride k, LayerNorm),
four stages of blocks (depthwise 7x7 -> LayerNorm -> pointwise 4x -> GELU -> pointwise, layer
scale, stochastic depth on the residual), LayerNorm + 2x2 stride-2 convs between stages,
global average pool -> LayerNorm -> linear head. Same block as timm's `convnext` with
`conv_mlp=True`; defaults are ConvNeXt-atto's depths (2, 2, 6, 2) at widths 32-256. Options
the zoo's teacher turns on: a conv stem ahead of the patchify and, as the block norm, LayerNorm
over each image's whole C x H x W map (`layer_chw`; `batch` for BatchNorm)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map (timm's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): drop the whole residual branch per sample."""
    if p == 0.0 or not training:
        return x
    keep = 1 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class Block(nn.Module):
    """depthwise 7x7 -> LayerNorm -> 1x1 conv 4x -> GELU -> 1x1 conv, layer scale, stochastic
    depth. The pointwise MLP is two 1x1 convolutions (timm's `conv_mlp`), the same function as
    ConvNeXt's Linear layers over NHWC: Debian's torch multiplies matrices with a generic BLAS
    (~5 GFLOP/s on one core) but runs 1x1 convolutions through oneDNN (~50 GFLOP/s), which made
    the Linear form 10x slower per step here."""

    def __init__(self, dim: int, drop_path_rate: float = 0.0, layer_scale_init: float = 1e-6,
                 norm: str = "layer"):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = block_norm_layer(norm, dim)
        self.pwconv1 = nn.Conv2d(dim, 4 * dim, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2d(4 * dim, dim, 1)
        self.gamma = nn.Parameter(layer_scale_init * torch.ones(dim)) if layer_scale_init > 0 else None
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        if self.gamma is not None:
            y = y * self.gamma.view(1, -1, 1, 1)
        return x + drop_path(y, self.drop_path_rate, self.training)


def block_norm_layer(kind: str, dim: int) -> nn.Module:
    """The block's normalisation: the paper's per-pixel LayerNorm; LayerNorm over the whole
    C x H x W map of each image (Ba et al.'s definition for a conv layer, one-group GroupNorm as
    in MetaFormer/PoolFormer); or BatchNorm (the paper's Sec. 2.6 swaps the other way). The last
    two keep how strong one pixel's response is against the rest of the map, which per-pixel
    LayerNorm rescales away on cluttered, noisy low-res images."""
    if kind == "layer":
        return LayerNorm2d(dim, eps=1e-6)
    if kind == "layer_chw":
        return nn.GroupNorm(1, dim, eps=1e-6)
    if kind == "batch":
        return nn.BatchNorm2d(dim)
    raise ValueError(f"unknown block norm {kind!r}; valid: layer, layer_chw, batch")


def conv_stem(channels: Sequence[int], strides: Sequence[int]) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ReLU per entry, ahead of the patchify (Xiao et al. 2021,
    "Early convolutions help transformers see better")."""
    layers, c_in = [], 3
    for c, s in zip(channels, strides):
        layers += [nn.Conv2d(c_in, c, 3, s, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        c_in = c
    return nn.Sequential(*layers)


class ConvNeXt(nn.Module):
    def __init__(self, num_classes: int = 64, dims: Sequence[int] = (32, 64, 128, 256),
                 depths: Sequence[int] = (2, 2, 6, 2), stem_patch: int = 4, drop_path_rate: float = 0.1,
                 layer_scale_init: float = 1e-6, stem_convs: Sequence[int] = (), stem_conv_strides: Sequence[int] = (),
                 block_norm: str = "layer"):
        super().__init__()
        if len(stem_convs) != len(stem_conv_strides):
            raise ValueError(f"stem_convs {tuple(stem_convs)} and stem_conv_strides {tuple(stem_conv_strides)} "
                             "need one stride per conv")
        patchify = [nn.Conv2d(stem_convs[-1] if stem_convs else 3, dims[0], stem_patch, stem_patch),
                    LayerNorm2d(dims[0], eps=1e-6)]
        stem = ([conv_stem(stem_convs, stem_conv_strides)] if stem_convs else []) + patchify
        self.downsample = nn.ModuleList([nn.Sequential(*stem)])
        for i in range(len(dims) - 1):
            self.downsample.append(nn.Sequential(LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()  # linearly deeper, as the paper
        self.stages = nn.ModuleList()
        k = 0
        for dim, depth in zip(dims, depths):
            self.stages.append(nn.Sequential(*[Block(dim, rates[k + j], layer_scale_init, block_norm) for j in range(depth)]))
            k += depth
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean((2, 3))))
