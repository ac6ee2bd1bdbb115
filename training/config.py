"""Config plumbing shared by every command, timm-style: each component is a dataclass with
defaults, a YAML file and `--set a.b=c` overrides are merged on top, and the resolved
config is written beside the run's outputs together with a JSON metrics file and a log."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

import yaml

T = TypeVar("T")


def to_dict(cfg: Any) -> Any:
    """Dataclass (possibly nested) -> plain dict/list for YAML/JSON."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def from_dict(cls: Type[T], data: Dict[str, Any]) -> T:
    """Build dataclass `cls` from a dict, recursing into nested dataclass fields. Unknown
    keys raise, so a typo in a YAML file never silently keeps a default."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}; valid: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        ftype = names[key].type
        sub = _dataclass_type(cls, key)
        if sub is not None and isinstance(value, dict):
            kwargs[key] = from_dict(sub, value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def _dataclass_type(cls: type, field_name: str) -> Optional[type]:
    import typing

    hints = typing.get_type_hints(cls)
    t = hints.get(field_name)
    return t if dataclasses.is_dataclass(t) else None


def _parse_scalar(text: str) -> Any:
    # YAML's scalar rules: "3" -> 3, "1e-3" -> 0.001 (with a dot), "true" -> True, "[1,2]" -> list.
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def merge(base: Dict[str, Any], update: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve(cls: Type[T], yaml_path: Optional[str] = None, overrides: Sequence[str] = (),
            base: Optional[T] = None) -> T:
    """Defaults (or `base`) <- YAML file <- `key.sub=value` overrides, in that order."""
    data = to_dict(base if base is not None else cls())
    if yaml_path:
        with open(yaml_path) as f:
            data = merge(data, yaml.safe_load(f) or {})
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, value = item.split("=", 1)
        node: Dict[str, Any] = {}
        cur = node
        parts = key.strip().split(".")
        for p in parts[:-1]:
            cur[p] = {}
            cur = cur[p]
        cur[parts[-1]] = _parse_scalar(value)
        data = merge(data, node)
    return from_dict(cls, data)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_threads(n: int = 2) -> None:
    """The build machines have 2 shared cores; more threads only add contention."""
    import torch

    n = max(1, min(n, int(os.environ.get("TRAINING_THREADS", n))))
    torch.set_num_threads(n)


def write_config(folder: str | Path, cfg: Any) -> None:
    """The resolved config as `config.yaml` in `folder` (a run folder, or a data root, whose
    config the exports' cards read)."""
    with open(Path(folder) / "config.yaml", "w") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)


class RunDir:
    """One run's output folder: resolved config (config.yaml), metrics (metrics.json),
    and a log file (train.log) next to the checkpoints/exports written there."""

    def __init__(self, path: str | Path, cfg: Any = None, name: str = "training", is_main: bool = True):
        self.path = Path(path)
        self.is_main = is_main
        self.metrics: Dict[str, Any] = {}
        if is_main:
            self.path.mkdir(parents=True, exist_ok=True)
        self.log = logging.getLogger(f"{name}.{id(self)}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
        if is_main:
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(fmt)
            fh = logging.FileHandler(self.path / "train.log")
            fh.setFormatter(fmt)
            self.log.addHandler(sh)
            self.log.addHandler(fh)
        else:
            self.log.addHandler(logging.NullHandler())
        if cfg is not None and is_main:
            write_config(self.path, cfg)

    def info(self, msg: str, *args: Any) -> None:
        self.log.info(msg, *args)

    def update_metrics(self, **kw: Any) -> None:
        self.metrics.update(kw)
        if self.is_main:
            with open(self.path / "metrics.json", "w") as f:
                json.dump(self.metrics, f, indent=2)

    def close(self) -> None:
        for h in list(self.log.handlers):
            h.close()
            self.log.removeHandler(h)


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0


def describe_keys(cls: type, prefix: str = "", inst: Any = None) -> List[str]:
    """Every `--set` key of dataclass `cls` (nested ones dotted) with its default and the
    comment its definition carries, for `--help`. Nested defaults are the parent's (a
    default_factory may differ from the nested class's own defaults)."""
    import inspect
    import re
    import typing

    comments: Dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's comment on a field it redeclares wins
        try:
            src = inspect.getsource(klass) if dataclasses.is_dataclass(klass) else ""
        except (OSError, TypeError):
            src = ""
        comments.update({m.group(1): m.group(2).strip()
                         for m in re.finditer(r"^\s+(\w+)\s*:[^#\n]*#\s*(.*)$", src, re.M)})
    hints = typing.get_type_hints(cls)
    inst = cls() if inst is None else inst
    lines: List[str] = []
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if dataclasses.is_dataclass(hints.get(f.name)):
            lines.extend(describe_keys(hints[f.name], key + ".", getattr(inst, f.name)))
            continue
        default = json.dumps(to_dict(getattr(inst, f.name)))
        note = comments.get(f.name, "")
        lines.append(f"  {key} = {default}" + (f"  ({note})" if note else ""))
    return lines


def start_run(cfg: Any, name: str, log: Optional[Callable[[str], None]] = None
              ) -> Tuple[RunDir, Callable[[str], None], float]:
    """The prelude every survey-system run shares: its folder under `cfg.out_dir` (config.yaml,
    train.log), the log it writes to (the caller's, else the folder's), torch's thread count
    and the start time its result reports."""
    rd = RunDir(Path(cfg.out_dir), cfg, name=name)
    set_threads(cfg.threads)
    return rd, log or rd.info, time.perf_counter()
