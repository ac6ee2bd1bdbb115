"""Train, distill, evaluate and export the inference gateway's models (`gateway-training`,
or `python3 -m training` in place).

Every command takes `--config file.yaml` and repeatable `--set key.sub=value` overrides on
top of its dataclass defaults (timm-style); `<command> --help` lists every key with its
default. The resolved config is saved beside the command's outputs."""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
from typing import Callable, Dict, List, Optional

from training.config import describe_keys, resolve, set_threads
from training.ort_parity import ENV_NODE_MODULES, OrtParityUnavailable, preflight


def _cmd_data(a) -> int:
    """Generate the procedural shapes dataset: ImageFolder train/val/test trees, captions
    JSONL per split, classes.txt and heldout.json. Every image is a pure function of (seed,
    split, index, label)."""
    from training.config import RunDir
    from training.data.shapes import ShapesConfig, generate

    ov = a.overrides + ([f"root={a.out}"] if a.out else [])
    cfg = resolve(ShapesConfig, a.config, ov)
    rd = RunDir(cfg.root, cfg, name="data")
    rd.update_metrics(images=generate(cfg, log=rd.info))
    return 0


def _cmd_train(a, distill: bool = False) -> int:
    """Train an image classifier with labels (CE + label smoothing, AdamW, cosine); with a
    teacher checkpoint (`distill`) the loss is KD + CE. Writes model.pt, config.yaml,
    metrics.json and train.log into the run folder."""
    from training.train import TrainConfig, run

    ov = list(a.overrides)
    if a.data:
        ov.append(f"data_root={a.data}")
    if a.out:
        ov.append(f"out_dir={a.out}")
    if distill and a.teacher:
        ov.append(f"teacher={a.teacher}")
    if a.resume:
        ov.append("resume=true")
    cfg = resolve(TrainConfig, a.config, ov)
    if distill and not cfg.teacher:
        print("distill: --teacher <model.pt> (or --set teacher=...) is required", file=sys.stderr)
        return 2
    res = run(cfg)
    print(json.dumps({k: v for k, v in res.items() if k not in ("model", "classes", "history")}))
    return 0


def _cmd_distill(a) -> int:
    """Train a student classifier from a teacher checkpoint: KD loss (Hinton et al., T^2
    scaled KL at temperature T) plus CE. Same keys as `train`."""
    return _cmd_train(a, distill=True)


def _cmd_export(a) -> int:
    """Export a classifier checkpoint into the model repository: ONNX (opset 17, dynamic
    batch), checker, NumPy and onnxruntime-node parity, golden files, model.json, labels.txt
    and the eval card."""
    from training.export import ExportConfig, export

    ov = list(a.overrides)
    for key, val in (("checkpoint", a.checkpoint), ("repo", a.repo), ("name", a.name), ("eval_root", a.eval_data)):
        if val:
            ov.append(f"{key}={val}")
    set_threads(1)
    card = export(resolve(ExportConfig, a.config, ov))
    print(json.dumps({k: card[k] for k in ("name", "params", "macs", "flops")} | {"eval": card.get("eval")}))
    return 0


