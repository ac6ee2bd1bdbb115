"""`rerank`: the cross-modal attention module (training/models/cross_modal.py) trained as the
gateway's zero-shot reranker for the labels MiniCLIP serves: colour x shape labels ("red
circle") through MiniCLIP's prompt template ("a photo of a {}."), on the easy shapes set,
trained on the seen colour-shape pairs only (the 8 held-out pairs' images and texts are never
used in training). Evaluated on the test split, seen and held-out pairs apart, as MiniCLIP's
cosine zero-shot (both towers run by onnxruntime-node), the reranker alone over all labels,
and the cosine top-k reranked (what the gateway serves); optionally also on a test split of
the hard benchmark. Exports the graph into the MiniCLIP's model folder (training/export.py,
`export_reranker`): reranker.onnx, golden files, the manifest's `clip.reranker` section.
Writes `rerank.md` / `rerank.json` into the run folder."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

from training.config import seed_everything, start_run, to_dict
from training.crossmodal_run import miniclip_cosine
from training.data.loaders import ImageFolderTensors
from training.data.shapes import ShapesConfig, class_names, generate, hard_config, heldout_combinations
from training.data.transforms import PreprocessConfig, normalize
from training.models.cross_modal import CrossModalClassifier, CrossModalConfig, description_ids
from training.steps import index_batches, optimize
from training.train import augment


@dataclass
class RerankRunConfig:
    out_dir: str = "training/runs/rerank"
    data_root: str = ""            # an existing easy colour_shape dataset root; empty: generate `data` into <out>/data
    data: ShapesConfig = field(default_factory=lambda: ShapesConfig(train_per_class=128, val_per_class=16,
                                                                    test_per_class=32))
    hard_train_per_class: int = 64  # hard-benchmark train images per seen pair added to training (0: easy only)
    hard_test: bool = True         # also evaluate on a test split of the hard benchmark (generated into <out>/hard)
    hard_test_per_class: int = 16
    model: CrossModalConfig = field(default_factory=lambda: CrossModalConfig(context_length=16))
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    seed: int = 0
    steps: int = 600
    lr: float = 2e-3
    batch_size: int = 64
    weight_decay: float = 0.05
    warmup_steps: int = 30
    label_smoothing: float = 0.1
    candidates_per_step: int = 0   # > 0: each step scores the batch's own labels plus random other seen labels up to this many (0: all 56)
    channels_last: bool = True
    threads: int = 1
    log_every_steps: int = 50
    miniclip: str = "models/miniclip-shapes"   # the served MiniCLIP: its template, cosine baseline, export target
    top_k: tuple = (2, 3, 5)       # rerank depths evaluated
    export: bool = True            # write reranker.onnx, golden files and clip.reranker into the MiniCLIP folder
    max_top_k: int = 16            # the manifest's limit on rerank_top_k
    default_enabled: bool = False  # the manifest's default for requests that do not say
    default_top_k: int = 3


def label_texts(classes: List[str]) -> List[str]:
    """'red_circle' -> 'red circle': the labels as a caller writes them."""
    return [c.replace("_", " ") for c in classes]


def _manifest_clip(miniclip: Path) -> Dict:
    return json.loads((miniclip / "model.json").read_text())


@torch.no_grad()
def reranker_logits(model: CrossModalClassifier, images: torch.Tensor, ids: torch.Tensor, pp: PreprocessConfig) -> np.ndarray:
    model.eval()
    return torch.cat([model(normalize(images[i:i + 128], pp), ids) for i in range(0, len(images), 128)]).numpy()


def rerank_predictions(sims: np.ndarray, logits: np.ndarray, k: int) -> np.ndarray:
    """The gateway's reranking: the cosine top-k candidates, the best of them by the reranker."""
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(logits, top, axis=1).argmax(1)
    return top[np.arange(len(top)), best]


