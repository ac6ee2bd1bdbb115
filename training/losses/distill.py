"""Knowledge distillation on logits (Hinton et al. 2015), open_clip-style: forward returns
named, already-weighted terms; the trainer sums them.
  distill_loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
  ce_loss      = (1 - alpha) * CE(student, labels)
The T^2 factor keeps the soft-target gradients the same size as T changes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class KDConfig:
    temperature: float = 4.0
    alpha: float = 0.7          # weight of the distillation term; 1 - alpha goes to CE
    label_smoothing: float = 0.0


class KDLoss(nn.Module):
    def __init__(self, temperature: float = 4.0, alpha: float = 0.7, label_smoothing: float = 0.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.temperature, self.alpha, self.label_smoothing = temperature, alpha, label_smoothing

    @classmethod
    def from_config(cls, cfg: KDConfig) -> "KDLoss":
        return cls(cfg.temperature, cfg.alpha, cfg.label_smoothing)

    def distill(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        t = self.temperature
        log_p_s = F.log_softmax(student_logits / t, dim=1)
        log_p_t = F.log_softmax(teacher_logits.detach() / t, dim=1)
        # batchmean = the mathematical KL per sample, averaged over the batch
        return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * t * t

    def forward(self, student_logits: torch.Tensor, labels: torch.Tensor,
                teacher_logits: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        ce = F.cross_entropy(student_logits, labels, label_smoothing=self.label_smoothing)
        if teacher_logits is None:
            return {"ce_loss": ce}
        return {
            "distill_loss": self.alpha * self.distill(student_logits, teacher_logits),
            "ce_loss": (1.0 - self.alpha) * ce,
        }
