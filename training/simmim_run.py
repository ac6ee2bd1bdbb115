"""`simmim`: SimMIM pre-training on the benchmark's unlabelled training images, then
fine-tuning with a fraction of the labels, against the same network trained from scratch
with the same supervised steps and a linear probe of the frozen pre-trained (and, as the
floor, of the untrained) encoder. Per seed: pre-train, probe, fine-tune and train from
scratch at every label fraction; the table (test top-1, mean ± sd over seeds) is rewritten
after each seed into `<out>/simmim.md` and `simmim.json`, and `<out>/reconstruction.png`
shows validation images, their masked input and the prediction.

Every fine-tuned / scratch network is the classifier `create_model` builds, saved as a
`model.pt` that `export` takes as it is (`<out>/seed<k>/finetune-100/model.pt`)."""
from __future__ import annotations

import copy
import json
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from training.config import seed_everything, start_run, to_dict
from training.data.shapes import class_names
from training.data.transforms import PreprocessConfig, normalize
from training.fine_data import FineDataRunConfig, load_splits
from training.models import ModelConfig, create_model
from training.models.simmim import SimMIM, layer_groups, random_patch_mask, split, upsample_mask
from training.steps import index_batches, optimize, run_device, summary
from training.train import augment, evaluate


@dataclass
class SimMIMRunConfig(FineDataRunConfig):
    out_dir: str = "training/runs/simmim"
    model: ModelConfig = field(default_factory=lambda: ModelConfig(num_classes=8))
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    seeds: Tuple[int, ...] = (0, 1, 2)
    label_fractions: Tuple[float, ...] = (0.01, 0.1, 1.0)
    mask_ratio: float = 0.6        # share of patches masked (the paper's 0.6)
    mask_patch: int = 8            # px; the paper's 32 px of 192 px scaled to 64 px
    pretrain_steps: int = 600
    pretrain_lr: float = 2e-3
    finetune_steps: int = 200      # the same for the pre-trained and the from-scratch network
    finetune_lr: float = 4e-3
    finetune_lr_grid: tuple = ()   # tried per row and label fraction on the first seed, best validation top-1 kept; empty: finetune_lr
    layer_decay: float = 0.9       # fine-tune of the pre-trained network: lr x decay^(depth from the head), as the paper
    batch_size: int = 64
    weight_decay: float = 0.05
    warmup_steps: int = 30
    probe_steps: int = 300         # full-batch AdamW steps of the linear probe on frozen features
    probe_lr: float = 1e-2
    channels_last: bool = True
    threads: int = 1
    device: str = "auto"           # pre-training and fine-tuning steps: "cpu", "cuda[:k]", or "auto" (CUDA when
                                   # torch sees one); probes and evaluation run on the CPU
    log_every_steps: int = 50


def class_balanced_subset(labels: torch.Tensor, fraction: float, gen: torch.Generator) -> torch.Tensor:
    """Indices of round(fraction x count) images of every class (at least one each)."""
    picked = []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        k = max(1, int(round(fraction * len(idx))))
        picked.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    return torch.cat(picked).sort().values


def pretrain(cfg: SimMIMRunConfig, images: torch.Tensor, seed: int, log=print) -> Tuple[SimMIM, List[float]]:
    """SimMIM on unlabelled uint8 images; returns the model (encoder + mask token + head)."""
    seed_everything(seed)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    mim = SimMIM(create_model(replace(cfg.model, drop_path=0.0)), cfg.preprocess.size[0], cfg.mask_patch)
    dev = run_device(cfg.device)
    mim = mim.to(dev, memory_format=fmt).train()
    # batches and masks are drawn on the CPU, so a seed sees the same inputs on any device
    gen, aug, mgen = (torch.Generator().manual_seed(seed * 1000 + k) for k in (1, 2, 3))
    batches = index_batches(len(images), cfg.batch_size, gen)

    def loss_at(step):
        x = normalize(augment(images[next(batches)], aug), cfg.preprocess).to(dev, memory_format=fmt)
        mask = random_patch_mask(len(x), mim.grid, cfg.mask_ratio, mgen).to(dev)
        return mim.loss(x, mim(x, mask), mask)

    # the classifier head gets no gradient here; it is not part of the pre-trained weights
    head = {"encoder." + n for n in head_names(mim.encoder)}
    params = [p for n, p in mim.named_parameters() if n not in head]
    losses = optimize(params, cfg.pretrain_steps, cfg.pretrain_lr, cfg.weight_decay, cfg.warmup_steps, loss_at, log,
                      f"simmim seed {seed}", cfg.batch_size, cfg.log_every_steps)
    return mim.cpu().eval(), losses


