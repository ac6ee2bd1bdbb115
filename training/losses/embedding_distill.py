"""Embedding distillation for CLIP image towers (as in TinyCLIP / CLIP-KD feature
distillation): the student image encoder regresses the teacher's image embedding and,
so it stays aligned with the frozen teacher text tower, is also trained contrastively
against the teacher's text embeddings. Named terms, open_clip style."""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from training.losses.contrastive import ClipLoss


class EmbeddingDistillLoss(nn.Module):
    """distill_loss: "cosine" = mean(1 - cos(student, teacher)) (direction only, what
    zero-shot scoring uses); "mse" = mean squared error of the raw embeddings (also
    matches the norm). contrastive_loss: ClipLoss(student image, teacher text) at the
    teacher's logit scale, with optional labels for shared captions."""

    def __init__(self, mode: str = "cosine", distill_weight: float = 1.0, contrastive_weight: float = 1.0):
        super().__init__()
        if mode not in ("cosine", "mse"):
            raise ValueError(f"mode must be 'cosine' or 'mse', got {mode!r}")
        self.mode = mode
        self.distill_weight = distill_weight
        self.contrastive_weight = contrastive_weight
        self.contrastive = ClipLoss(weight=contrastive_weight)

    def distill(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if self.mode == "cosine":
            return (1.0 - F.cosine_similarity(student, teacher, dim=-1)).mean()
        return F.mse_loss(student, teacher)

    def forward(self, student_image: torch.Tensor, teacher_image: torch.Tensor, teacher_text: torch.Tensor,
                logit_scale: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        teacher_image, teacher_text = teacher_image.detach(), teacher_text.detach()
        out = {"distill_loss": self.distill_weight * self.distill(student_image, teacher_image)}
        if self.contrastive_weight:
            out.update(self.contrastive(student_image, teacher_text, torch.as_tensor(logit_scale).detach(), labels))
        return out