def split_scores(preds: np.ndarray, labels: np.ndarray, heldout: np.ndarray) -> Dict[str, float]:
    ok = preds == labels
    return {"seen": float(ok[~heldout].mean()), "heldout": float(ok[heldout].mean()), "all": float(ok.mean())}


def _train(cfg: RerankRunConfig, model: CrossModalClassifier, ids: torch.Tensor, images: torch.Tensor,
           labels: torch.Tensor, log) -> None:
    """Softmax cross-entropy over candidate prompts per image: all of `ids`, or (candidates_per_step)
    the batch's own labels plus random others, which costs less per step (the candidates' side of
    the module runs once per image and candidate)."""
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(memory_format=fmt).train()
    gen, aug, neg = (torch.Generator().manual_seed(cfg.seed * 1000 + k) for k in (11, 12, 13))
    batches = index_batches(len(labels), cfg.batch_size, gen)
    n = ids.shape[0]

    def loss_at(step):
        idx = next(batches)
        y, cand = labels[idx], ids
        if 0 < cfg.candidates_per_step < n:
            present = torch.unique(y)
            others = torch.randperm(n, generator=neg)
            others = others[~torch.isin(others, present)][: max(0, cfg.candidates_per_step - len(present))]
            keep = torch.cat([present, others])
            remap = torch.full((n,), -1, dtype=torch.long)
            remap[keep] = torch.arange(len(keep))
            y, cand = remap[y], ids[keep]
        x = normalize(augment(images[idx], aug), cfg.preprocess).contiguous(memory_format=fmt)
        return F.cross_entropy(model(x, cand), y, label_smoothing=cfg.label_smoothing)

    optimize([p for p in model.parameters() if p.requires_grad], cfg.steps, cfg.lr, cfg.weight_decay,
             cfg.warmup_steps, loss_at, log, f"rerank seed {cfg.seed}", cfg.batch_size, cfg.log_every_steps)
    model.to(memory_format=torch.contiguous_format).eval()


