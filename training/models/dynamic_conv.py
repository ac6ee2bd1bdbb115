"""Dynamic convolution (Chen et al., CVPR 2020 "Dynamic Convolution: Attention over
Convolution Kernels"): K expert kernels are mixed per sample by a small attention branch
and the mixed kernel runs as ONE grouped convolution over the whole batch (batch folded
into groups). Compute stays close to one conv; the slow reference (`forward_reference`)
runs all K convolutions and mixes their outputs, which is mathematically the same.

The softmax temperature is annealed as in the paper: 30 at the start, so every expert gets
gradient while the attention branch is still random, down to 1 (`anneal_temperature`,
driven by the training loop). It is a buffer, so a checkpoint and its ONNX export carry the
value training ended with. Expert kernels are stored as one rank-4 tensor [K*O, I, kh, kw]
so that `model.to(memory_format=torch.channels_last)` applies to them like to any conv."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class DynamicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = False, num_experts: int = 4,
                 reduction: int = 4, temperature: float = 30.0):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.stride, self.padding, self.groups = stride, padding, groups
        self.num_experts = num_experts
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        hidden = max(4, in_channels // reduction)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(in_channels, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_experts),
        )
        self.weight = nn.Parameter(torch.empty(num_experts * out_channels, in_channels // groups, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(num_experts, out_channels)) if bias else None
        for k in range(num_experts):
            nn.init.kaiming_uniform_(self.expert(k), a=math.sqrt(5))

    def expert(self, k: int) -> torch.Tensor:
        """Kernel k, [O, I, kh, kw] (a view of `weight`)."""
        return self.weight[k * self.out_channels:(k + 1) * self.out_channels]

    def mixing_weights(self, x: torch.Tensor) -> torch.Tensor:
        """[B, K] per-sample attention over the experts (sums to 1)."""
        return F.softmax(self.attention(x) / self.temperature, dim=1)

    def forward(self, x: torch.Tensor, attn: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        attn = self.mixing_weights(x) if attn is None else attn
        # [B, K] x [K, O*I*kh*kw] -> per-sample kernels, then fold batch into groups.
        weight = (attn @ self.weight.contiguous().reshape(self.num_experts, -1)).reshape(
            b * self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        bias = (attn @ self.bias).reshape(-1) if self.bias is not None else None
        out = F.conv2d(x.contiguous().reshape(1, b * c, h, w), weight, bias, self.stride, self.padding,
                       groups=self.groups * b)
        return out.reshape(b, self.out_channels, out.shape[-2], out.shape[-1])

    def forward_reference(self, x: torch.Tensor, attn: torch.Tensor | None = None) -> torch.Tensor:
        """The slow way: K full convolutions, outputs mixed by the same weights."""
        attn = self.mixing_weights(x) if attn is None else attn
        outs = []
        for k in range(self.num_experts):
            bias = self.bias[k] if self.bias is not None else None
            outs.append(F.conv2d(x, self.expert(k), bias, self.stride, self.padding, groups=self.groups))
        stacked = torch.stack(outs, dim=1)  # [B, K, O, H, W]
        return (attn[:, :, None, None, None] * stacked).sum(dim=1)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, num_experts: int = 4) -> "DynamicConv2d":
        """Replace a static conv; every expert starts as the original kernel plus noise."""
        m = cls(conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0],
                conv.groups, conv.bias is not None, num_experts)
        with torch.no_grad():
            for k in range(num_experts):
                m.expert(k).copy_(conv.weight + 0.01 * torch.randn_like(conv.weight))
                if conv.bias is not None:
                    m.bias[k].copy_(conv.bias)
        return m


def anneal_temperature(model: nn.Module, progress: float, start: float = 30.0, end: float = 1.0,
                       anneal_fraction: float = 0.3) -> float:
    """Set every DynamicConv2d's temperature for training progress in [0, 1]: linear from
    `start` to `end` over the first `anneal_fraction` of training (Chen et al. 2020: 30 -> 1
    over the first 10 epochs), then `end`. Returns the value set."""
    f = min(1.0, max(0.0, progress) / anneal_fraction) if anneal_fraction > 0 else 1.0
    t = start + (end - start) * f
    for m in model.modules():
        if isinstance(m, DynamicConv2d):
            m.temperature.fill_(t)
    return t
