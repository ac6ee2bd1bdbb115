"""Model factory (timm's create_model idea): one dataclass describes any classifier here,
`create_model(cfg)` builds it. Checkpoints store this config, so export/eval rebuild the
exact architecture without guessing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, ResNet

from training.models.dynamic_conv import DynamicConv2d
from training.models.flops import count_macs, count_params  # noqa: F401


@dataclass
class ModelConfig:
    arch: str = "mobilenetv3_small"   # "mobilenetv3_small" | "convnext_teacher" | "resnet_teacher" | "nas_child"
    num_classes: int = 64
    # MobileNetV3: torchvision's stem has stride 2 (made for 224 px). On 64 px inputs
    # stride 1 keeps a 4x4 final map instead of 2x2 at ~3.4x the compute; 2 is the default
    # because on the shared 2-core CPU it trains ~3x faster and is accurate enough here.
    stem_stride: int = 2
    width_mult: float = 1.0
    dropout: float = 0.2
    bn_momentum: float = 0.1
    # Optional dynamic convolution: replace the depthwise conv of the last N inverted
    # residual blocks by K-expert DynamicConv2d (0 = plain torchvision MobileNetV3).
    dynamic_blocks: int = 0
    dynamic_experts: int = 4
    # ResNet teacher: BasicBlock stages; width = channels of the first stage.
    resnet_layers: tuple = (2, 2, 2, 2)
    resnet_width: int = 48
    # ConvNeXt-style teacher: stage widths and depths, patchify stem stride, stochastic depth.
    # Defaults: ConvNeXt-atto's depths (timm) at widths 32-256 with the paper's 4x4 stem, so
    # stages run at 16/8/4/2 px on 64 px inputs: 29.1 M MACs (5.2x the student), 0.37 CPU-s
    # per training step of 64 images on one core (training/README.md, "Models").
    convnext_dims: tuple = (32, 64, 128, 256)
    convnext_depths: tuple = (2, 2, 6, 2)
    convnext_stem: int = 4
    convnext_layer_scale: float = 1e-6   # initial layer scale (the paper's 1e-6)
    convnext_stem_convs: tuple = ()      # channels of 3x3 conv-BN-ReLU layers before the patchify
    convnext_stem_strides: tuple = ()    # their strides
    convnext_block_norm: str = "layer"   # "layer" (the paper's, per pixel) | "layer_chw" (per map) | "batch"
    drop_path: float = 0.1
    # A child found by `nas` (arch "nas_child", training/models/supernet.py): one op name per
    # searchable position of the search space `nas_space` (SupernetConfig's keys; empty: its defaults).
    nas_architecture: tuple = ()
    nas_space: Optional[dict] = None


def _mobilenetv3_small(cfg: ModelConfig) -> nn.Module:
    m = torchvision.models.mobilenet_v3_small(num_classes=cfg.num_classes, width_mult=cfg.width_mult,
                                              dropout=cfg.dropout)
    m.features[0][0].stride = (cfg.stem_stride, cfg.stem_stride)
    # torchvision sets BatchNorm momentum 0.01 (tuned for long ImageNet schedules). With a
    # few hundred steps the running statistics lag the weights so far that eval() output
    # collapses to one class; PyTorch's default 0.1 tracks them.
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.momentum = cfg.bn_momentum
    if cfg.dynamic_blocks:
        from torchvision.models.mobilenetv3 import InvertedResidual

        blocks = [b for b in m.features if isinstance(b, InvertedResidual)][-cfg.dynamic_blocks:]
        for blk in blocks:
            for layer in blk.block:
                conv = layer[0] if isinstance(layer, nn.Sequential) else None
                if isinstance(conv, nn.Conv2d) and conv.groups > 1:  # the depthwise conv
                    layer[0] = DynamicConv2d.from_conv(conv, cfg.dynamic_experts)
    return m


class _Teacher(ResNet):
    """torchvision ResNet with BasicBlocks and a small-image stem (3x3 stride-1 conv, no
    max-pool) as for CIFAR-sized inputs, and configurable stage widths."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(BasicBlock, list(cfg.resnet_layers), num_classes=cfg.num_classes)
        w = cfg.resnet_width
        widths = [w, w * 2, w * 4, w * 8]
        self.inplanes = w
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, widths[0], cfg.resnet_layers[0])
        self.layer2 = self._make_layer(BasicBlock, widths[1], cfg.resnet_layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], cfg.resnet_layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], cfg.resnet_layers[3], stride=2)
        self.fc = nn.Linear(widths[3], cfg.num_classes)
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
        # stride-2 first conv halves the 64 px input: 32x32 maps in the first stage
        self.conv1.stride = (2, 2)


def create_model(cfg: ModelConfig) -> nn.Module:
    if cfg.arch == "mobilenetv3_small":
        return _mobilenetv3_small(cfg)
    if cfg.arch == "resnet_teacher":
        return _Teacher(cfg)
    if cfg.arch == "convnext_teacher":
        from training.models.convnext import ConvNeXt

        return ConvNeXt(cfg.num_classes, cfg.convnext_dims, cfg.convnext_depths, cfg.convnext_stem, cfg.drop_path,
                        cfg.convnext_layer_scale, cfg.convnext_stem_convs, cfg.convnext_stem_strides,
                        cfg.convnext_block_norm)
    if cfg.arch == "nas_child":
        from training.config import from_dict
        from training.models.supernet import SupernetConfig, child_from_names

        space = from_dict(SupernetConfig, {**(cfg.nas_space or {}), "num_classes": cfg.num_classes})
        return child_from_names(space, cfg.nas_architecture)
    raise ValueError(f"unknown arch {cfg.arch!r}; valid: mobilenetv3_small, convnext_teacher, resnet_teacher, nas_child")
