# Config plumbing: dataclass defaults <- YAML <- key=value overrides, unknown keys rejected,
# resolved config written beside a run.
from pathlib import Path

import pytest
import yaml

from training.config import RunDir, resolve, to_dict
from training.train import TrainConfig


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 3\nmodel:\n  arch: resnet_teacher\n  resnet_width: 16\nkd:\n  alpha: 0.5\n")
    cfg = resolve(TrainConfig, str(f), ["model.resnet_width=8", "lr=1e-3", "model.resnet_layers=[1,1,1,1]"])
    assert cfg.epochs == 3 and cfg.model.arch == "resnet_teacher" and cfg.model.resnet_width == 8
    assert cfg.lr == pytest.approx(1e-3) and cfg.kd.alpha == 0.5 and list(cfg.model.resnet_layers) == [1, 1, 1, 1]
    assert cfg.batch_size == TrainConfig().batch_size


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        resolve(TrainConfig, None, ["model.archh=x"])
    with pytest.raises(ValueError, match="key=value"):
        resolve(TrainConfig, None, ["epochs"])


def test_example_config_file_resolves():
    cfg = resolve(TrainConfig, str(Path(__file__).resolve().parents[1] / "configs" / "distill-stride1.yaml"))
    assert cfg.model.stem_stride == 1 and cfg.epochs == 10


def test_run_dir_writes_config_metrics_log(tmp_path):
    rd = RunDir(tmp_path / "run", TrainConfig(epochs=2))
    rd.info("hello")
    rd.update_metrics(top1=0.5)
    rd.close()
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["epochs"] == 2
    assert "hello" in (tmp_path / "run" / "train.log").read_text()
    assert '"top1": 0.5' in (tmp_path / "run" / "metrics.json").read_text()
    assert to_dict(TrainConfig())["model"]["arch"] == "mobilenetv3_small"
