"""`nas`: latency-aware one-shot NAS with proximal gradients (NASP, Yao et al. 2020) over
the supernet of training/models/supernet.py, on the benchmark's fine-grained classes.

1. Warm-up: the shared weights train on uniformly sampled single paths (every op gets
   trained before it is judged, as in single-path one-shot NAS).
2. Search, for each latency weight lambda: architecture weights alpha in [0, 1] per
   position and op. Each weight step trains the discrete architecture
   alpha_bar = prox_one_hot(alpha); every `arch_every` steps an architecture step takes the
   gradient at that discrete point of CE + lambda x E[latency](alpha_bar) / target_ms on
   held-out training images (the table's latencies, `nas_latency.py`), takes a gradient step
   on alpha and applies the proximal step onto the box [0, 1]. With `latency_loss: hinge`
   the latency term is lambda x max(0, E[latency] / target - 1), one search per target of
   `targets_ms`: latency costs nothing below the target.
3. The found child (the argmax of alpha) trains from scratch for `child_steps`, as does the
   hand-designed student (torchvision MobileNetV3-small) with the same recipe; both are
   exported to ONNX, checked with onnxruntime-node against PyTorch, and timed with it as the
   table was: predicted against measured latency.

Writes nas.md / nas.json (architecture, predicted and measured latency at batch 1 and 8, the
error, validation and test top-1, the search's CPU seconds)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.config import seed_everything, start_run, to_dict
from training.data.shapes import class_names
from training.data.transforms import PreprocessConfig, normalize
from training.fine_data import FineDataRunConfig, load_splits
from training.models import create_model
from training.models.dynamic_conv import anneal_temperature
from training.models.factory import ModelConfig
from training.models.supernet import ChildNet, Supernet, SupernetConfig, prox_box, prox_one_hot
from training.nas_latency import LatencyConfig, LatencyTable, measure_model, measure_table, table_json
from training.steps import cosine_lr, index_batches, optimize
from training.train import augment


@dataclass
class NasRunConfig(FineDataRunConfig):
    out_dir: str = "training/runs/nas"
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    latency_table: str = "training/configs/nas_latency.json"   # measured table; missing: measure it into <out>
    latency_batch: int = 1         # the table column the search's loss uses
    target_ms: float = 0.5         # latency scale of the loss term: lambda x E[ms] / target_ms
    lambdas: tuple = (0.0, 0.3)
    # "linear": lambda x E[ms] / target (ProxylessNAS: every millisecond costs); "hinge":
    # lambda x max(0, E[ms] / target - 1) (MnasNet's hard constraint: free up to the target,
    # then the same slope), with one search per entry of `targets_ms` (empty: target_ms)
    latency_loss: str = "linear"
    targets_ms: tuple = ()
    seed: int = 0
    arch_fraction: float = 0.25    # share of the training images held out for the architecture steps
    warmup_steps: int = 300        # uniform single-path training of the shared weights
    search_steps: int = 300        # per lambda, from the warmed-up weights
    arch_every: int = 2
    arch_lr: float = 0.2
    child_steps: int = 600         # the found children and the hand-designed student, from scratch
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 0.05
    lr_warmup_steps: int = 15
    label_smoothing: float = 0.1
    # dynamic ops' softmax temperature (Chen et al. 2020, as train.py): annealed start -> end over
    # this fraction of the warm-up and of each child's training; the search runs at the end value
    dynamic_temperature: tuple = (30.0, 1.0)
    dynamic_anneal_fraction: float = 0.3
    threads: int = 1
    log_every_steps: int = 50
    baseline: bool = True          # train, export and time the hand-designed MobileNetV3-small too
    student_widths: tuple = (1.0,)  # width multipliers of the hand-designed student rows (the Pareto figure's baseline curve)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


def latency_penalty(ms: torch.Tensor, lam: float, target_ms: float, kind: str = "linear") -> torch.Tensor:
    """The search loss's latency term: lam x ms / target ("linear") or lam x max(0, ms /
    target - 1) ("hinge": nothing below the target)."""
    if kind == "linear":
        return lam * ms / target_ms
    if kind == "hinge":
        return lam * F.relu(ms / target_ms - 1.0)
    raise ValueError(f"latency_loss {kind!r}; valid: linear, hinge")


def arch_step(net: Supernet, alpha: torch.Tensor, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              table: LatencyTable, lam: float, target_ms: float, label_smoothing: float = 0.0,
              latency_loss: str = "linear") -> Dict[str, float]:
    """One proximal-gradient step on alpha (in place): the gradient of CE + the latency
    penalty (`latency_penalty`) at the discrete alpha_bar = prox_one_hot(alpha), an optimizer
    step, then the proximal step onto [0, 1]. Returns the loss terms at alpha_bar."""
    alpha_bar = prox_one_hot(alpha.detach(), net.valid).requires_grad_()
    ce = F.cross_entropy(net(x, alpha_bar, arch_grad=True), y, label_smoothing=label_smoothing)
    lat = table.expected_ms(alpha_bar)
    pen = latency_penalty(lat, lam, target_ms, latency_loss)
    ce_grad, pen_grad = (torch.autograd.grad(t, alpha_bar)[0].masked_fill(~net.valid, 0.0) for t in (ce, pen))
    opt.zero_grad(set_to_none=True)
    alpha.grad = ce_grad + pen_grad
    opt.step()
    with torch.no_grad():
        alpha.copy_(prox_box(alpha, net.valid))
    n = float(net.valid.sum())
    return {"ce": float(ce), "ms": float(lat), "ce_grad_abs": float(ce_grad.abs().sum()) / n,
            "lat_grad_abs": float(pen_grad.abs().sum()) / n}


def _batches(cfg: NasRunConfig, images, labels, seed: int):
    gen, aug = (torch.Generator().manual_seed(seed * 1000 + k) for k in (21, 22))
    idx = index_batches(len(labels), cfg.batch_size, gen)
    while True:
        i = next(idx)
        yield normalize(augment(images[i], aug), cfg.preprocess), labels[i]


def _weight_opt(cfg: NasRunConfig, net: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def _weight_step(cfg, net: Supernet, opt, x, y, alpha_bar, step: int, total: int) -> float:
    for g in opt.param_groups:
        g["lr"] = cosine_lr(step, total, cfg.lr, cfg.lr_warmup_steps)
    loss = F.cross_entropy(net(x, alpha_bar), y, label_smoothing=cfg.label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def _anneal(cfg: NasRunConfig, net: nn.Module, progress: float) -> None:
    anneal_temperature(net, progress, *cfg.dynamic_temperature, cfg.dynamic_anneal_fraction)


def warm_up(cfg: NasRunConfig, net: Supernet, batches, log) -> None:
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + 23)
    opt, losses = _weight_opt(cfg, net), []
    net.train()
    for step in range(cfg.warmup_steps):
        _anneal(cfg, net, step / cfg.warmup_steps)
        pick = torch.stack([torch.randint(len(m.specs), (), generator=gen) for m in net.mixed])
        x, y = next(batches)
        losses.append(_weight_step(cfg, net, opt, x, y, F.one_hot(pick, net.max_ops).float(), step, cfg.warmup_steps))
        if (step + 1) % cfg.log_every_steps == 0:
            log(f"nas: warm-up step {step + 1}/{cfg.warmup_steps} loss={np.mean(losses[-cfg.log_every_steps:]):.4f}")


def search(cfg: NasRunConfig, net: Supernet, table: LatencyTable, lam: float, target_ms: float, batches,
           arch_batches, log) -> Dict:
    """Proximal-gradient search from the current shared weights; returns alpha and the trace."""
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + 24)
    alpha = (0.5 + 1e-3 * torch.rand(net.valid.shape, generator=gen)).masked_fill(~net.valid, 0.0).requires_grad_()
    # plain gradient steps (NASP): an adaptive optimizer would rescale each op's latency
    # gradient to its sign and lose which op is how much slower
    aopt = torch.optim.SGD([alpha], lr=cfg.arch_lr)
    wopt = _weight_opt(cfg, net)
    trace: List[Dict] = []
    _anneal(cfg, net, 1.0)
    net.train()
    for step in range(cfg.search_steps):
        x, y = next(batches)
        net.train()
        loss = _weight_step(cfg, net, wopt, x, y, prox_one_hot(alpha.detach(), net.valid), step, cfg.search_steps)
        if (step + 1) % cfg.arch_every == 0:
            xa, ya = next(arch_batches)
            terms = arch_step(net, alpha, aopt, xa, ya, table, lam, target_ms, cfg.label_smoothing, cfg.latency_loss)
            trace.append({"step": step + 1, "loss": loss, **terms, "choice": [s.name for s in net.choice(alpha)]})
        if (step + 1) % cfg.log_every_steps == 0 and trace:
            t = trace[-1]
            at = f" target {target_ms:g} ms" if cfg.targets_ms else ""
            log(f"nas: lambda {lam:g}{at} step {step + 1}/{cfg.search_steps} loss={loss:.4f} arch ce={t['ce']:.4f} "
                f"E[ms]={t['ms']:.3f} |grad| ce {t['ce_grad_abs']:.2e} latency {t['lat_grad_abs']:.2e} "
                f"{' '.join(t['choice'])}")
    return {"alpha": alpha.detach(), "trace": trace}


@torch.no_grad()
def top1(model: nn.Module, images, labels, pp: PreprocessConfig) -> float:
    model.eval()
    preds = torch.cat([model(normalize(images[i:i + 256], pp)).argmax(1) for i in range(0, len(images), 256)])
    return float((preds == labels).float().mean())


def train_from_scratch(cfg: NasRunConfig, model: nn.Module, images, labels, log, tag: str) -> nn.Module:
    batches = _batches(cfg, images, labels, cfg.seed + 7)
    model.train()

    def loss_at(step):
        _anneal(cfg, model, step / cfg.child_steps)
        x, y = next(batches)
        return F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)

    optimize(model.parameters(), cfg.child_steps, cfg.lr, cfg.weight_decay, cfg.lr_warmup_steps, loss_at, log, tag,
             cfg.batch_size, cfg.log_every_steps)
    return model.eval()


def export_and_time(cfg: NasRunConfig, model: nn.Module, path: Path, sample: torch.Tensor) -> Dict:
    """ONNX export (checked, dynamic batch), onnxruntime-node parity against PyTorch, latency."""
    from training import ort_parity
    from training.export import export_onnx

    export_onnx(model, path, [cfg.latency.image_size] * 2)
    with torch.no_grad():
        ref = model.eval()(sample).numpy()
    got = ort_parity.run_graph(path, "input", "logits", sample.numpy())
    ms = measure_model(model, cfg.latency, onnx_path=path)
    return {"onnx": str(path), "parity": float(np.abs(got - ref).max()), "measured_ms": ms}


def child_checkpoint(cfg: NasRunConfig, net_cfg: SupernetConfig, names: List[str], child: nn.Module,
                     classes: List[str]) -> Dict:
    """A found child as a classifier checkpoint (arch "nas_child": its architecture and search
    space in the model config), which `export` and `eval` take like any other."""
    mcfg = ModelConfig(arch="nas_child", num_classes=len(classes), nas_architecture=tuple(names),
                       nas_space=to_dict(net_cfg))
    return {"model": to_dict(mcfg), "state_dict": child.state_dict(), "classes": classes,
            "preprocess": to_dict(cfg.preprocess), "train_config": to_dict(cfg)}


def student_row(width: float) -> str:
    """The table row of the hand-designed student at a width multiplier (x1 keeps the plain name)."""
    base = "hand-designed MobileNetV3-small student"
    return base if float(width) == 1.0 else f"{base} x{float(width):g}"


def searches(cfg: NasRunConfig) -> List[Tuple[float, float, str, str]]:
    """(lambda, target ms, row name, folder) of every search of a run: one per lambda at
    `target_ms`, or with `targets_ms` one per target and lambda (named by both)."""
    if not cfg.targets_ms:
        return [(float(lam), cfg.target_ms, f"lambda {lam:g}", f"lambda{lam:g}") for lam in cfg.lambdas]
    if cfg.latency_loss != "hinge":
        raise ValueError("targets_ms needs latency_loss: hinge (the linear term only scales with the target)")
    return [(float(lam), float(t), f"target {t:g} ms, lambda {lam:g}", f"target{t:g}-lambda{lam:g}")
            for t in cfg.targets_ms for lam in cfg.lambdas]


def load_or_measure_table(cfg: NasRunConfig, out: Path, log) -> Dict:
    path = Path(cfg.latency_table)
    if path.is_file():
        return json.loads(path.read_text())
    table = measure_table(cfg.supernet, cfg.latency, log=log)
    (out / "nas_latency.json").write_text(table_json(table))
    log(f"nas: {path} not found; measured a table into {out / 'nas_latency.json'}")
    return table


def run_nas(cfg: NasRunConfig, log=None) -> Dict:
    rd, log, _ = start_run(cfg, "nas", log)
    out = rd.path
    if cfg.data.task != "fine":
        raise ValueError("nas runs on the fine-grained classes: data.task must be 'fine'")
    root = cfg.dataset_root(log)
    classes = class_names("fine")
    net_cfg = replace(cfg.supernet, num_classes=len(classes))
    cfg = replace(cfg, supernet=net_cfg)
    raw = load_or_measure_table(cfg, out, log)
    tables = {b: LatencyTable(raw, net_cfg, b) for b in cfg.latency.batches}
    train, val, test = load_splits(root, cfg.preprocess, classes)
    perm = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(cfg.seed))
    n_arch = int(len(perm) * cfg.arch_fraction)
    w_idx, a_idx = perm[n_arch:], perm[:n_arch]
    sample = normalize(test.images[:4], cfg.preprocess)

    seed_everything(cfg.seed)
    cpu0 = time.process_time()
    net = Supernet(net_cfg)
    warm_up(cfg, net, _batches(cfg, train.images[w_idx], train.labels[w_idx], cfg.seed), log)
    warm_state = {k: v.clone() for k, v in net.state_dict().items()}
    warm_cpu_s = time.process_time() - cpu0
    rows: Dict[str, Dict] = {}
    for lam, target, name, folder in searches(cfg):
        net.load_state_dict(warm_state)
        cpu1 = time.process_time()
        found = search(cfg, net, tables[cfg.latency_batch], float(lam), target,
                       _batches(cfg, train.images[w_idx], train.labels[w_idx], cfg.seed + 1),
                       _batches(cfg, train.images[a_idx], train.labels[a_idx], cfg.seed + 2), log)
        search_cpu_s = time.process_time() - cpu1
        choice = net.choice(found["alpha"])
        seed_everything(cfg.seed)
        child = train_from_scratch(cfg, ChildNet(net_cfg, choice), train.images, train.labels, log, f"nas child {name}")
        row = {"lambda": float(lam), "target_ms": target, "latency_loss": cfg.latency_loss,
               "architecture": [s.name for s in choice],
               "alpha": [[round(float(v), 4) for v in r] for r in found["alpha"]],
               "predicted_ms": {str(b): t.lookup_ms(choice) for b, t in tables.items()},
               "search_cpu_s": round(warm_cpu_s + search_cpu_s, 1), "warmup_cpu_s": round(warm_cpu_s, 1),
               "val_top1": top1(child, val.images, val.labels, cfg.preprocess),
               "test_top1": top1(child, test.images, test.labels, cfg.preprocess),
               "trace_tail": found["trace"][-3:]}
        row.update(export_and_time(cfg, child, out / folder / "child.onnx", sample))
        torch.save(child_checkpoint(cfg, net_cfg, row["architecture"], child, classes), out / folder / "child.pt")
        rows[f"found, {name}"] = row
        log(f"nas: {name}: {' '.join(row['architecture'])} predicted {row['predicted_ms']} measured "
            f"{row['measured_ms']} test top-1 {row['test_top1']:.4f}")
        _write(cfg, out, rows)
    for width in (cfg.student_widths if cfg.baseline else ()):
        seed_everything(cfg.seed)
        name = student_row(width)
        student = train_from_scratch(cfg, create_model(ModelConfig(num_classes=len(classes), width_mult=float(width))),
                                     train.images, train.labels, log, name)
        row = {"architecture": [f"mobilenet_v3_small x{float(width):g} (torchvision)"], "predicted_ms": {},
               "width_mult": float(width),
               "val_top1": top1(student, val.images, val.labels, cfg.preprocess),
               "test_top1": top1(student, test.images, test.labels, cfg.preprocess)}
        folder = "student" if float(width) == 1.0 else f"student-x{float(width):g}"
        row.update(export_and_time(cfg, student, out / folder / "student.onnx", sample))
        rows[name] = row
        _write(cfg, out, rows)
    res = _write(cfg, out, rows)
    rd.update_metrics(**{k: v for k, v in res.items() if k != "config"})
    log((out / "nas.md").read_text())
    rd.close()
    return res


def _write(cfg: NasRunConfig, out: Path, rows: Dict[str, Dict]) -> Dict:
    bs = [str(b) for b in cfg.latency.batches]
    lines = [f"Seed {cfg.seed}; warm-up {cfg.warmup_steps} steps, search {cfg.search_steps} steps per lambda "
             f"(architecture step every {cfg.arch_every}), children and student {cfg.child_steps} steps of batch "
             f"{cfg.batch_size} from scratch; latency by onnxruntime-node, {cfg.latency.intra_op_threads} intra-op "
             f"thread(s), {cfg.latency.quantile:g}-quantile of {cfg.latency.rounds} rounds of "
             f"{cfg.latency.runs_per_round} runs.", "",
             "| row | architecture | " + " | ".join(f"predicted / measured ms (batch {b}), error" for b in bs) +
             " | val top-1 | test top-1 | search CPU s |", "|---|---|" + "---|" * (len(bs) + 3)]
    for name, r in rows.items():
        cells = []
        for b in bs:
            m = r["measured_ms"][b]
            p = r["predicted_ms"].get(b)
            cells.append(f"{p:.3f} / {m:.3f}, {100 * (p - m) / m:+.0f} %" if p is not None else f"- / {m:.3f}")
        lines.append(f"| {name} | {' '.join(r['architecture'])} | " + " | ".join(cells) +
                     f" | {100 * r['val_top1']:.1f} | {100 * r['test_top1']:.1f} | {r.get('search_cpu_s', '-')} |")
    (out / "nas.md").write_text("\n".join(lines) + "\n")
    res = {"rows": rows, "config": to_dict(cfg)}
    (out / "nas.json").write_text(json.dumps(res, indent=2) + "\n")
    return res