def _cmd_eval(a) -> int:
    """Top-1 and the worst classes on an ImageFolder split: of a PyTorch checkpoint, or with
    --onnx of an exported model folder run by onnxruntime-node with its model.json's
    preprocessing (what the gateway serves)."""
    from training.config import from_dict
    from training.data.transforms import PreprocessConfig
    from training.evaluate import EvalConfig, evaluate_folder
    from training.train import model_from_checkpoint

    ov = list(a.overrides)
    if a.checkpoint:
        ov.append(f"checkpoint={a.checkpoint}")
    if a.data:
        ov.append(f"data={a.data}")
    if a.onnx:
        ov.append(f"onnx={a.onnx}")
    cfg = resolve(EvalConfig, a.config, ov)
    set_threads(1)
    if cfg.onnx:
        from training.evaluate import evaluate_onnx

        res = evaluate_onnx(cfg.onnx, cfg.data)
    else:
        model, ck = model_from_checkpoint(cfg.checkpoint)
        res = evaluate_folder(model, cfg.data, from_dict(PreprocessConfig, ck["preprocess"]), ck["classes"])
    text = json.dumps(res, indent=2)
    if cfg.out:
        with open(cfg.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


def _cmd_clip(a) -> int:
    """MiniCLIP: train the teacher CLIP on the seen colour-shape captions, distill its image
    tower into MobileNetV3-small, evaluate zero-shot on held-out pairs and export
    `miniclip-shapes` (kind "clip")."""
    from training.clip_run import ClipRunConfig, run, smoke_config

    base = smoke_config() if a.smoke else ClipRunConfig()
    ov = list(a.overrides)
    for key, val in (("data_root", a.data), ("work_dir", a.out), ("repo", a.repo)):
        if val:
            ov.append(f"{key}={val}")
    if a.no_export:
        ov.append("export=false")
    cfg = resolve(ClipRunConfig, a.config, ov, base=base)
    if a.seeds:
        from training.clip_run import run_seeds

        res = run_seeds(cfg, [int(x) for x in a.seeds.split(",")])
        print(json.dumps({k: res[k] for k in ("val", "test") if k in res}))
        return 0
    res = run(cfg)
    print(json.dumps({k: res[k] for k in ("zeroShot", "logitScale", "seconds") if k in res} | {"export": res.get("export")}))
    return 0


def _cmd_zoo(a) -> int:
    """Rebuild the default model zoo from nothing with a fixed seed: data, teacher, distilled
    student, MiniCLIP, every export with its parity check and card. `--smoke` runs the same
    path at tiny sizes into a scratch folder."""
    from training.zoo import ZooConfig, build, smoke_config

    if a.smoke:
        work = a.out or tempfile.mkdtemp(prefix="zoo-smoke-")
        base = smoke_config(work_dir=f"{work}/work", repo=f"{work}/models")
    else:
        base = ZooConfig()
        if a.out:
            base.repo = a.out
    cfg = resolve(ZooConfig, a.config, a.overrides, base=base)
    if a.no_clip:
        cfg.clip = False
    res = build(cfg)
    print(json.dumps(res))
    return 0


def _cmd_ablation(a) -> int:
    """The dynamic-convolution and distillation ablation on the hard benchmark: static,
    dynamic and MACs-matched wider static MobileNetV3-small students, each with and without
    KD from a ConvNeXt teacher, the same steps for every row, over several seeds; writes
    ablation.md (mean ± sd of test top-1) and ablation.json into --out."""
    from training.ablation import AblationConfig, run_ablation

    res = run_ablation(resolve(AblationConfig, a.config, _run_overrides(a)))
    print(json.dumps(res["table"]))
    return 0


def _run_overrides(a) -> List[str]:
    """--set overrides plus --out / --data of a run command (a `FineDataRunConfig`)."""
    return list(a.overrides) + ([f"out_dir={a.out}"] if a.out else []) + ([f"data_root={a.data}"] if a.data else [])


def _cmd_simmim(a) -> int:
    """SimMIM (Xie et al. 2022): pre-train the classifier on the benchmark's unlabelled training
    images (random 8 px patches masked at ratio 0.6, a learnable mask token after the stem, a
    one-layer pixel head, L1 on the masked pixels), then fine-tune with each label fraction
    against the same network trained from scratch with the same steps, plus linear probes;
    writes simmim.md / simmim.json (mean ± sd over seeds), reconstruction.png and every
    fine-tuned model.pt (exportable with `export`) into --out."""
    from training.simmim_run import SimMIMRunConfig, run_simmim

    res = run_simmim(resolve(SimMIMRunConfig, a.config, _run_overrides(a)))
    print(json.dumps({row: round(v["mean"], 4) for row, v in res["table"].items()}))
    return 0


def _cmd_crossmodal(a) -> int:
    """Cross-modal attention on the fine-grained classes: the image's spatial tokens attend to
    the tokens of each candidate label's text description (multi-head, padded tokens masked,
    residual, scoring head), against the image-only MobileNetV3-small student trained the
    same steps and the shipped MiniCLIP's cosine score; writes crossmodal.md / crossmodal.json
    (top-1 over the 8 classes and per pair, mean ± sd over seeds) into --out."""
    from training.crossmodal_run import CrossModalRunConfig, run_crossmodal

    res = run_crossmodal(resolve(CrossModalRunConfig, a.config, _run_overrides(a)))
    print(json.dumps({row: round(v["all"]["mean"], 4) for row, v in res["table"].items()}))
    return 0


def _cmd_rerank(a) -> int:
    """Cross-modal attention trained as the zero-shot reranker of the served MiniCLIP: colour x
    shape labels through MiniCLIP's template, trained on the seen pairs only; reports MiniCLIP's
    cosine, the reranker alone and the cosine top-k reranked on seen and held-out test pairs
    (rerank.md / rerank.json in --out), and exports reranker.onnx, its golden files and the
    manifest's clip.reranker section into the MiniCLIP's folder (onnxruntime-node parity)."""
    from training.rerank_run import RerankRunConfig, run_rerank

    ov = list(a.overrides) + ([f"out_dir={a.out}"] if a.out else []) + ([f"data_root={a.data}"] if a.data else [])
    res = run_rerank(resolve(RerankRunConfig, a.config, ov))
    print(json.dumps(res["table"]))
    return 0


def _cmd_nas_latency(a) -> int:
    """Measure the NAS latency table: what every candidate op of every supernet position, the
    stem and the head cost inside whole networks (reference children timed whole and profiled
    per node with onnxruntime-node under the gateway's CPU session options, batch 1 and 8),
    validated on held-out children timed in the same process; writes the table JSON to --out."""
    from pathlib import Path

    from training.nas_latency import measure_table, parse_architecture, table_json

    set_threads(1)
    cfg = resolve(_config_class("nas-latency"), a.config, list(a.overrides))
    table = measure_table(cfg.supernet, cfg.latency,
                          validate=[parse_architecture(cfg.supernet, a) for a in cfg.validate_architectures])
    table["command"] = " ".join(["python3 -m training nas-latency", f"--out {a.out}"] +
                                ([f"--config {a.config}"] if a.config else []) + [f"--set {o}" for o in a.overrides])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(table_json(table))
    print(json.dumps({"out": a.out, "stem_ms": table["fixed_ms"]["stem"], "head_ms": table["fixed_ms"]["head"],
                      "validation_max_abs_error": table["validation_max_abs_error"]}))
    return 0


def _cmd_nas(a) -> int:
    """Latency-aware one-shot NAS with proximal gradients (NASP) on the fine-grained classes:
    warm up the supernet on uniform single paths, search each lambda (CE + lambda x expected
    latency from the table / target), train the found children and the hand-designed
    MobileNetV3-small from scratch, export them to ONNX and time them with onnxruntime-node;
    writes nas.md / nas.json into --out."""
    from training.nas_run import NasRunConfig, run_nas

    res = run_nas(resolve(NasRunConfig, a.config, _run_overrides(a)))
    print(json.dumps({row: {"architecture": r["architecture"], "test_top1": round(r["test_top1"], 4),
                            "measured_ms": r["measured_ms"]} for row, r in res["rows"].items()}))
    return 0


def _cmd_nas_report(a) -> int:
    """The `nas` runs of several seeds in one table (mean ± sd) and a Pareto figure of test
    top-1 against measured latency (found models per lambda, the hand-designed student at each
    width), the issue's target against the student, the search cost; with --remeasure a fresh
    latency table validated on every run's found architecture in one onnxruntime-node
    process. Writes nas-report.md / .json and nas-pareto.png into --out."""
    from training.nas_report import NasReportConfig, run_report

    ov = list(a.overrides) + ([f"out_dir={a.out}"] if a.out else []) + ([f"figure={a.figure}"] if a.figure else [])
    ov += [f"runs={json.dumps(a.runs)}"] if a.runs else []
    ov += ["remeasure=true"] if a.remeasure else []
    if a.remeasure:
        set_threads(1)
    res = run_report(resolve(NasReportConfig, a.config, ov))
    print(json.dumps(res["target"]))
    return 0


def _cmd_calibrate(a) -> int:
    """Fit the multi-label calibration of an exported MiniCLIP (sigmoid(scale x cosine + bias),
    as SigLIP) from its ONNX encoders run by onnxruntime-node on a dataset's validation split,
    report precision/recall at 0.5 on the held-out-pair test images, and write it into the
    model's model.json (clip.multiLabel) and eval.json."""
    from training.calibration import calibrate_export

    set_threads(1)
    res = calibrate_export(a.model, a.data, a.val_split, a.test_split)
    print(json.dumps({k: res[k] for k in ("scale", "bias", "calibrated", "uncalibrated")}))
    return 0


def _cmd_card(a) -> int:
    """Write (or rewrite) MODEL_CARD.md in an exported model folder from its model.json and
    newest eval.json: data, recipe, figures with their seed, known failures, limitations.
    Export writes it too. --ablation / --zero-shot-seeds / --nas-report first store a measured
    result in eval.json, so the card shows it."""
    from training.model_card import attach, write

    for m in a.model:
        for key, path, extra in (("dynamicConvAblation", a.ablation, {"decision": a.decision}),
                                 ("zeroShotSeeds", a.zero_shot_seeds, {}), ("nasSearch", a.nas_report, {})):
            if path:
                data = json.loads(open(path).read())
                task = ((data.pop("config", None) or {}).get("data") or {}).get("task")
                if key == "dynamicConvAblation":
                    if task:  # which benchmark the table is on, for the card
                        data["benchmark"] = ("hard fine-grained benchmark (8 classes)" if task == "fine"
                                             else f"hard benchmark (task {task}, {'64 colour x shape classes' if task == 'colour_shape' else 'its classes'})")
                    from training.ablation import verdict

                    data["verdict"] = verdict(data["table"])  # the current rule, whatever wrote the file
                attach(m, key, {**data, **{k: v for k, v in extra.items() if v}, "command": a.command_line or None})
        print(write(m))
    return 0


def _config_class(command: str) -> type:
    if command == "data":
        from training.data.shapes import ShapesConfig as C
    elif command in ("train", "distill"):
        from training.train import TrainConfig as C
    elif command == "export":
        from training.export import ExportConfig as C
    elif command == "eval":
        from training.evaluate import EvalConfig as C
    elif command == "clip":
        from training.clip_run import ClipRunConfig as C
    elif command == "ablation":
        from training.ablation import AblationConfig as C
    elif command == "simmim":
        from training.simmim_run import SimMIMRunConfig as C
    elif command == "crossmodal":
        from training.crossmodal_run import CrossModalRunConfig as C
    elif command == "rerank":
        from training.rerank_run import RerankRunConfig as C
    elif command == "nas":
        from training.nas_run import NasRunConfig as C
    elif command == "nas-report":
        from training.nas_report import NasReportConfig as C
    elif command == "nas-latency":
        from training.nas_latency import NasLatencyConfig as C
    elif command in ("calibrate", "card"):
        return type(None)
    else:
        from training.zoo import ZooConfig as C
    return C


COMMANDS: Dict[str, Callable] = {"data": _cmd_data, "train": _cmd_train, "distill": _cmd_distill,
                                 "export": _cmd_export, "eval": _cmd_eval, "clip": _cmd_clip, "zoo": _cmd_zoo,
                                 "ablation": _cmd_ablation, "simmim": _cmd_simmim,
                                 "crossmodal": _cmd_crossmodal, "rerank": _cmd_rerank, "nas": _cmd_nas,
                                 "nas-latency": _cmd_nas_latency, "nas-report": _cmd_nas_report,
                                 "calibrate": _cmd_calibrate,
                                 "card": _cmd_card}


SUMMARIES = {"data": "generate the procedural shapes dataset", "train": "train a classifier with labels",
             "distill": "train a student classifier from a teacher (KD + CE)",
             "export": "export a classifier into the model repository, with parity checks",
             "eval": "top-1 of a checkpoint, or of an exported ONNX model via onnxruntime-node",
             "clip": "train, distill, evaluate (zero-shot) and export MiniCLIP",
             "zoo": "rebuild the whole default model zoo (fixed seed)",
             "ablation": "dynamic conv x KD ablation on the hard benchmark, mean ± sd over seeds",
             "simmim": "SimMIM pre-training, then fine-tuning at label fractions vs scratch and linear probes",
             "crossmodal": "cross-modal attention to class descriptions vs the image-only student (fine pairs)",
             "rerank": "cross-modal attention as MiniCLIP's zero-shot reranker (seen pairs), exported beside it",
             "nas": "latency-aware one-shot NAS (proximal gradients) vs the hand-designed student (fine pairs)",
             "nas-latency": "measure the NAS latency table with onnxruntime-node (every op, batch 1 and 8)",
             "nas-report": "NAS runs of several seeds: mean ± sd table, Pareto figure, target check",
             "calibrate": "fit and export a MiniCLIP's multi-label calibration (validation split)",
             "card": "write MODEL_CARD.md for exported model folders"}


def _add(sub, name: str) -> argparse.ArgumentParser:
    doc = inspect.cleandoc(COMMANDS[name].__doc__ or "")
    cfg_cls = _config_class(name)
    epilog = "--set keys (default):\n" + "\n".join(describe_keys(cfg_cls)) if cfg_cls is not type(None) else None
    p = sub.add_parser(name, help=SUMMARIES[name], description=doc, epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    if epilog:
        p.add_argument("--config", help="YAML file overriding the defaults below")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override one key (repeatable), e.g. --set epochs=3 --set model.arch=resnet_teacher")
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway-training", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--node-modules", metavar="DIR",
                   help="node_modules holding onnxruntime-node, for the exports' parity check "
                        "(default: $GATEWAY_TRAINING_NODE_MODULES, else found above the package or the current directory)")
    sub = p.add_subparsers(dest="command", required=True)

    d = _add(sub, "data")
    d.add_argument("--out", help="dataset root (default training/runs/data/shapes)")

    for name in ("train", "distill"):
        t = _add(sub, name)
        t.add_argument("--data", help="ImageFolder root holding train/ and val/")
        t.add_argument("--out", help="run folder (model.pt, last.pt, config.yaml, metrics.json, metrics.jsonl, "
                                     "curves.svg, train.log)")
        t.add_argument("--resume", action="store_true",
                       help="continue from <out>/last.pt (model, optimizer, step, RNG states; schedule is a function of the step)")
        if name == "distill":
            t.add_argument("--teacher", help="teacher model.pt")

    e = _add(sub, "export")
    e.add_argument("--checkpoint")
    e.add_argument("--repo", help="model repository root (default models)")
    e.add_argument("--name", help="model folder name")
    e.add_argument("--eval-data", help="ImageFolder split for the eval card's top-1")

    v = _add(sub, "eval")
    v.add_argument("--checkpoint", help="a PyTorch model.pt")
    v.add_argument("--onnx", metavar="MODEL_DIR", help="an exported model folder (or version folder): run its model.onnx "
                                                      "with onnxruntime-node instead")
    v.add_argument("--data", help="ImageFolder split")

    c = _add(sub, "clip")
    c.add_argument("--data", help="dataset root with captions_<split>.jsonl (default training/runs/data/shapes)")
    c.add_argument("--out", help="work folder: checkpoints, config.yaml, metrics.json, train.log (default training/runs/clip)")
    c.add_argument("--repo", help="model repository root to export into (default models)")
    c.add_argument("--no-export", action="store_true", help="train and evaluate only")
    c.add_argument("--smoke", action="store_true", help="tiny sizes and a few steps")
    c.add_argument("--seeds", metavar="0,1,2", help="run the recipe once per seed (no export) and write every held-out "
                                                   "pair's zero-shot top-1, mean ± sd, to <out>/zero_shot_seeds.md")

    z = _add(sub, "zoo")
    z.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps, into a temp/--out folder")
    z.add_argument("--out", help="smoke: scratch folder; full: model repository root (default models)")
    z.add_argument("--no-clip", action="store_true", help="skip the MiniCLIP step")

    for name in ("ablation", "simmim", "crossmodal", "nas"):
        r = _add(sub, name)
        r.add_argument("--out", help=f"run folder (default training/runs/{name})")
        r.add_argument("--data", help="existing dataset root with train/ val/ test/ (default: generate `data` into --out)")

    rr = _add(sub, "rerank")
    rr.add_argument("--out", help="run folder (default training/runs/rerank)")
    rr.add_argument("--data", help="existing easy colour_shape dataset root (default: generate `data` into --out)")

    nl = _add(sub, "nas-latency")
    nl.add_argument("--out", default="training/configs/nas_latency.json", help="table JSON to write")

    nr = _add(sub, "nas-report")
    nr.add_argument("--runs", nargs="+", metavar="DIR", help="nas run folders, one per seed")
    nr.add_argument("--out", help="report folder (default training/runs/nas-report)")
    nr.add_argument("--figure", help="also write the Pareto figure here (e.g. training/docs/nas-pareto.png)")
    nr.add_argument("--remeasure", action="store_true",
                    help="measure a fresh latency table and validate it on every run's found architecture")

    cal = _add(sub, "calibrate")
    cal.add_argument("--model", required=True, help="exported MiniCLIP model folder (holds model.json)")
    cal.add_argument("--data", required=True, help="dataset root with captions_<split>.jsonl (`data` command)")
    cal.add_argument("--val-split", default="val", help="split the calibration is fitted on")
    cal.add_argument("--test-split", default="test", help="split precision/recall are reported on")

    cd = _add(sub, "card")
    cd.add_argument("--model", required=True, action="append", help="exported model folder (repeatable)")
    cd.add_argument("--ablation", metavar="ABLATION_JSON", help="add an `ablation` result (ablation.json) to the card")
    cd.add_argument("--decision", help="with --ablation: the sentence saying what ships and why")
    cd.add_argument("--zero-shot-seeds", metavar="JSON", help="add a `clip --seeds` result (zero_shot_seeds.json)")
    cd.add_argument("--nas-report", metavar="JSON", help="add a `nas-report` result (nas-report.json): how the NAS "
                    "architecture of this model was found, over the seeds")
    cd.add_argument("--command-line", help="with --ablation / --zero-shot-seeds / --nas-report: the commands that produced it")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    a = build_parser().parse_args(argv)
    if a.node_modules:
        os.environ[ENV_NODE_MODULES] = a.node_modules
    try:
        if a.command in ("export", "zoo", "nas", "nas-latency") or (a.command == "clip" and not a.no_export and not a.seeds):
            preflight()
        return int(COMMANDS[a.command](a) or 0)
    except OrtParityUnavailable as e:
        # the export is not declared checked: no model.json and no eval card were written
        print(f"gateway-training {a.command}: {e}", file=sys.stderr)
        return 3
