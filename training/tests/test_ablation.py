# `ablation` at toy size: every row trains, the widened static student is matched to the
# dynamic one's graph MACs, and the table reports mean ± sd over the seeds; the KD rows'
# shared teacher-logit cache gives exactly the weights of running the teacher online.
import pytest
import torch

from training.ablation import AblationConfig, matched_width, run_ablation
from training.data.shapes import ShapesConfig, generate, hard_config
from training.models import ModelConfig, count_macs, create_model
from training.train import TrainConfig, run

TINY = dict(max_steps=1, batch_size=16, warmup_steps=1, threads=1, log_every_steps=1)


def test_wide_static_student_matches_the_dynamic_graph_macs():
    target = 6_070_656  # the dynamic student's exported graph (tests/test_models.py)
    w = matched_width(target)
    assert w > 1.0
    macs = count_macs(create_model(ModelConfig(width_mult=w)))
    assert abs(macs - target) / target < 0.05


def test_ablation_rows_and_table(tmp_path):
    cfg = AblationConfig(out_dir=str(tmp_path), seeds=(0, 1), dynamic_blocks=1,
                         data=hard_config(task="fine", train_per_class=2, val_per_class=1, test_per_class=1, workers=1),
                         teacher=TrainConfig(model=ModelConfig(arch="convnext_teacher"), epochs=1, **TINY),
                         student=TrainConfig(epochs=1, **TINY))
    res = run_ablation(cfg)
    rows = list(res["table"])
    assert rows[:5] == ["teacher", "static", "static + KD", "dynamic", "dynamic + KD"]
    assert rows[5].startswith("static-wide (x") and rows[6] == rows[5] + " + KD" and len(rows) == 7
    assert len(res["table"]["teacher"]["runs"]) == 1  # one teacher serves every seed
    assert all(len(v["runs"]) == 2 and v["sd"] >= 0 and v["steps"] == 1 for k, v in res["table"].items() if k != "teacher")
    assert (tmp_path / "seed1" / "teacher-logits.pt").is_file()
    md = (tmp_path / "ablation.md").read_text()
    assert md.count("\n") == 9 and "±" in md and "(one run)" in md


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    generate(ShapesConfig(root=str(root), train_per_class=1, val_per_class=1, workers=1), splits=("train", "val"),
             log=lambda s: None)
    return root


def test_kd_cache_gives_the_weights_of_the_online_teacher(data, tmp_path):
    tiny = dict(TINY, max_steps=3)
    teacher = TrainConfig(model=ModelConfig(arch="resnet_teacher", resnet_width=8, resnet_layers=(1, 1, 1, 1)),
                          data_root=str(data), out_dir=str(tmp_path / "t"), epochs=1, **TINY)
    run(teacher)
    student = dict(data_root=str(data), teacher=str(tmp_path / "t" / "model.pt"), epochs=1, **tiny)
    online = run(TrainConfig(out_dir=str(tmp_path / "online"), **student))["model"].state_dict()
    cache = str(tmp_path / "logits.pt")
    run(TrainConfig(out_dir=str(tmp_path / "write"), kd_cache=cache, **student))
    cached = run(TrainConfig(out_dir=str(tmp_path / "read"), kd_cache=cache, **student))["model"].state_dict()
    assert len(torch.load(cache)["logits"]) == 3
    assert all(torch.equal(online[k], cached[k]) for k in online)
    with pytest.raises(RuntimeError, match="kd_cache"):  # other batches: the cache is refused, not misused
        run(TrainConfig(out_dir=str(tmp_path / "other"), kd_cache=cache, **dict(student, seed=1)))
