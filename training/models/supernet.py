"""Weight-sharing supernet for latency-aware one-shot NAS over MobileNetV3-style blocks,
and the child network a search derives from it.

Search space (as MobileNetV3's / ProxylessNAS's): a fixed stem (3x3 stride-2 conv, 16
channels), a fixed channel/stride plan of searchable positions, a fixed head (1x1 conv,
global pool, linear). Each position chooses one inverted-residual block (1x1 expand,
k x k depthwise, optional squeeze-excitation, 1x1 project, residual when shapes allow) with
kernel 3/5/7 and expansion 3/6, with or without SE, with a static or a dynamic depthwise
convolution (Chen et al. 2020, `dynamic_conv.py`: K expert kernels mixed per image, as the
student's dynamic-convolution ablation); positions whose input and output shapes match may
also choose `skip` (the identity), which is how depth is searched.

Architecture weights `alpha` [positions, ops] live in [0, 1]. The forward takes the
discrete weights `alpha_bar` (one-hot per position, see `prox_one_hot`) as in NASP (Yao et
al. 2020): output = sum_i alpha_bar_i op_i(x). Only the chosen op needs its weights'
gradient; the other ops are evaluated without grad when the gradient with respect to
alpha_bar is wanted (their term is alpha_bar_i x op_i(x) with alpha_bar_i = 0, so they
add nothing to the gradient of x or of any weight, and d loss / d alpha_bar_i =
<d loss / d out, op_i(x)> is exact)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from training.models.dynamic_conv import DynamicConv2d


@dataclass
class SupernetConfig:
    num_classes: int = 8
    stem_channels: int = 16
    # (out_channels, stride) of each searchable position: MobileNetV3-small's strides and
    # widths, shortened (its final map at 64 px is 2 x 2 as well)
    plan: List[Tuple[int, int]] = field(default_factory=lambda: [(16, 2), (24, 2), (24, 1), (40, 2), (40, 1),
                                                                  (48, 1), (96, 2), (96, 1)])
    kernels: List[int] = field(default_factory=lambda: [3, 5, 7])
    expansions: List[int] = field(default_factory=lambda: [3, 6])
    se: List[bool] = field(default_factory=lambda: [False, True])
    dynamic: List[bool] = field(default_factory=lambda: [False, True])   # static / dynamic depthwise conv
    dynamic_experts: int = 4      # K of a dynamic op's depthwise conv (the student's ablation used 4)
    head_channels: int = 256
    dropout: float = 0.1
    bn_momentum: float = 0.1      # as the student: a few hundred steps otherwise leave eval() statistics far behind


@dataclass(frozen=True)
class OpSpec:
    """One candidate of a position: an inverted-residual block, or `skip` (kernel 0)."""
    kernel: int
    expansion: int
    se: bool
    dynamic: bool = False         # the depthwise conv is a DynamicConv2d

    @property
    def name(self) -> str:
        if self.kernel == 0:
            return "skip"
        return f"k{self.kernel}_e{self.expansion}" + ("_se" if self.se else "") + ("_dyn" if self.dynamic else "")


SKIP = OpSpec(0, 0, False)


def candidates(cfg: SupernetConfig, cin: int, cout: int, stride: int) -> List[OpSpec]:
    ops = [OpSpec(k, e, s, d) for k in cfg.kernels for e in cfg.expansions for s in cfg.se for d in cfg.dynamic]
    return ops + [SKIP] if stride == 1 and cin == cout else ops


def positions(cfg: SupernetConfig) -> List[Tuple[int, int, int, List[OpSpec]]]:
    """(in_channels, out_channels, stride, candidates) of every searchable position."""
    out, cin = [], cfg.stem_channels
    for cout, stride in cfg.plan:
        out.append((cin, cout, stride, candidates(cfg, cin, cout, stride)))
        cin = cout
    return out


def _act(channels_index: int) -> nn.Module:
    # MobileNetV3: ReLU in the early, high-resolution blocks, hard-swish later
    return nn.ReLU(inplace=True) if channels_index < 3 else nn.Hardswish(inplace=True)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        mid = max(8, channels // 4)
        self.fc1, self.fc2 = nn.Conv2d(channels, mid, 1), nn.Conv2d(mid, channels, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, spec: OpSpec, cin: int, cout: int, stride: int, index: int, bn_momentum: float,
                 experts: int = 4):
        super().__init__()
        mid = cin * spec.expansion
        pad = spec.kernel // 2
        depthwise = (DynamicConv2d(mid, mid, spec.kernel, stride, pad, groups=mid, num_experts=experts) if spec.dynamic
                     else nn.Conv2d(mid, mid, spec.kernel, stride, pad, groups=mid, bias=False))
        layers = [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid, momentum=bn_momentum), _act(index),
                  depthwise, nn.BatchNorm2d(mid, momentum=bn_momentum), _act(index)]
        if spec.se:
            layers.append(SqueezeExcite(mid))
        layers += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout, momentum=bn_momentum)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def make_op(spec: OpSpec, cin: int, cout: int, stride: int, index: int, bn_momentum: float,
            experts: int = 4) -> nn.Module:
    return nn.Identity() if spec == SKIP else InvertedResidual(spec, cin, cout, stride, index, bn_momentum, experts)


def stem(cfg: SupernetConfig) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, cfg.stem_channels, 3, 2, 1, bias=False),
                         nn.BatchNorm2d(cfg.stem_channels, momentum=cfg.bn_momentum), nn.Hardswish(inplace=True))


def head(cfg: SupernetConfig) -> nn.Module:
    cin = cfg.plan[-1][0]
    return nn.Sequential(nn.Conv2d(cin, cfg.head_channels, 1, bias=False),
                         nn.BatchNorm2d(cfg.head_channels, momentum=cfg.bn_momentum), nn.Hardswish(inplace=True),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout),
                         nn.Linear(cfg.head_channels, cfg.num_classes))


class MixedOp(nn.Module):
    """All candidates of one position; forward(x, weights) = sum_i weights_i op_i(x) with
    `weights` one-hot (or zero) except where a gradient with respect to them is wanted."""

    def __init__(self, specs: Sequence[OpSpec], cin: int, cout: int, stride: int, index: int, bn_momentum: float,
                 experts: int = 4):
        super().__init__()
        self.specs = list(specs)
        self.ops = nn.ModuleList([make_op(s, cin, cout, stride, index, bn_momentum, experts) for s in specs])

    def forward(self, x: torch.Tensor, weights: torch.Tensor, arch_grad: bool) -> torch.Tensor:
        chosen = int(weights.argmax())
        out = weights[chosen] * self.ops[chosen](x)
        if arch_grad:
            # d loss / d weights_i for the ops not chosen, without their weights' gradient:
            # their weight is 0, so they change neither the output nor any other gradient
            for i, op in enumerate(self.ops):
                if i != chosen:
                    with torch.no_grad():
                        y = op(x)
                    out = out + weights[i] * y
        return out


class Supernet(nn.Module):
    """forward(x, alpha_bar, arch_grad=False): logits of the architecture `alpha_bar`
    [positions, max_ops] (one-hot rows; padded columns of positions with fewer ops are 0)."""

    def __init__(self, cfg: SupernetConfig):
        super().__init__()
        self.cfg = cfg
        self.stem = stem(cfg)
        pos = positions(cfg)
        self.mixed = nn.ModuleList([MixedOp(specs, cin, cout, s, i, cfg.bn_momentum, cfg.dynamic_experts)
                                    for i, (cin, cout, s, specs) in enumerate(pos)])
        self.head = head(cfg)
        self.max_ops = max(len(m.specs) for m in self.mixed)
        valid = torch.zeros(len(pos), self.max_ops, dtype=torch.bool)
        for i, m in enumerate(self.mixed):
            valid[i, : len(m.specs)] = True
        self.register_buffer("valid", valid, persistent=False)

    def forward(self, x: torch.Tensor, alpha_bar: torch.Tensor, arch_grad: bool = False) -> torch.Tensor:
        x = self.stem(x)
        for i, m in enumerate(self.mixed):
            x = m(x, alpha_bar[i, : len(m.specs)], arch_grad)
        return self.head(x)

    def choice(self, alpha: torch.Tensor) -> List[OpSpec]:
        return [m.specs[int(alpha[i, : len(m.specs)].argmax())] for i, m in enumerate(self.mixed)]

    def weight_parameters(self) -> List[nn.Parameter]:
        return list(self.parameters())


def prox_one_hot(alpha: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """NASP's proximal step onto the discrete set C1 = {one-hot rows}: the Euclidean
    projection of each row onto the one-hot vectors keeps its largest entry as 1 and sets
    the rest to 0 (ties: the first). `valid` masks padded columns out of the argmax."""
    a = alpha if valid is None else alpha.masked_fill(~valid, float("-inf"))
    return F.one_hot(a.argmax(dim=1), alpha.shape[1]).to(alpha.dtype)


def prox_box(alpha: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """NASP's proximal step onto C2 = [0, 1]^n (clamp); padded columns stay 0."""
    a = alpha.clamp(0.0, 1.0)
    return a if valid is None else a.masked_fill(~valid, 0.0)


