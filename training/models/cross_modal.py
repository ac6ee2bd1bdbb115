"""Cross-modal attention for fine-grained classification: the image's spatial tokens are
the queries, the text tokens of each candidate label's description are the keys and
values (multi-head, padded text positions masked out), a residual connection keeps the
image tokens, a feed-forward layer (residual) follows as in a transformer block, and a
matching head scores each candidate: the cosine between the pooled attended image tokens and
the candidate's own pooled text embedding, times a learned scale.

Why a matching head and not a linear score of the attended tokens alone: with a linear score
the candidates differ only through the text values the image tokens read, and the image
enters a candidate's logit only through attention weights. At the recipe's learning rate the
text path collapsed within 25 steps (every candidate the same logit, loss exactly ln 8) and
the backbone, which gets its gradient through those candidate differences, never started to
learn. The cosine against the candidate's text embedding gives the backbone the gradient of a
linear classifier whose class vectors come from the descriptions, and the cross-attention
adds what each image token reads from the candidate's words on top.

Shapes (B images, N = h x w spatial tokens, C candidate labels, L text positions, H heads,
d = D / H): queries [B, N, H, d], keys/values [C, L, H, d], attention [B, C, H, N, L] (softmax
over L), output [B, C, N, D]. The backbone is the student classifier's feature extractor
(`split` in simmim.py), so "without it" is the same network with its own classifier head.
The text side is a small transformer over CLIP BPE ids mapped to a compact table (as
MiniCLIP's text tower), so the exported graph takes the gateway's tokenizer output."""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from training.data.tokenizer import EOT_ID, SOT_ID, VOCAB_SIZE, get_tokenizer
from training.models.clip import _Block
from training.models.factory import ModelConfig, create_model
from training.models.simmim import split


@dataclass
class CrossModalConfig:
    backbone: ModelConfig = field(default_factory=lambda: ModelConfig(num_classes=8))
    dim: int = 64
    heads: int = 4
    text_layers: int = 1
    mlp_ratio: int = 4            # feed-forward width after the cross-attention, x dim
    init_logit_scale: float = 10.0   # the matching head's cosine x scale (learned, capped at 100 as CLIP)
    context_length: int = 24      # description tokens incl. start/end (the longest fine description has 14)
    token_ids: List[int] = field(default_factory=list)   # BPE ids with their own embedding row; others -> UNK
    # MobileNetV3 backbones: indices into `features` whose output maps also become image tokens,
    # beside the last map's (e.g. [8]: 48 x 4 x 4 at stride 16, where the last map is 2 x 2 at 64 px)
    fine_token_layers: List[int] = field(default_factory=list)
    # The control that tells what the descriptions add: > 0 gives each class this many learned tokens
    # in place of its description's text tokens (candidates are then the classes, in class order).
    learned_class_tokens: int = 0


