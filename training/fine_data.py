"""The data part shared by the run configs of the survey-system and ablation commands
(`simmim`, `crossmodal`, `nas`, `ablation`): the hard benchmark's fine-grained set as the
default dataset, an optional existing dataset root, and the one way a run finds (or
generates) its data and loads its three splits."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, List, Tuple

from training.data.shapes import ShapesConfig, generate, hard_config


def fine_data(train_per_class: int = 256, val_per_class: int = 32, test_per_class: int = 64) -> ShapesConfig:
    """The hard benchmark's fine-grained task (8 classes in 4 one-detail pairs) at these sizes."""
    return hard_config(task="fine", train_per_class=train_per_class, val_per_class=val_per_class,
                       test_per_class=test_per_class)


@dataclass
class FineDataRunConfig:
    """Base of a run config: where it writes and which data it trains on."""
    out_dir: str = "training/runs/run"
    data_root: str = ""            # an existing dataset root (train/ val/ test/); empty: generate `data` into <out>/data
    data: ShapesConfig = field(default_factory=fine_data)

    def dataset_root(self, log: Callable[[str], None] = print, reuse: bool = False) -> Path:
        """`data_root` as given, or `data` generated into <out_dir>/data (with `reuse`, a set
        already generated there is kept: generation is a pure function of the config)."""
        if self.data_root:
            return Path(self.data_root)
        root = Path(self.out_dir) / "data"
        if not (reuse and (root / "classes.txt").is_file()):
            generate(replace(self.data, root=str(root)), log=log)
        return root


def load_splits(root: Path, preprocess, classes: List[str]) -> Tuple:
    """(train, val, test) ImageFolderTensors of a dataset root, in `classes`' order."""
    from training.data.loaders import ImageFolderTensors

    return tuple(ImageFolderTensors(Path(root) / s, preprocess, classes) for s in ("train", "val", "test"))