def run_rerank(cfg: RerankRunConfig, log=None) -> Dict:
    rd, log, t0 = start_run(cfg, "rerank", log)
    out = rd.path
    if cfg.data.task != "colour_shape":
        raise ValueError("rerank trains on the labels MiniCLIP serves: data.task must be 'colour_shape'")
    miniclip = Path(cfg.miniclip)
    template = _manifest_clip(miniclip)["clip"]["templates"][0]
    root = Path(cfg.data_root) if cfg.data_root else out / "data"
    if not cfg.data_root:
        generate(replace(cfg.data, root=str(root)), log=log)
    classes = class_names("colour_shape")
    held = {f"{c}_{s}" for c, s in heldout_combinations()}
    seen = [c for c in classes if c not in held]
    prompts = [template.format(t) for t in label_texts(classes)]
    ids_all = description_ids(prompts, cfg.model.context_length)
    ids_seen = ids_all[[classes.index(c) for c in seen]]
    mcfg = replace(cfg.model, token_ids=sorted(set(ids_seen.flatten().tolist()) - {0}))
    train = [ImageFolderTensors(root / "train", cfg.preprocess, classes)]
    if cfg.hard_train_per_class:
        hard_root = out / "hard"
        generate(hard_config(root=str(hard_root), seed=cfg.data.seed, train_per_class=cfg.hard_train_per_class,
                             val_per_class=0, test_per_class=cfg.hard_test_per_class, workers=cfg.data.workers),
                 splits=("train",), log=log)
        train.append(ImageFolderTensors(hard_root / "train", cfg.preprocess, classes))
    all_images = torch.cat([t.images for t in train])
    all_labels = torch.cat([t.labels for t in train])
    keep = torch.tensor([classes[t] not in held for t in all_labels.tolist()])
    seen_index = {classes.index(c): i for i, c in enumerate(seen)}
    images = all_images[keep]
    labels = torch.tensor([seen_index[t] for t in all_labels[keep].tolist()])
    log(f"rerank: {len(labels)} train images of {len(seen)} seen pairs (easy set, plus {cfg.hard_train_per_class} hard "
        f"per pair; held-out pairs' images and texts unused); template {template!r}")

    seed_everything(cfg.seed)
    model = CrossModalClassifier(mcfg)
    _train(cfg, model, ids_seen, images, labels, log)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    torch.save({"crossmodal": to_dict(mcfg), "state_dict": model.state_dict(), "classes": classes, "prompts": prompts,
                "template": template, "preprocess": to_dict(cfg.preprocess), "train_config": to_dict(cfg)},
               out / "reranker.pt")

    sets = {"easy test": root / "test"}
    if cfg.hard_test:
        hard_root = out / "hard"
        generate(hard_config(root=str(hard_root), seed=cfg.data.seed, train_per_class=cfg.hard_train_per_class,
                             val_per_class=0, test_per_class=cfg.hard_test_per_class, workers=cfg.data.workers),
                 splits=("test",), log=log)
        sets["hard test"] = hard_root / "test"
    table: Dict[str, Dict[str, Dict[str, float]]] = {}
    for name, split in sets.items():
        test = ImageFolderTensors(split, cfg.preprocess, classes)
        y = test.labels.numpy()
        heldout = np.array([classes[t] in held for t in y])
        sims = miniclip_cosine(miniclip, test.images, prompts)
        logits = reranker_logits(model, test.images, ids_all, cfg.preprocess)
        rows = {"MiniCLIP cosine": sims.argmax(1), "reranker alone (all 64 labels)": logits.argmax(1)}
        for k in cfg.top_k:
            rows[f"cosine top-{k} reranked"] = rerank_predictions(sims, logits, k)
        table[name] = {row: split_scores(p, y, heldout) for row, p in rows.items()}
        table[name]["images"] = {"seen": int((~heldout).sum()), "heldout": int(heldout.sum()), "all": len(y)}
        for row, s in table[name].items():
            log(f"rerank: {name}: {row}: seen {s['seen']}, held-out {s['heldout']}")

    res = {"table": table, "params": n_params, "seconds_train_and_eval": round(time.perf_counter() - t0, 1),
           "template": template, "config": to_dict(cfg)}
    if cfg.export:
        from training.export import export_reranker

        res["export"] = export_reranker(model, cfg.preprocess, miniclip, template, cfg.model.context_length,
                                        cfg.max_top_k, {"enabled": cfg.default_enabled, "topK": cfg.default_top_k},
                                        card={"table": table, "params": n_params, "steps": cfg.steps,
                                              "trainedOn": f"the seen colour-shape pairs (easy set{', plus the hard benchmark' if cfg.hard_train_per_class else ''})",
                                              "command": "python3 -m training rerank --config training/configs/rerank.yaml"},
                                        log=log)
    _write(out, res)
    rd.update_metrics(**{k: v for k, v in res.items() if k != "config"})
    log((out / "rerank.md").read_text())
    rd.close()
    return res


def _write(out: Path, res: Dict) -> None:
    lines = [f"Zero-shot top-1 on colour x shape labels (64 labels, MiniCLIP's template {res['template']!r}); "
             f"reranker {res['params']:,} parameters, trained on the seen pairs only.", ""]
    for name, rows in res["table"].items():
        n = rows["images"]
        lines += [f"**{name}** ({n['seen']} seen-pair images, {n['heldout']} held-out-pair images)", "",
                  "| row | seen pairs | held-out pairs | all |", "|---|---|---|---|"]
        for row, s in rows.items():
            if row != "images":
                lines.append(f"| {row} | {100 * s['seen']:.1f} | {100 * s['heldout']:.1f} | {100 * s['all']:.1f} |")
        lines.append("")
    (out / "rerank.md").write_text("\n".join(lines))
    (out / "rerank.json").write_text(json.dumps(res, indent=2) + "\n")

