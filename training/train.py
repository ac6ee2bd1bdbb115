"""Classifier training loop for `train` (labels only) and `distill` (teacher -> student,
KDLoss). One code path for one process and for torchrun/DDP (DistributedSampler, gloo
or nccl). Data is held as uint8 tensors (see data/loaders.py); augmentation is done on
batches. Writes config.yaml, train.log, metrics.json and model.pt into `out_dir`."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, DistributedSampler, Subset

from training.config import RunDir, seed_everything, set_threads, to_dict
from training.curves import MetricsLog, render_curves
from training.data.loaders import ImageFolderTensors
from training.data.transforms import PreprocessConfig, normalize
from training.distributed import DistInfo, all_reduce_sum, cleanup, init_distributed
from training.losses.distill import KDConfig, KDLoss
from training.models import ModelConfig, count_macs, count_params, create_model
from training.models.dynamic_conv import DynamicConv2d, anneal_temperature


@dataclass
class TrainConfig:
    data_root: str = "training/runs/data/shapes"   # ImageFolder tree with train/ val/ test/
    train_split: str = "train"
    val_split: str = "val"
    out_dir: str = "training/runs/train"
    model: ModelConfig = field(default_factory=ModelConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    epochs: int = 6
    max_steps: int = 0              # > 0: stop after this many optimizer steps (smoke runs)
    limit_per_split: int = 0        # > 0: use only the first N images of each split (smoke runs)
    batch_size: int = 128
    lr: float = 4e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    label_smoothing: float = 0.1
    seed: int = 0
    threads: int = 2                # OpenMP threads (TRAINING_THREADS caps it)
    # NHWC activations: PyTorch's CPU kernels (oneDNN) run MobileNetV3's depthwise convs and
    # the ResNet's convs ~1.5-2x faster per image than NCHW on this 2-core box
    channels_last: bool = True
    log_every_steps: int = 20
    device: str = "auto"
    teacher: str = ""               # distill: path of the teacher's model.pt
    # distill: file of the teacher's logits for every step's batch. The first run writes it;
    # a run with the same data, seed and batch size reads it instead of running the teacher
    # (the batches are the same, and each step's batch is checked against the file), so the
    # KD rows of an ablation pay for one teacher pass instead of one each.
    kd_cache: str = ""
    dynamic_temperature: tuple = (30.0, 1.0)   # dynamic conv softmax temperature: start, end (Chen et al. 2020)
    dynamic_anneal_fraction: float = 0.3       # fraction of the steps over which it anneals linearly
    kd: KDConfig = field(default_factory=KDConfig)
    resume: bool = False            # continue from <out_dir>/last.pt (written after every epoch)


def load_checkpoint(path: str | Path) -> Dict:
    return torch.load(str(path), map_location="cpu")


def model_from_checkpoint(path: str | Path) -> tuple:
    from training.config import from_dict

    ck = load_checkpoint(path)
    mcfg = from_dict(ModelConfig, ck["model"])
    model = create_model(mcfg)
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batch augmentation on uint8 NCHW: flips and 90-degree turns (every class here is
    invariant to them) plus a random shift of up to 4 px (torch.roll)."""
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    k = int(torch.randint(0, 4, (1,), generator=gen))
    x = torch.rot90(x, k, dims=(2, 3))
    dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=gen))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, pp: PreprocessConfig,
             batch_size: int = 256, device=torch.device("cpu")) -> Dict[str, float]:
    model.eval()
    correct, n, loss_sum = 0, 0, 0.0
    for i in range(0, len(labels), batch_size):
        x = normalize(images[i:i + batch_size], pp).to(device)
        y = labels[i:i + batch_size].to(device)
        logits = model(x)
        loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        n += len(y)
    return {"top1": correct / max(n, 1), "loss": loss_sum / max(n, 1), "n": n}


def _limit(ds, n: int):
    if n <= 0 or n >= len(ds):
        return ds
    # a stride over the (class-sorted) samples keeps every class represented
    idx = torch.linspace(0, len(ds) - 1, n).long().tolist()
    return Subset(ds, idx)


def _open_kd_cache(cfg: TrainConfig, rd: RunDir):
    """(cache to read, cache to fill): one of them, or neither without `kd_cache`."""
    if not cfg.kd_cache:
        return None, None
    p = Path(cfg.kd_cache)
    if p.exists():
        rd.info(f"distill: teacher logits read from {p}")
        return torch.load(str(p), map_location="cpu"), None
    p.parent.mkdir(parents=True, exist_ok=True)
    return None, {"sums": [], "logits": []}