def head_names(model: nn.Module) -> set:
    """Parameter names of the classifier layers (`split(model).head_module`)."""
    ids = {id(p) for p in split(model).head_module.parameters()}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def finetune(cfg: SimMIMRunConfig, init: Optional[Dict[str, torch.Tensor]], images: torch.Tensor,
             labels: torch.Tensor, seed: int, log=print, tag: str = "", lr: Optional[float] = None) -> nn.Module:
    """Supervised training from `init` (encoder weights, the head stays fresh) or from scratch,
    at `lr` (default `finetune_lr`)."""
    seed_everything(seed)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = create_model(cfg.model)
    if init is not None:
        head = head_names(model)
        missing = model.load_state_dict({k: v for k, v in init.items() if k not in head}, strict=False).missing_keys
        if set(missing) != head:
            raise RuntimeError(f"fine-tune: pre-trained weights miss {sorted(set(missing) - head)}")
    dev = run_device(cfg.device)
    model = model.to(dev, memory_format=fmt).train()
    gen, aug = (torch.Generator().manual_seed(seed * 1000 + k) for k in (4, 5))
    batches = index_batches(len(labels), cfg.batch_size, gen)

    def loss_at(step):
        idx = next(batches)
        x = normalize(augment(images[idx], aug), cfg.preprocess).to(dev, memory_format=fmt)
        return F.cross_entropy(model(x), labels[idx].to(dev), label_smoothing=0.1)

    groups = layer_groups(model)
    decay = cfg.layer_decay if init is not None else 1.0  # scratch: one learning rate, as `train`
    params = [{"params": g, "lr_scale": decay ** (len(groups) - 1 - i)} for i, g in enumerate(groups)]
    optimize(params, cfg.finetune_steps, cfg.finetune_lr if lr is None else lr, cfg.weight_decay, cfg.warmup_steps,
             loss_at, log, tag, cfg.batch_size, cfg.log_every_steps)
    return model.to("cpu", memory_format=torch.contiguous_format).eval()


@torch.no_grad()
def recalibrate_bn(model: nn.Module, images: torch.Tensor, pp: PreprocessConfig) -> nn.Module:
    """A copy whose BatchNorm running statistics are the plain average over `images` (no
    mask): pre-training saw masked inputs, an untrained network has none, and a frozen probe
    reads the eval-mode statistics."""
    model = copy.deepcopy(model)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for i in range(0, len(images), 256):
        model(normalize(images[i:i + 256], pp))
    return model.eval()


@torch.no_grad()
def features(model: nn.Module, images: torch.Tensor, pp: PreprocessConfig) -> torch.Tensor:
    parts = split(model.eval())
    return torch.cat([parts.pool(parts.body(parts.stem(normalize(images[i:i + 256], pp))))
                      for i in range(0, len(images), 256)])


