"""Train, distill, evaluate and export the inference gateway's models (`gateway-training`,
or `python3 -m training` in place). Every command takes `--config file.yaml` and repeatable
`--set key.sub=value` overrides on top of its dataclass defaults (timm-style); the resolved
config is saved beside the command's outputs."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import List, Optional

from training.config import resolve, set_threads
from training.ort_parity import ENV_NODE_MODULES, OrtParityUnavailable, preflight


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file overriding the dataclass defaults")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one field, e.g. --set epochs=3 --set model.arch=resnet_teacher")


def _cmd_data(a) -> int:
    from training.config import RunDir
    from training.data.shapes import ShapesConfig, generate

    ov = a.overrides + ([f"root={a.out}"] if a.out else [])
    cfg = resolve(ShapesConfig, a.config, ov)
    rd = RunDir(cfg.root, cfg, name="data")
    rd.update_metrics(images=generate(cfg, log=rd.info))
    return 0


def _cmd_train(a, distill: bool = False) -> int:
    from training.train import TrainConfig, run

    ov = list(a.overrides)
    if a.data:
        ov.append(f"data_root={a.data}")
    if a.out:
        ov.append(f"out_dir={a.out}")
    if distill:
        if a.teacher:
            ov.append(f"teacher={a.teacher}")
    cfg = resolve(TrainConfig, a.config, ov)
    if distill and not cfg.teacher:
        print("distill: --teacher <model.pt> (or --set teacher=...) is required", file=sys.stderr)
        return 2
    res = run(cfg)
    print(json.dumps({k: v for k, v in res.items() if k not in ("model", "classes", "history")}))
    return 0


def _cmd_export(a) -> int:
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
    from training.config import from_dict
    from training.data.transforms import PreprocessConfig
    from training.evaluate import EvalConfig, evaluate_folder
    from training.train import model_from_checkpoint

    ov = list(a.overrides)
    if a.checkpoint:
        ov.append(f"checkpoint={a.checkpoint}")
    if a.data:
        ov.append(f"data={a.data}")
    cfg = resolve(EvalConfig, a.config, ov)
    set_threads(1)
    model, ck = model_from_checkpoint(cfg.checkpoint)
    res = evaluate_folder(model, cfg.data, from_dict(PreprocessConfig, ck["preprocess"]), ck["classes"])
    text = json.dumps(res, indent=2)
    if cfg.out:
        with open(cfg.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


def _cmd_zoo(a) -> int:
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


def _clip_register(sub) -> Optional[object]:
    """The `clip` command belongs to training/clip (MiniCLIP); it registers itself through
    `training.clip.cli.register(subparsers)` returning the handler."""
    try:
        from training.clip import cli as clip_cli
    except ImportError:
        return None
    return clip_cli.register(sub)


def build_parser():
    p = argparse.ArgumentParser(prog="gateway-training", description=__doc__)
    p.add_argument("--node-modules", metavar="DIR",
                   help="node_modules holding onnxruntime-node, for the exports' parity check "
                        "(default: $GATEWAY_TRAINING_NODE_MODULES, else found above the package or the current directory)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="generate the procedural shapes dataset (ImageFolder + captions JSONL)")
    d.add_argument("--out", help="dataset root (default training/runs/data/shapes)")
    _common(d)

    for name, helptext in (("train", "train a classifier with labels"),
                           ("distill", "train a student classifier from a teacher checkpoint (KD loss)")):
        t = sub.add_parser(name, help=helptext)
        t.add_argument("--data", help="ImageFolder root holding train/ and val/")
        t.add_argument("--out", help="run folder (model.pt, config.yaml, metrics.json, train.log)")
        if name == "distill":
            t.add_argument("--teacher", help="teacher model.pt")
        _common(t)

    e = sub.add_parser("export", help="export a checkpoint into the model repository (ONNX, manifest, eval card, golden)")
    e.add_argument("--checkpoint")
    e.add_argument("--repo", help="model repository root (default models)")
    e.add_argument("--name", help="model folder name")
    e.add_argument("--eval-data", help="ImageFolder split for the eval card's top-1")
    _common(e)

    v = sub.add_parser("eval", help="top-1 of a checkpoint on an ImageFolder split")
    v.add_argument("--checkpoint")
    v.add_argument("--data")
    _common(v)

    z = sub.add_parser("zoo", help="rebuild the default model zoo (fixed seed)")
    z.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps, into a temp/--out folder")
    z.add_argument("--out", help="smoke: scratch folder; full: model repository root (default models)")
    z.add_argument("--no-clip", action="store_true", help="skip the MiniCLIP step")
    _common(z)

    clip_handler = _clip_register(sub)
    return p, clip_handler


def main(argv: Optional[List[str]] = None) -> int:
    parser, clip_handler = build_parser()
    a = parser.parse_args(argv)
    if a.node_modules:
        os.environ[ENV_NODE_MODULES] = a.node_modules
    handlers = {"data": _cmd_data, "train": _cmd_train, "distill": lambda x: _cmd_train(x, distill=True),
                "export": _cmd_export, "eval": _cmd_eval, "zoo": _cmd_zoo, "clip": clip_handler}
    try:
        if a.command in ("export", "zoo") or (a.command == "clip" and not a.no_export):
            preflight()
        return int(handlers[a.command](a) or 0)
    except OrtParityUnavailable as e:
        # the export is not declared checked: no model.json and no eval card were written
        print(f"gateway-training {a.command}: {e}", file=sys.stderr)
        return 3
