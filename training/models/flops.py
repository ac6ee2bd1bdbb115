"""Multiply-accumulate counter via forward hooks (Conv2d, Linear, dynamic conv), the
convention of most papers' "FLOPs" (fvcore, thop count MACs). Eval cards report both
`macs` and `flops` = 2 * macs so there is no ambiguity."""
from __future__ import annotations

import torch
import torch.nn as nn


def count_macs(model: nn.Module, input_size=(1, 3, 64, 64)) -> int:
    from training.models.dynamic_conv import DynamicConv2d

    total = [0]

    def conv_hook(m: nn.Conv2d, inp, out):
        kh, kw = m.kernel_size
        total[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inp, out):
        total[0] += out.numel() // out.shape[0] * m.in_features

    def dyn_hook(m, inp, out):
        # one conv with the mixed kernel plus the kernel mixing itself (K * weight size)
        kh, kw = m.kernel_size
        total[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * kh * kw
        total[0] += m.num_experts * m.weight.numel() // m.num_experts

    hooks = []
    for mod in model.modules():
        if isinstance(mod, DynamicConv2d):
            hooks.append(mod.register_forward_hook(dyn_hook))
        elif isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(input_size))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return int(total[0])


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
