"""SimMIM (Xie et al. 2022, "SimMIM: a Simple Framework for Masked Image Modeling") for the
classifiers of `training/models/`: random mask patches, a learnable mask token that replaces
the masked positions right after the stem, the unchanged encoder, a one-layer prediction
head (1x1 conv to stride^2 x 3 values + pixel shuffle, the paper's linear head) and an L1
loss on the raw (normalized) pixels of the masked patches only.

The paper masks 32 px patches of 192 px images (1/6 of the side) at ratio 0.6; here the
images are 64 px, so the default mask patch is 8 px (an 8x8 grid, 39 of 64 patches masked).

`split(model)` cuts a classifier into stem / body / pooled features / head, so the same
network is pre-trained here, fine-tuned and linearly probed in `training/simmim_run.py`,
and exported unchanged by `training/export.py`."""
from __future__ import annotations

import math
from typing import Callable, List, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from training.models.convnext import ConvNeXt


class Parts(NamedTuple):
    stem: Callable[[torch.Tensor], torch.Tensor]      # image -> first token map (where the mask token goes)
    body: Callable[[torch.Tensor], torch.Tensor]      # token map -> last feature map
    pool: Callable[[torch.Tensor], torch.Tensor]      # last feature map -> pooled features (the linear probe's input)
    head: Callable[[torch.Tensor], torch.Tensor]      # pooled features -> logits
    head_module: nn.Module                            # the classifier layers a fine-tune starts afresh


def split(model: nn.Module) -> Parts:
    """stem/body/pool/head of a MobileNetV3 (torchvision) or ConvNeXt classifier, such that
    head(pool(body(stem(x)))) == model(x)."""
    if isinstance(model, torchvision.models.MobileNetV3):
        def body(t):
            return model.features[1:](t)

        def pool(z):
            return torch.flatten(model.avgpool(z), 1)
        return Parts(model.features[0], body, pool, model.classifier, model.classifier)
    if isinstance(model, ConvNeXt):
        def body(t):
            t = model.stages[0](t)
            for down, stage in zip(model.downsample[1:], model.stages[1:]):
                t = stage(down(t))
            return t

        def pool(z):
            return model.norm(z.mean((2, 3)))
        return Parts(model.downsample[0], body, pool, model.head, model.head)
    raise TypeError(f"SimMIM: no stem/body split for {type(model).__name__}; valid: MobileNetV3, ConvNeXt")


def layer_groups(model: nn.Module) -> List[List[nn.Parameter]]:
    """Parameters from the input to the output in depth order (stem, each block or stage,
    head), for layer-wise learning-rate decay when fine-tuning (the paper uses 0.9 for Swin)."""
    if isinstance(model, torchvision.models.MobileNetV3):
        mods = list(model.features) + [model.classifier]
    elif isinstance(model, ConvNeXt):
        mods = [m for pair in zip(model.downsample, model.stages) for m in pair] + [nn.ModuleList([model.norm, model.head])]
    else:
        raise TypeError(f"SimMIM: no layer order for {type(model).__name__}")
    return [list(m.parameters()) for m in mods]


def random_patch_mask(batch: int, grid: int, ratio: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """[batch, grid, grid] bool, True = masked. Every image gets its own random set of
    exactly ceil(ratio * grid^2) masked patches (the paper's MaskGenerator): `ratio` is the
    share that is masked, not the share that is kept."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio {ratio} must be in (0, 1)")
    n = grid * grid
    k = int(math.ceil(n * ratio))
    order = torch.rand(batch, n, generator=generator).argsort(dim=1)
    mask = torch.zeros(batch, n, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask.view(batch, grid, grid)


def upsample_mask(mask: torch.Tensor, factor: int) -> torch.Tensor:
    """[B, g, g] patch mask -> [B, 1, g*factor, g*factor] float (1 = masked)."""
    return mask.repeat_interleave(factor, 1).repeat_interleave(factor, 2).unsqueeze(1).float()


class SimMIM(nn.Module):
    def __init__(self, encoder: nn.Module, image_size: int = 64, mask_patch: int = 8):
        super().__init__()
        self.encoder = encoder
        self.image_size = image_size
        self.mask_patch = mask_patch
        parts = split(encoder)
        was = encoder.training
        encoder.eval()
        with torch.no_grad():
            t = parts.stem(torch.zeros(1, 3, image_size, image_size))
            z = parts.body(t)
        encoder.train(was)
        if image_size % t.shape[-1] or image_size % z.shape[-1]:
            raise ValueError(f"SimMIM: image size {image_size} is not a multiple of the stem/encoder maps")
        self.stem_stride = image_size // t.shape[-1]
        self.encoder_stride = image_size // z.shape[-1]
        if mask_patch % self.stem_stride or image_size % mask_patch:
            raise ValueError(f"SimMIM: mask_patch={mask_patch} must divide the image ({image_size}) and be a "
                             f"multiple of the stem's stride ({self.stem_stride})")
        self.grid = image_size // mask_patch
        self.mask_token = nn.Parameter(torch.zeros(1, t.shape[1], 1, 1))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        # the one-layer head: each final feature vector predicts its stride x stride x 3 pixels
        self.decoder = nn.Sequential(nn.Conv2d(z.shape[1], self.encoder_stride ** 2 * 3, 1),
                                     nn.PixelShuffle(self.encoder_stride))

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        parts = split(self.encoder)
        # Masked pixels are zeroed before the stem too: a stem with overlapping windows
        # (MobileNetV3's 3x3 stride-2 conv) would otherwise see a pixel row of each masked
        # patch from the visible tokens beside it. A patchify stem (ConvNeXt) is unaffected.
        pix = upsample_mask(mask, self.mask_patch).to(x)
        t = parts.stem(x * (1 - pix))
        m = upsample_mask(mask, self.mask_patch // self.stem_stride).to(t)
        t = t * (1 - m) + self.mask_token.to(t) * m
        return parts.body(t)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Reconstruction of every pixel, [B, 3, H, W]; only the masked ones are scored."""
        return self.decoder(self.encode(x, mask))

    def loss(self, x: torch.Tensor, rec: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean L1 over the masked pixels and channels (the paper's loss)."""
        pix = upsample_mask(mask, self.mask_patch).to(x)
        l1 = F.l1_loss(rec, x, reduction="none")
        return (l1 * pix).sum() / (pix.sum() + 1e-5) / x.shape[1]
