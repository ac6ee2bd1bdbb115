"""Step-based training helpers shared by `simmim` and `crossmodal`: runs that compare
networks at equal optimizer steps (also on labelled subsets smaller than one batch), with
linear warmup then cosine decay, AdamW, and progress lines every few steps, on the CPU or a
CUDA device."""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Iterable, Iterator, List

import torch


def run_device(name: str = "auto") -> torch.device:
    """A run's torch device: "auto" is the first CUDA device when torch sees one, else the CPU;
    a device named outright ("cpu", "cuda", "cuda:1") must exist, so a run asked for a GPU
    never falls back to hours on the CPU without saying so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r}: torch {torch.__version__} sees no CUDA device")
    return dev


def cosine_lr(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def index_batches(n: int, batch: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless index batches of `batch` from concatenated permutations of range(n), so a
    subset smaller than a batch still gives full batches and every run the same steps."""
    buf = torch.empty(0, dtype=torch.long)
    while True:
        while len(buf) < batch:
            buf = torch.cat([buf, torch.randperm(n, generator=gen)])
        yield buf[:batch]
        buf = buf[batch:]


def optimize(params: Iterable[torch.nn.Parameter], steps: int, lr: float, weight_decay: float, warmup: int,
             loss_at: Callable[[int], torch.Tensor], log: Callable[[str], None], tag: str, batch_size: int,
             log_every: int = 50) -> List[float]:
    """`steps` AdamW steps on loss_at(step); returns the loss of every step. `params` may be
    parameter groups with an `lr_scale` (layer-wise learning-rate decay)."""
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, steps, lr, warmup) * g.get("lr_scale", 1.0)
        loss = loss_at(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            rate = (step + 1) * batch_size / max(time.perf_counter() - t0, 1e-9)
            log(f"{tag} step {step + 1}/{steps} loss={statistics.mean(losses[-log_every:]):.4f} {rate:.0f} img/s")
    return losses


def summary(values: List[float]) -> dict:
    """mean, sd (0 for one run) and the runs themselves."""
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}