def linear_probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor,
                 classes: int, steps: int, lr: float, seed: int) -> float:
    """A linear classifier on frozen, standardized features (as MAE's probe: a BatchNorm
    without affine before the linear layer), full-batch AdamW; returns test top-1."""
    torch.manual_seed(seed)
    mean, std = train_f.mean(0), train_f.std(0) + 1e-6
    xtr, xte = (train_f - mean) / std, (test_f - mean) / std
    lin = nn.Linear(xtr.shape[1], classes)
    opt = torch.optim.AdamW(lin.parameters(), lr=lr, weight_decay=1e-4)
    for _ in range(steps):
        loss = F.cross_entropy(lin(xtr), train_y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float((lin(xte).argmax(1) == test_y).float().mean())


def reconstruction_figure(mim: SimMIM, images: torch.Tensor, pp: PreprocessConfig, ratio: float, path: Path,
                          seed: int = 0, scale: int = 2) -> None:
    """Rows: input, masked input (masked patches grey), prediction (masked patches from the
    model, visible ones from the input, as the paper shows it), raw prediction."""
    gen = torch.Generator().manual_seed(seed)
    x = normalize(images, pp)
    mask = random_patch_mask(len(x), mim.grid, ratio, gen)
    with torch.no_grad():
        rec = mim(x, mask)
    pix = upsample_mask(mask, mim.mask_patch)
    mean = torch.tensor(pp.mean).view(1, 3, 1, 1)
    std = torch.tensor(pp.std).view(1, 3, 1, 1)

    def to_u8(t):
        return (((t * std + mean) * pp.scale).clamp(0, 255).round().byte())

    grey = torch.full_like(images, 128)
    rows = [images, torch.where(pix.bool(), grey, images), torch.where(pix.bool(), to_u8(rec), images), to_u8(rec)]
    h, w = images.shape[2:]
    pad = 2
    canvas = np.full((len(rows) * (h + pad) + pad, len(images) * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
            canvas[y0:y0 + h, x0:x0 + w] = img.permute(1, 2, 0).numpy()
    Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST).save(path)


def _save_classifier(model: nn.Module, cfg: SimMIMRunConfig, classes: List[str], path: Path, extra: Dict) -> None:
    """The checkpoint format of `train` (training/train.py), so `export` and `eval` take it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": to_dict(cfg.model), "state_dict": model.state_dict(), "classes": classes,
                "preprocess": to_dict(cfg.preprocess), "train_config": {**to_dict(cfg), **extra}}, path)


def _pct(f: float) -> str:
    return f"{100 * f:g} %"


def run_simmim(cfg: SimMIMRunConfig, log=None) -> Dict:
    rd, log, t0 = start_run(cfg, "simmim", log)
    out = rd.path
    root = cfg.dataset_root(log)
    classes = class_names(cfg.data.task)
    if cfg.model.num_classes != len(classes):
        raise ValueError(f"model.num_classes={cfg.model.num_classes} but task {cfg.data.task!r} has {len(classes)} classes")
    train, val, test = load_splits(root, cfg.preprocess, classes)
    log(f"simmim: {len(train)} train / {len(val)} val / {len(test)} test images, {len(classes)} classes")
    results: Dict[str, List[float]] = {}
    val_results: Dict[str, List[float]] = {}
    seconds: Dict[str, float] = {}

    def record(row: str, model_or_top1, kind: str = "test") -> None:
        if isinstance(model_or_top1, float):
            results.setdefault(row, []).append(model_or_top1)
            return
        results.setdefault(row, []).append(evaluate(model_or_top1, test.images, test.labels, cfg.preprocess)["top1"])
        val_results.setdefault(row, []).append(evaluate(model_or_top1, val.images, val.labels, cfg.preprocess)["top1"])
        log(f"simmim: {row}: test top-1 {results[row][-1]:.4f} (val {val_results[row][-1]:.4f})")

    res: Dict = {}
    chosen_lr: Dict[str, float] = {}      # row -> learning rate chosen on validation with the first seed
    selection: Dict[str, Dict[str, float]] = {}
    for seed in cfg.seeds:
        sdir = out / f"seed{seed}"
        ts = time.perf_counter()
        mim, losses = pretrain(cfg, train.images, seed, log)
        seconds["pretrain"] = seconds.get("pretrain", 0.0) + time.perf_counter() - ts
        (sdir).mkdir(parents=True, exist_ok=True)
        torch.save({"model": to_dict(cfg.model), "state_dict": mim.encoder.state_dict(),
                    "mask_token": mim.mask_token.detach(), "decoder": mim.decoder.state_dict(),
                    "pretrain_loss": losses}, sdir / "simmim.pt")
        if seed == cfg.seeds[0]:
            reconstruction_figure(mim, val.images[:: max(1, len(val) // 8)][:8], cfg.preprocess, cfg.mask_ratio,
                                  out / "reconstruction.png", seed)
        enc_state = {k: v.clone() for k, v in mim.encoder.state_dict().items()}
        seed_everything(seed)
        scratch_init = create_model(cfg.model)
        sub_gen = torch.Generator().manual_seed(seed * 1000 + 7)
        subsets = {f: class_balanced_subset(train.labels, f, sub_gen) for f in cfg.label_fractions}
        # linear probes (frozen encoders; features are computed once)
        for name, enc in (("pre-trained", mim.encoder), ("untrained", scratch_init)):
            enc = recalibrate_bn(enc, train.images, cfg.preprocess)
            ftr, fte = features(enc, train.images, cfg.preprocess), features(enc, test.images, cfg.preprocess)
            for f, idx in subsets.items():
                top1 = linear_probe(ftr[idx], train.labels[idx], fte, test.labels, len(classes), cfg.probe_steps,
                                    cfg.probe_lr, seed)
                record(f"linear probe, {name} encoder, {_pct(f)} labels", top1)
                log(f"simmim: linear probe {name} {_pct(f)}: test top-1 {top1:.4f}")
        for f, idx in subsets.items():
            for name, init in (("SimMIM fine-tune", enc_state), ("scratch", None)):
                row = f"{name}, {_pct(f)} labels ({len(idx)} images)"
                ts = time.perf_counter()
                if row not in chosen_lr and cfg.finetune_lr_grid:
                    model, chosen_lr[row], selection[row] = choose_lr(
                        cfg, lambda lr: finetune(cfg, init, train.images[idx], train.labels[idx], seed, log,
                                                 f"{name} seed {seed} {_pct(f)} labels lr {lr:g}", lr),
                        val, log, row)
                else:
                    lr = chosen_lr.setdefault(row, cfg.finetune_lr)
                    model = finetune(cfg, init, train.images[idx], train.labels[idx], seed, log,
                                     f"{name} seed {seed} {_pct(f)} labels lr {lr:g}", lr)
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - ts
                record(row, model)
                tag = f"{'finetune' if init is not None else 'scratch'}-{round(100 * f)}"
                _save_classifier(model, cfg, classes, sdir / tag / "model.pt",
                                 {"row": name, "label_fraction": f, "seed": seed, "finetune_lr": chosen_lr[row]})
        res = _write(cfg, out, results, val_results, seconds, t0, chosen_lr, selection)
    rd.update_metrics(**{k: v for k, v in res.items() if k != "config"})
    log((out / "simmim.md").read_text())
    rd.close()
    return res


def choose_lr(cfg: SimMIMRunConfig, train_at, val, log, row: str) -> Tuple[nn.Module, float, Dict[str, float]]:
    """Train at every learning rate of `finetune_lr_grid`; keep the model with the best
    validation top-1 (the first on a tie). Returns (model, lr, {lr: val top-1})."""
    best, scores = None, {}
    for lr in cfg.finetune_lr_grid:
        model = train_at(float(lr))
        scores[f"{float(lr):g}"] = v = evaluate(model, val.images, val.labels, cfg.preprocess)["top1"]
        log(f"simmim: {row} lr {float(lr):g}: val top-1 {v:.4f}")
        if best is None or v > best[2]:
            best = (model, float(lr), v)
    return best[0], best[1], scores


def _write(cfg: SimMIMRunConfig, out: Path, results: Dict[str, List[float]], val: Dict[str, List[float]],
           seconds: Dict[str, float], t0: float, chosen_lr: Optional[Dict[str, float]] = None,
           selection: Optional[Dict[str, Dict[str, float]]] = None) -> Dict:
    table = {row: summary(v) for row, v in results.items()}
    n = max(len(v["runs"]) for v in table.values())
    lines = [f"Test top-1, mean ± sd over {n} seed(s); pre-training {cfg.pretrain_steps} steps, every fine-tune "
             f"and scratch run {cfg.finetune_steps} steps, batch {cfg.batch_size}.", "",
             "| row | test top-1 | runs | val top-1 (mean) | lr |", "|---|---|---|---|---|"]
    chosen_lr, selection = chosen_lr or {}, selection or {}
    for row, st in table.items():
        v = f"{100 * statistics.mean(val[row]):.1f} %" if row in val else "-"
        lr = f"{chosen_lr[row]:g}" if row in chosen_lr else "-"
        lines.append(f"| {row} | {100 * st['mean']:.2f} ± {100 * st['sd']:.2f} % | "
                     f"{', '.join(f'{100 * r:.1f}' for r in st['runs'])} | {v} | {lr} |")
    if selection:
        lines += ["", "Learning rate chosen on validation with the first seed (val top-1 per lr): " + "; ".join(
            f"{row}: " + ", ".join(f"{lr} {100 * v:.1f} %" for lr, v in sel.items()) for row, sel in selection.items())]
    (out / "simmim.md").write_text("\n".join(lines) + "\n")
    res = {"table": table, "val": {k: summary(v) for k, v in val.items()}, "lr": chosen_lr, "lr_selection": selection,
           "seconds": {k: round(v, 1) for k, v in seconds.items()} | {"total": round(time.perf_counter() - t0, 1)},
           "config": to_dict(cfg)}
    (out / "simmim.json").write_text(json.dumps(res, indent=2) + "\n")
    return res