class ChildNet(nn.Module):
    """The network of one architecture: stem, the chosen op of each position, head."""

    def __init__(self, cfg: SupernetConfig, choice: Sequence[OpSpec]):
        super().__init__()
        self.cfg, self.choice = cfg, list(choice)
        pos = positions(cfg)
        if len(choice) != len(pos):
            raise ValueError(f"choice has {len(choice)} ops, the plan has {len(pos)} positions")
        for i, (spec, (_, _, _, specs)) in enumerate(zip(choice, pos)):
            if spec not in specs:
                raise ValueError(f"position {i}: {spec.name} is not a candidate; valid: {[s.name for s in specs]}")
        self.stem = stem(cfg)
        self.blocks = nn.Sequential(*[make_op(spec, cin, cout, s, i, cfg.bn_momentum, cfg.dynamic_experts)
                                      for i, (spec, (cin, cout, s, _)) in enumerate(zip(choice, pos))])
        self.head = head(cfg)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def child_from_names(cfg: SupernetConfig, names: Sequence[str]) -> ChildNet:
    """The child of an architecture written as op names, one per position (`OpSpec.name`)."""
    pos = positions(cfg)
    if len(names) != len(pos):
        raise ValueError(f"nas architecture has {len(names)} ops, the search space {len(pos)} positions")
    choice = []
    for i, (name, (_, _, _, specs)) in enumerate(zip(names, pos)):
        by_name = {s.name: s for s in specs}
        if name not in by_name:
            raise ValueError(f"nas architecture position {i}: {name!r} is not a candidate; valid: {list(by_name)}")
        choice.append(by_name[name])
    return ChildNet(cfg, choice)


def derive_child(supernet: Supernet, alpha: torch.Tensor) -> ChildNet:
    """The child of prox_one_hot(alpha), with the supernet's shared weights copied in."""
    choice = supernet.choice(alpha)
    child = ChildNet(supernet.cfg, choice)
    child.stem.load_state_dict(supernet.stem.state_dict())
    child.head.load_state_dict(supernet.head.state_dict())
    for blk, m, spec in zip(child.blocks, supernet.mixed, choice):
        blk.load_state_dict(m.ops[m.specs.index(spec)].state_dict())
    return child