class CrossModalAttention(nn.Module):
    """Image tokens [B, N, D] attend to the tokens [C, L, D] of C texts; `pad` [C, L] is True
    at padded text positions, which get no attention. Returns [B, C, N, D] (residual added)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.norm_q, self.norm_kv = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def _attend(self, img: torch.Tensor, txt: torch.Tensor, pad: torch.Tensor):
        b, n, d = img.shape
        c, l, _ = txt.shape
        h = self.heads
        q = self.q(self.norm_q(img)).view(b, n, h, d // h)
        k, v = self.kv(self.norm_kv(txt)).view(c, l, 2, h, d // h).unbind(2)
        scores = torch.einsum("bnhd,clhd->bchnl", q, k) * self.scale
        scores = scores.masked_fill(pad[None, :, None, None, :], float("-inf"))
        return scores.softmax(dim=-1), v

    def attention(self, img: torch.Tensor, txt: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """The weights [B, C, H, N, L]."""
        return self._attend(img, txt, pad)[0]

    def forward(self, img: torch.Tensor, txt: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        b, n, d = img.shape
        attn, v = self._attend(img, txt, pad)
        out = torch.einsum("bchnl,clhd->bcnhd", attn, v).reshape(b, -1, n, d)
        return img[:, None] + self.proj(out)


class TextTokens(nn.Module):
    """CLIP BPE ids [C, L] -> token features [C, L, D] and the pad mask [C, L] (True after the
    first end-of-text token, whatever the pad id). Ids outside `token_ids` share one UNK row."""

    def __init__(self, token_ids: Sequence[int], dim: int, heads: int, layers: int, context_length: int):
        super().__init__()
        kept = sorted(set(token_ids) | {SOT_ID, EOT_ID})
        id_map = torch.full((VOCAB_SIZE,), len(kept), dtype=torch.long)
        id_map[torch.tensor(kept)] = torch.arange(len(kept))
        self.register_buffer("id_map", id_map, persistent=True)
        self.embedding = nn.Embedding(len(kept) + 1, dim)
        self.positional = nn.Parameter(torch.randn(context_length, dim) * 0.01)
        self.blocks = nn.ModuleList([_Block(dim, heads, 2.0) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.embedding.weight, std=0.02)

    @staticmethod
    def pad_mask(ids: torch.Tensor) -> torch.Tensor:
        eot = (ids == EOT_ID).float().argmax(dim=1, keepdim=True)
        return torch.arange(ids.shape[1], device=ids.device)[None] > eot

    def forward(self, ids: torch.Tensor):
        pad = self.pad_mask(ids)
        x = self.embedding(self.id_map[ids]) + self.positional[: ids.shape[1]]
        bias = torch.zeros(pad.shape, dtype=x.dtype, device=x.device).masked_fill(pad, float("-inf"))
        for blk in self.blocks:
            x = blk(x, bias[:, None, None, :])  # bidirectional, padded keys masked
        return self.norm(x), pad


class CrossModalClassifier(nn.Module):
    """logits [B, C] = scale x cos(mean over N of CrossModalAttention(image tokens, text tokens
    of candidate c), mean of candidate c's text tokens), each through its own linear head.
    forward(images, ids) scores any candidate set given as token ids."""

    def __init__(self, cfg: CrossModalConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = create_model(cfg.backbone)
        self.backbone.eval()
        with torch.no_grad():
            fine, z = self._fine_maps(torch.zeros(1, 3, 64, 64))   # every map's shape from one pass
        self.backbone.train()
        self.to_tokens = nn.Conv2d(z.shape[1], cfg.dim, 1)
        # finer maps see the small details (a notch, a sixth point) that the last 2 x 2 map has pooled away
        self.fine_tokens = nn.ModuleList([nn.Conv2d(f.shape[1], cfg.dim, 1) for f in fine])
        n = z.shape[2] * z.shape[3] + sum(f.shape[2] * f.shape[3] for f in fine)
        self.img_positional = nn.Parameter(torch.randn(n, cfg.dim) * 0.02)
        self.text = TextTokens(cfg.token_ids, cfg.dim, cfg.heads, cfg.text_layers, cfg.context_length)
        self.class_tokens = (nn.Parameter(torch.randn(cfg.backbone.num_classes, cfg.learned_class_tokens, cfg.dim) * 0.02)
                             if cfg.learned_class_tokens else None)
        self.cross = CrossModalAttention(cfg.dim, cfg.heads)
        # the feed-forward half of a transformer block after the cross-attention: it mixes each
        # image token with what it read from candidate c nonlinearly.
        self.mlp = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.mlp_ratio * cfg.dim), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.dim, cfg.dim))
        self.image_head = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.dim))
        self.text_head = nn.Linear(cfg.dim, cfg.dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(cfg.init_logit_scale)))
        split(self.backbone).head_module.requires_grad_(False)  # the classifier head is not used here

    def _fine_maps(self, images: torch.Tensor):
        """(the maps of `fine_token_layers`, the last map): one pass through the backbone."""
        layers = self.cfg.fine_token_layers
        if not layers:
            parts = split(self.backbone)
            return [], parts.body(parts.stem(images))
        if not isinstance(self.backbone, torchvision.models.MobileNetV3):
            raise ValueError("fine_token_layers needs a MobileNetV3 backbone")
        feats = self.backbone.features
        if not all(0 <= i < len(feats) - 1 for i in layers):
            raise ValueError(f"fine_token_layers {layers}: valid indices are 0..{len(feats) - 2}")
        maps, t = [], images
        for i, layer in enumerate(feats):
            t = layer(t)
            if i in layers:
                maps.append(t)
        return maps, t

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """[B, N, D]: the finer maps' tokens (if any) then the last map's, each map row-major."""
        fine, last = self._fine_maps(images)
        maps = [proj(f) for proj, f in zip(self.fine_tokens, fine)] + [self.to_tokens(last)]
        return torch.cat([m.flatten(2) for m in maps], dim=2).transpose(1, 2) + self.img_positional

    def candidate_tokens(self, ids: torch.Tensor):
        """(tokens [C, L, D], pad [C, L]) of the candidates: their descriptions' text tokens, or in
        the learned-tokens control each class's own learned tokens."""
        if self.class_tokens is None:
            return self.text(ids)
        if ids.shape[0] != self.class_tokens.shape[0]:
            raise ValueError(f"learned class tokens score the {self.class_tokens.shape[0]} classes, got {ids.shape[0]} candidates")
        return self.class_tokens, torch.zeros(self.class_tokens.shape[:2], dtype=torch.bool, device=ids.device)

    def forward(self, images: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        txt, pad = self.candidate_tokens(ids)
        out = self.cross(self.image_tokens(images), txt, pad)   # [B, C, N, D]
        out = out + self.mlp(out)
        img = F.normalize(self.image_head(out.mean(dim=2)), dim=-1)            # [B, C, D]
        keep = (~pad).to(txt.dtype)[..., None]
        t = F.normalize(self.text_head((txt * keep).sum(1) / keep.sum(1)), dim=-1)   # [C, D]
        return self.logit_scale.clamp(max=math.log(100.0)).exp() * (img * t[None]).sum(-1)


def description_ids(texts: Sequence[str], context_length: int) -> torch.Tensor:
    """CLIP BPE ids [C, context_length] of the descriptions, padded with 0 after the end token."""
    tok = get_tokenizer(pad_id=0)
    for t in texts:
        if len(tok.encode_with_specials(t)) > context_length:
            raise ValueError(f"description {t!r} is longer than context_length={context_length} tokens")
    return tok(list(texts), context_length)
