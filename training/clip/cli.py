# `python3 -m training clip`: train the MiniCLIP teacher, distill its image tower into
# MobileNetV3-small, evaluate zero-shot and export into the model repository. Registered
# into training/cli.py through `register(subparsers)`; `main(argv)` runs it standalone.
from __future__ import annotations

import argparse
import json
from typing import List, Optional


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="dataset root with captions_<split>.jsonl (default training/runs/data/shapes)")
    p.add_argument("--out", help="work folder: checkpoints, config.yaml, metrics.json, train.log (default training/runs/clip)")
    p.add_argument("--repo", help="model repository root to export into (default models)")
    p.add_argument("--no-export", action="store_true", help="train and evaluate only")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and a few steps")
    p.add_argument("--config", help="YAML file overriding the ClipRunConfig defaults")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one field, e.g. --set train.teacher.steps=200 --set train.loss=debiased")


def handle(a: argparse.Namespace) -> int:
    from training.clip.zoo import ClipRunConfig, run, smoke_config
    from training.config import resolve

    base = smoke_config() if a.smoke else ClipRunConfig()
    ov = list(a.overrides)
    for key, val in (("data_root", a.data), ("work_dir", a.out), ("repo", a.repo)):
        if val:
            ov.append(f"{key}={val}")
    if a.no_export:
        ov.append("export=false")
    cfg = resolve(ClipRunConfig, a.config, ov, base=base)
    res = run(cfg)
    print(json.dumps({k: res[k] for k in ("zeroShot", "logitScale", "seconds") if k in res} | {"export": res.get("export")}))
    return 0


def register(sub) -> object:
    """Adds the `clip` subcommand to training/cli.py's parser; returns its handler."""
    p = sub.add_parser("clip", help="train, distill, evaluate (zero-shot) and export MiniCLIP")
    _add_args(p)
    return handle


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m training.clip.cli", description=__doc__)
    _add_args(p)
    return handle(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