def _teacher_logits(teacher: nn.Module, x: torch.Tensor, step: int, kd_in: Optional[Dict],
                    kd_out: Optional[Dict]) -> torch.Tensor:
    key = float(x.double().sum())  # identifies the augmented batch: same data, order and augmentation
    if kd_in is not None:
        if step >= len(kd_in["sums"]) or kd_in["sums"][step] != key:
            raise RuntimeError(f"kd_cache: the batch of step {step} is not the one the cached teacher logits were "
                               "computed on (different data, seed, batch size or augmentation); delete the file")
        return kd_in["logits"][step].to(x.device)
    with torch.no_grad():
        t = teacher(x)
    if kd_out is not None:
        kd_out["sums"].append(key)
        kd_out["logits"].append(t.detach().cpu())
    return t


def run(cfg: TrainConfig) -> Dict:
    info = init_distributed(cfg.device)
    set_threads(cfg.threads)
    seed_everything(cfg.seed)  # same init on every rank; DDP also broadcasts rank 0's weights
    out = Path(cfg.out_dir)
    rd = RunDir(out, cfg, is_main=info.is_main)
    classes_file = Path(cfg.data_root) / "classes.txt"
    classes = classes_file.read_text().split() if classes_file.exists() else None
    t0 = time.perf_counter()
    train_ds = ImageFolderTensors(Path(cfg.data_root) / cfg.train_split, cfg.preprocess, classes)
    classes = train_ds.classes
    val_ds = ImageFolderTensors(Path(cfg.data_root) / cfg.val_split, cfg.preprocess, classes)
    train_sub, val_sub = _limit(train_ds, cfg.limit_per_split), _limit(val_ds, cfg.limit_per_split)
    rd.info(f"data: {len(train_sub)} train / {len(val_sub)} val images, {len(classes)} classes, "
            f"loaded in {time.perf_counter() - t0:.1f}s")
    if cfg.model.num_classes != len(classes):
        raise ValueError(f"model.num_classes={cfg.model.num_classes} but the data has {len(classes)} classes")

    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = create_model(cfg.model).to(info.device, memory_format=fmt)
    macs = count_macs(create_model(cfg.model), (1, 3, *cfg.preprocess.size))
    params = count_params(model)
    has_dynamic = any(isinstance(m, DynamicConv2d) for m in model.modules())
    rd.info(f"model: {cfg.model.arch} params={params / 1e6:.3f}M macs={macs / 1e6:.2f}M")
    teacher = None
    if cfg.teacher:
        teacher, _ = model_from_checkpoint(cfg.teacher)
        teacher = teacher.to(info.device, memory_format=fmt).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        rd.info(f"distill: teacher {cfg.teacher} T={cfg.kd.temperature} alpha={cfg.kd.alpha}")
    crit = KDLoss(cfg.kd.temperature, cfg.kd.alpha, cfg.label_smoothing)
    kd_in, kd_out = _open_kd_cache(cfg, rd) if teacher is not None else (None, None)

    ddp_model = model
    if info.enabled:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    sampler = DistributedSampler(train_sub, info.world_size, info.rank, shuffle=True, seed=cfg.seed) \
        if info.enabled else None
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(train_sub, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=True, generator=gen if sampler is None else None, num_workers=0)
    steps_per_epoch = max(1, len(loader))
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps > 0:
        total = min(total, cfg.max_steps)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:  # linear warmup, then cosine to 0
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        p = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    val_images = torch.stack([val_sub[i][0] for i in range(len(val_sub))])
    val_labels = torch.stack([val_sub[i][1] for i in range(len(val_sub))])
    aug_gen = torch.Generator().manual_seed(cfg.seed * 1000 + info.rank)
    step, history, start_epoch = 0, [], 0
    last = out / "last.pt"
    if cfg.resume and last.exists():
        st = torch.load(str(last), map_location="cpu")
        model.load_state_dict(st["state_dict"])
        model.to(info.device, memory_format=fmt)
        opt.load_state_dict(st["optimizer"])
        step, history, start_epoch = st["step"], st["history"], st["epoch"]
        torch.set_rng_state(st["rng"]["torch"])
        gen.set_state(st["rng"]["loader"])
        aug_gen.set_state(st["rng"]["augment"])
        rd.info(f"resume: {last} at epoch {start_epoch} step {step}")
    elif cfg.resume:
        rd.info(f"resume: no {last} yet, starting from scratch")
    jsonl = MetricsLog(out / "metrics.jsonl", is_main=info.is_main, resume_step=step if start_epoch > 0 else -1)
    t_start = time.perf_counter()
    done = step >= total
    for epoch in range(start_epoch, cfg.epochs if not done else start_epoch):
        if sampler is not None:
            sampler.set_epoch(epoch)
        ddp_model.train()
        t_log, seen = time.perf_counter(), 0
        for images, labels in loader:
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            temperature = anneal_temperature(model, step / total, *cfg.dynamic_temperature, cfg.dynamic_anneal_fraction)
            x = normalize(augment(images, aug_gen), cfg.preprocess).to(info.device, memory_format=fmt)
            y = labels.to(info.device)
            logits = ddp_model(x)
            t_logits = None
            if teacher is not None:
                t_logits = _teacher_logits(teacher, x, step, kd_in, kd_out)
            terms = crit(logits, y, t_logits)
            loss = sum(terms.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(y) * info.world_size
            if step % cfg.log_every_steps == 0 or step == total:
                dt = time.perf_counter() - t_log
                parts = " ".join(f"{k}={float(v):.4f}" for k, v in terms.items())
                jsonl.write({"step": step, "epoch": epoch + 1, "loss": float(loss),
                             **{k: float(v) for k, v in terms.items()}, "lr": lr_at(step - 1),
                             **({"temperature": temperature} if has_dynamic else {})})
                dyn = f" T={temperature:.2f}" if has_dynamic else ""
                rd.info(f"epoch {epoch + 1}/{cfg.epochs} step {step}/{total} loss={float(loss):.4f} {parts} "
                        f"lr={lr_at(step - 1):.2e}{dyn} {seen / max(dt, 1e-9):.0f} img/s")
                t_log, seen = time.perf_counter(), 0
            if step >= total:
                done = True
                break
        val = evaluate(model, val_images, val_labels, cfg.preprocess, device=info.device)
        history.append({"epoch": epoch + 1, "step": step, "val_top1": val["top1"], "val_loss": val["loss"]})
        jsonl.write(dict(history[-1]))
        if info.is_main:  # everything a resumed run needs to continue as if never stopped
            torch.save({"state_dict": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                        "epoch": epoch + 1, "history": history,
                        "rng": {"torch": torch.get_rng_state(), "loader": gen.get_state(), "augment": aug_gen.get_state()}},
                       str(last) + ".tmp")
            Path(str(last) + ".tmp").replace(last)
        rd.info(f"epoch {epoch + 1} done: val top1={val['top1']:.4f} loss={val['loss']:.4f} "
                f"elapsed={time.perf_counter() - t_start:.0f}s")
        if done:
            break
    train_seconds = time.perf_counter() - t_start
    if kd_out is not None and info.is_main and len(kd_out["sums"]) == step:  # complete from step 0 only
        torch.save(kd_out, str(cfg.kd_cache) + ".tmp")
        Path(str(cfg.kd_cache) + ".tmp").replace(cfg.kd_cache)
        rd.info(f"distill: teacher logits of {step} steps saved to {cfg.kd_cache}")
    model.to(memory_format=torch.contiguous_format)  # checkpoints in NCHW, as export and users expect
    if info.is_main:
        torch.save({"model": to_dict(cfg.model), "state_dict": model.state_dict(), "classes": classes,
                    "preprocess": to_dict(cfg.preprocess), "train_config": to_dict(cfg)}, out / "model.pt")
    metrics = {"arch": cfg.model.arch, "params": params, "macs": macs, "flops": 2 * macs, "steps": step,
               "train_seconds": round(train_seconds, 1), "val_top1": history[-1]["val_top1"] if history else None,
               "history": history, "world_size": info.world_size, "distilled_from": cfg.teacher or None}
    rd.update_metrics(**metrics)
    if info.is_main:
        render_curves(out / "metrics.jsonl", out / "curves.svg")
    rd.info(f"saved {out / 'model.pt'} ({train_seconds:.0f}s)")
    rd.close()
    cleanup(info)
    return {**metrics, "model": model, "classes": classes}
