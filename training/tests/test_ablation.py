# `ablation` at toy size: every row trains, the widened static student is matched to the
# dynamic one's graph MACs, and the table reports mean ± sd over the seeds.
from training.ablation import AblationConfig, matched_width, run_ablation
from training.data.shapes import hard_config
from training.models import ModelConfig, count_macs, create_model
from training.train import TrainConfig


def test_wide_static_student_matches_the_dynamic_graph_macs():
    target = 6_070_656  # the dynamic student's exported graph (tests/test_models.py)
    w = matched_width(target)
    assert w > 1.0
    macs = count_macs(create_model(ModelConfig(width_mult=w)))
    assert abs(macs - target) / target < 0.05


def test_ablation_rows_and_table(tmp_path):
    tiny = dict(max_steps=1, batch_size=16, warmup_steps=1, threads=1, log_every_steps=1)
    cfg = AblationConfig(out_dir=str(tmp_path), seeds=(0, 1), with_kd=False, dynamic_blocks=1,
                         data=hard_config(train_per_class=1, val_per_class=1, test_per_class=1, workers=1),
                         student=TrainConfig(epochs=1, **tiny))
    res = run_ablation(cfg)
    rows = list(res["table"])
    assert len(rows) == 3 and rows[0] == "static" and rows[1] == "dynamic" and rows[2].startswith("static-wide")
    assert all(len(v["runs"]) == 2 and v["sd"] >= 0 for v in res["table"].values())
    md = (tmp_path / "ablation.md").read_text()
    assert md.count("\n") == 5 and "±" in md
