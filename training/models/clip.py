"""MiniCLIP (open_clip-style CLIP): an image tower (small ResNet-style CNN for the teacher,
torchvision MobileNetV3-small for the student) and a small causal text transformer over
the real CLIP BPE ids, both projected into one embedding space, plus a learnable logit
scale. Everything here exports to ONNX opset 17 with plain ops."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from training.data.tokenizer import CONTEXT_LENGTH, EOT_ID, SOT_ID, VOCAB_SIZE
from training.losses.contrastive import LogitScale


@dataclass
class TextConfig:
    # The real vocabulary has 49,408 ids but captions use a few dozen; `token_ids` lists
    # the ids kept (SOT/EOT always added); every other id maps to one UNK row, so the
    # embedding table is len(token_ids) + 1 rows instead of 49,408.
    token_ids: List[int] = field(default_factory=list)
    # One narrow layer: with captions this regular, a deeper/wider tower memorizes the
    # seen colour-shape pairs and places unseen pairs worse (measured: held-out top-1 with
    # a frozen image tower 54% at 2 layers, 64% at 1 layer with mlp_ratio 0.5).
    width: int = 64
    layers: int = 1
    heads: int = 4
    mlp_ratio: float = 0.5
    context_length: int = CONTEXT_LENGTH
    # "eot": the feature at the first end-of-text token (CLIP). "mean": the mean of the token
    # features up to and including it; with layers=0 the text embedding is then a sum over
    # the words, additive in colour and shape by construction, so an unseen pair's prompt
    # is the sum of what its two words learned in other pairs
    pooling: str = "eot"


@dataclass
class ClipModelConfig:
    embed_dim: int = 128
    # "resnet_small" (teacher) | "mobilenetv3_small" (student) | "factored" (resnet_small over
    # chroma for shape + a per-pixel colour branch: models/factored_tower.py)
    image_tower: str = "resnet_small"
    image_width: int = 16               # resnet_small: channels of the first stage (x2 per stage)
    image_stem_pool: bool = True        # resnet_small: 3x3/2 max-pool after the stem (ResNet's), 4x less compute
    colour_width: int = 32              # factored: width of the per-pixel colour MLP
    chroma_jitter: float = 0.5          # factored: training gain on the chroma, uniform in 1 +- this
    shape_input: str = "chroma"         # factored: what the shape branch sees, "chroma" | "rgb" (an ablation)
    # factored: the preprocessing mean/std of the pixels (the tower recovers RGB in the graph);
    # empty: the trainer fills in its PreprocessConfig's
    image_mean: List[float] = field(default_factory=list)
    image_std: List[float] = field(default_factory=list)
    text: TextConfig = field(default_factory=TextConfig)
    init_logit_scale: float = 1 / 0.07
    max_logit_scale: float = 100.0


# ---------------------------------------------------------------- image towers

class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetSmall(nn.Module):
    """ResNet-style CNN for 64x64 inputs: stem (conv stride 2, optional max-pool) + 4
    stages of one basic block, widths w, 2w, 4w, 8w; dense 3x3 convs run well on CPU,
    which keeps teacher training inside the zoo's time budget."""

    def __init__(self, out_dim: int, width: int = 32, stem_pool: bool = True, in_chans: int = 3):
        super().__init__()
        stem = [nn.Conv2d(in_chans, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        if stem_pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)
        ws = [width, width * 2, width * 4, width * 8]
        stages, cin = [], width
        for i, w in enumerate(ws):
            stages.append(_BasicBlock(cin, w, 1 if i == 0 else 2))
            cin = w
        self.stages = nn.Sequential(*stages)
        self.num_features = cin
        self.head = nn.Linear(cin, out_dim)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


def mobilenetv3_small_encoder(out_dim: int, bn_momentum: float = 0.1, se: bool = True) -> nn.Module:
    """torchvision's MobileNetV3-small backbone (blocks unchanged) with a linear projection
    head to the embedding instead of its 576-1024-classes MLP: CLIP's towers end in a linear
    projection, and a linear head keeps colour and shape features additive, which is what
    lets unseen colour-shape pairs land next to their prompts. BatchNorm momentum 0.1
    instead of torchvision's 0.01: with a few hundred steps the running statistics otherwise
    lag the weights and eval() outputs drift far from train() outputs (measured: cosine to
    the teacher 0.74 in eval vs 0.92 in train mode)."""
    m = torchvision.models.mobilenet_v3_small(num_classes=out_dim, dropout=0.0)
    m.classifier = nn.Linear(m.classifier[0].in_features, out_dim)
    if not se:
        # squeeze-excitation gates every channel by global image statistics (here mostly
        # the shape's colour); without it the features stay local (an experiment knob)
        for block in m.modules():
            for name, child in block.named_children():
                if isinstance(child, torchvision.ops.misc.SqueezeExcitation):
                    setattr(block, name, nn.Identity())
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.momentum = bn_momentum
    return m


def create_image_tower(name: str, embed_dim: int, width: int = 32, stem_pool: bool = True, se: bool = True,
                       cfg: Optional["ClipModelConfig"] = None) -> nn.Module:
    if name == "resnet_small":
        return ResNetSmall(embed_dim, width, stem_pool)
    if name == "mobilenetv3_small":
        return mobilenetv3_small_encoder(embed_dim, se=se)
    if name == "factored":
        from training.models.factored_tower import FactoredTower

        cfg = cfg or ClipModelConfig(image_tower=name)
        pp = {k: v for k, v in (("mean", cfg.image_mean), ("std", cfg.image_std)) if v}
        shape = ResNetSmall(embed_dim, width, stem_pool, in_chans=3 if cfg.shape_input == "rgb" else 1)
        return FactoredTower(embed_dim, shape, colour_width=cfg.colour_width, chroma_jitter=cfg.chroma_jitter,
                             shape_input=cfg.shape_input, **pp)
    raise ValueError(f"unknown image tower {name!r}; valid: resnet_small, mobilenetv3_small, factored")


# ---------------------------------------------------------------- text tower

class _Attention(nn.Module):
    # Hand-written (not nn.MultiheadAttention) so the ONNX graph is plain MatMul/Softmax
    # and no fused fast path of torch 1.13 gets in the way of export.
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x, mask):
        b, l, d = x.shape
        h = self.heads
        q, k, v = self.qkv(x).reshape(b, l, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
        att = (q @ k.transpose(-2, -1)) * (d // h) ** -0.5 + mask
        y = att.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, l, d))


