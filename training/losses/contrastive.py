"""CLIP contrastive losses in open_clip's loss.py shape: seams `get_logits` and
`get_ground_truth`, forward returns a dict of named, already-weighted terms (the
trainer sums them). LogitScale is the learnable temperature CLIP trains, clamped at 100."""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class LogitScale(nn.Module):
    """Learnable CLIP temperature, stored as log(scale) (CLIP init: 1/0.07). forward()
    returns exp(log_scale) clamped at `max_scale` (100, as CLIP): the clamp is inside the
    graph, so above it the gradient is zero and the scale cannot run away."""

    def __init__(self, init_scale: float = 1 / 0.07, max_scale: float = 100.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))
        self.max_log_scale = math.log(max_scale)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(max=self.max_log_scale).exp()


class ClipLoss(nn.Module):
    """Symmetric InfoNCE over an image-text batch (CLIP, Radford et al. 2021).

    Without labels, pair i is the only positive of row i (CLIP). With `labels` (for
    datasets where many images share one caption, like the procedural shapes) every
    same-label pair is a positive and the target is uniform over them, so duplicates of a
    caption are not pushed apart as false negatives. `positives` [images, texts] generalises
    that to captions true of several kinds of image (a colour-only caption is true of every
    image of that colour): each image's target is uniform over the texts true of it, each
    text's over the images it is true of. `label_smoothing` mixes every target with the
    uniform distribution over the batch (as label smoothing does for class targets).
    """

    def __init__(self, weight: float = 1.0, label_smoothing: float = 0.0):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.weight = weight
        self.label_smoothing = label_smoothing

    @staticmethod
    def get_logits(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor):
        image_features = F.normalize(image_features, dim=-1)
        text_features = F.normalize(text_features, dim=-1)
        logits_per_image = logit_scale * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()

    @staticmethod
    def get_ground_truth(num: int, device: torch.device, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Target distribution per row, [num, num]."""
        if labels is None:
            return torch.eye(num, device=device)
        same = (labels.view(-1, 1) == labels.view(1, -1)).float()
        return same / same.sum(dim=1, keepdim=True)

    def forward(self, image_features, text_features, logit_scale, labels: Optional[torch.Tensor] = None,
                positives: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        n = logits_per_image.shape[0]
        if positives is not None:
            pos = positives.to(logits_per_image.dtype)
            target_i = pos / pos.sum(dim=1, keepdim=True)
            target_t = pos.t() / pos.t().sum(dim=1, keepdim=True)
        else:
            target_i = self.get_ground_truth(n, logits_per_image.device, labels)
            target_t = target_i.t()
        if self.label_smoothing:
            eps = self.label_smoothing
            target_i, target_t = (1 - eps) * target_i + eps / n, (1 - eps) * target_t + eps / n
        # soft-target cross-entropy; equals F.cross_entropy(logits, arange) when target = eye
        loss_i = -(target_i * F.log_softmax(logits_per_image, dim=1)).sum(1).mean()
        loss_t = -(target_t * F.log_softmax(logits_per_text, dim=1)).sum(1).mean()
        return {"contrastive_loss": self.weight * (loss_i + loss_t) / 2}


class DebiasedClipLoss(ClipLoss):
    """Debiased contrastive loss (Chuang et al., "Debiased Contrastive Learning", NeurIPS
    2020, eq. 6 / their reference code) applied to both directions of an image-text batch.

    Unlabelled negatives include same-class samples with prior `tau_plus`; the negative
    term is corrected to estimate the true-negative mass:
        Ng = max((sum_j exp(s_ij) - tau_plus * N * exp(s_ii)) / (1 - tau_plus), N * exp(-scale))
        loss_i = -log(exp(s_ii) / (exp(s_ii) + Ng)),   s = logit_scale * cos,   N = B - 1
    exp(-scale) is e^{-1/t} of the paper (the smallest possible exp(s) at cos = -1).
    tau_plus = 0 (and no clamp) gives the plain CLIP loss.
    """

    def __init__(self, tau_plus: float = 0.1, weight: float = 1.0):
        super().__init__(weight)
        if not 0.0 <= tau_plus < 1.0:
            raise ValueError(f"tau_plus must be in [0, 1), got {tau_plus}")
        self.tau_plus = tau_plus

    def _debiased(self, logits: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
        # float64 and a row-max shift: exp(100) overflows float32.
        logits = logits.double()
        b = logits.shape[0]
        n = b - 1
        m = logits.max(dim=1, keepdim=True).values.detach()
        e = (logits - m).exp()
        pos = e.diagonal()
        neg_sum = e.sum(dim=1) - pos
        ng = (neg_sum - self.tau_plus * n * pos) / (1.0 - self.tau_plus)
        floor = n * torch.exp(-logit_scale.double() - m.squeeze(1))
        ng = torch.maximum(ng, floor)
        loss = (pos + ng).log() - (logits.diagonal() - m.squeeze(1))
        return loss.mean()

    def forward(self, image_features, text_features, logit_scale, labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        if labels is not None:
            raise ValueError("DebiasedClipLoss is for unlabelled batches; use ClipLoss(labels=...) when labels are known")
        logit_scale = torch.as_tensor(logit_scale, dtype=image_features.dtype, device=image_features.device)
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        loss = (self._debiased(logits_per_image, logit_scale) + self._debiased(logits_per_text, logit_scale)) / 2
        return {"contrastive_loss": self.weight * loss.to(image_features.dtype)}
