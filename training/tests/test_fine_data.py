# The data base shared by the run configs (training/fine_data.py): one default dataset, the
# same `data` / `data_root` keys on every run command, and where a run finds its data.
from dataclasses import replace

import pytest

from training import fine_data as fd
from training.ablation import AblationConfig
from training.config import describe_keys, resolve
from training.crossmodal_run import CrossModalRunConfig
from training.data.shapes import hard_config
from training.nas_run import NasRunConfig
from training.simmim_run import SimMIMRunConfig

RUNS = [SimMIMRunConfig, CrossModalRunConfig, NasRunConfig, AblationConfig]


@pytest.mark.parametrize("cls", RUNS, ids=lambda c: c.__name__)
def test_every_run_defaults_to_the_fine_set_and_takes_the_same_keys(cls, tmp_path):
    cfg = cls()
    assert cfg.data.task == "fine" and cfg.data.difficulty == "hard" and cfg.data_root == ""
    assert cfg.out_dir.startswith("training/runs/") and cfg.out_dir != fd.FineDataRunConfig.out_dir
    got = resolve(cls, None, [f"data_root={tmp_path}", "data.train_per_class=3", f"out_dir={tmp_path}/o"])
    assert (got.data_root, got.data.train_per_class, got.out_dir) == (str(tmp_path), 3, f"{tmp_path}/o")
    assert got.data.noise_std == hard_config().noise_std  # the rest of `data` keeps the hard defaults
    keys = "\n".join(describe_keys(cls))
    assert 'data_root = ""  (an existing dataset root' in keys and 'data.task = "fine"' in keys


def test_sizes_differ_only_where_declared():
    assert (NasRunConfig().data, SimMIMRunConfig().data) == (fd.fine_data(), fd.fine_data())
    a = AblationConfig().data
    assert (a.train_per_class, a.val_per_class, a.test_per_class) == (512, 64, 128)
    assert a == fd.fine_data(512, 64, 128)


def test_dataset_root_uses_data_root_or_generates_into_out(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(fd, "generate", lambda cfg, log=None: calls.append(cfg) or
                        (tmp_path / "out" / "data").mkdir(parents=True, exist_ok=True) or
                        (tmp_path / "out" / "data" / "classes.txt").write_text("a\n"))
    given = fd.FineDataRunConfig(out_dir=str(tmp_path / "out"), data_root=str(tmp_path / "mine"))
    assert given.dataset_root() == tmp_path / "mine" and calls == []
    cfg = fd.FineDataRunConfig(out_dir=str(tmp_path / "out"))
    assert cfg.dataset_root() == tmp_path / "out" / "data"
    assert len(calls) == 1 and calls[0].root == str(tmp_path / "out" / "data") and calls[0].task == "fine"
    cfg.dataset_root(reuse=True)          # classes.txt is there: kept
    assert len(calls) == 1
    cfg.dataset_root()                    # without reuse it is generated again
    assert len(calls) == 2


def test_load_splits_reads_the_three_splits(tmp_path):
    from training.data.shapes import class_names, generate
    from training.data.transforms import PreprocessConfig

    generate(replace(fd.fine_data(1, 1, 2), root=str(tmp_path), workers=1))
    train, val, test = fd.load_splits(tmp_path, PreprocessConfig(), class_names("fine"))
    assert (len(train), len(val), len(test)) == (8, 8, 16)