class _Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = _Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x, mask):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class TextEncoder(nn.Module):
    """CLIP text transformer (pre-LN, causal mask, features at the end-of-text token),
    narrowed: input ids go through a constant int64 lookup table `id_map` [49408] to a
    compact embedding row. The causal mask means the EOT feature depends only on tokens
    up to it, so padding (0 or 49407) and any cut of trailing positions are irrelevant."""

    def __init__(self, cfg: TextConfig, embed_dim: int):
        super().__init__()
        self.cfg = cfg
        if cfg.pooling not in ("eot", "mean"):
            raise ValueError(f"text pooling {cfg.pooling!r}; valid: eot, mean")
        kept = sorted(set(cfg.token_ids) | {SOT_ID, EOT_ID})
        id_map = torch.full((VOCAB_SIZE,), len(kept), dtype=torch.long)  # UNK row last
        id_map[torch.tensor(kept)] = torch.arange(len(kept))
        self.register_buffer("id_map", id_map, persistent=True)
        self.kept_ids = kept
        self.token_embedding = nn.Embedding(len(kept) + 1, cfg.width)
        self.positional_embedding = nn.Parameter(torch.randn(cfg.context_length, cfg.width) * 0.01)
        self.blocks = nn.ModuleList([_Block(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.layers)])
        self.ln_final = nn.LayerNorm(cfg.width)
        self.text_projection = nn.Linear(cfg.width, embed_dim, bias=False)
        mask = torch.full((cfg.context_length, cfg.context_length), float("-inf")).triu(1)
        self.register_buffer("attn_mask", mask, persistent=False)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        l = input_ids.shape[1]
        x = self.token_embedding(self.id_map[input_ids]) + self.positional_embedding[:l]
        mask = self.attn_mask[:l, :l]
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln_final(x)
        # first EOT position; a one-hot (or prefix) weighted sum exports as plain ops (no GatherND)
        is_eot = (input_ids == EOT_ID).float()
        eot_pos = is_eot.argmax(dim=1, keepdim=True)
        pos = torch.arange(l, device=input_ids.device).unsqueeze(0)
        if self.cfg.pooling == "mean":
            select = (pos <= eot_pos).to(x.dtype)
            select = select / select.sum(dim=1, keepdim=True)
        else:
            select = (pos == eot_pos).to(x.dtype)
        x = (x * select.unsqueeze(-1)).sum(dim=1)
        return self.text_projection(x)


# ---------------------------------------------------------------- CLIP

class MiniCLIP(nn.Module):
    """open_clip's CLIP interface: encode_image, encode_text (normalize=False|True),
    forward -> (image_features, text_features, logit_scale) with normalized features."""

    def __init__(self, cfg: ClipModelConfig):
        super().__init__()
        self.cfg = cfg
        self.visual = create_image_tower(cfg.image_tower, cfg.embed_dim, cfg.image_width, cfg.image_stem_pool, cfg=cfg)
        self.text = TextEncoder(cfg.text, cfg.embed_dim)
        self.logit_scale = LogitScale(cfg.init_logit_scale, cfg.max_logit_scale)

    def encode_image(self, pixel_values: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        x = self.visual(pixel_values)
        return F.normalize(x, dim=-1) if normalize else x

    def encode_text(self, input_ids: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        x = self.text(input_ids)
        return F.normalize(x, dim=-1) if normalize else x

    def forward(self, pixel_values, input_ids):
        return (self.encode_image(pixel_values, True), self.encode_text(input_ids, True), self.logit_scale())


class ImageEncoderExport(nn.Module):
    """pixel_values -> L2-normalized image_embeds (the ONNX image graph)."""

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    def forward(self, pixel_values):
        return F.normalize(self.visual(pixel_values), dim=-1)


class TextEncoderExport(nn.Module):
    """input_ids int64 [N, 77] -> L2-normalized text_embeds (the ONNX text graph)."""

    def __init__(self, text: nn.Module):
        super().__init__()
        self.text = text

    def forward(self, input_ids):
        return F.normalize(self.text(input_ids), dim=-1)


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def count_flops(m: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates x 2 of the conv, linear and matmul work of one forward of
    `example` (batch 1), counted with forward hooks on Conv2d/Linear plus the attention
    matmuls. FLOPs = 2 x MACs, the convention of fvcore/timm reports."""
    macs = [0]
    hooks = []

    def conv_hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        macs[0] += out.numel() * k

    def linear_hook(mod, inp, out):
        macs[0] += out.numel() * mod.in_features

    def attn_hook(mod, inp, out):
        b, l, d = inp[0].shape
        macs[0] += 2 * b * l * l * d  # q@k^T and att@v

    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, _Attention):
            hooks.append(mod.register_forward_hook(attn_hook))
    was_training = m.training
    m.eval()
    with torch.no_grad():
        m(example)
    m.train(was_training)
    for h in hooks:
        h.remove()
    return 2 * macs[0] // example.shape[0]
