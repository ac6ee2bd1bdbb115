# `card --ablation / --zero-shot-seeds / --nas-report`: a measured result is stored in eval.json and the
# card shows its table, each comparison and the decision (what ships and why).
import json

from training.cli import main


def _model(tmp_path, kind="image-classifier"):
    d = tmp_path / "m"
    (d / "1").mkdir(parents=True)
    (d / "model.json").write_text(json.dumps({"name": "m", "kind": kind, "preprocessing": {"size": [64, 64]}}))
    (d / "1" / "eval.json").write_text(json.dumps({"arch": "mobilenetv3_small", "params": 1, "macs": 1, "eval": {"top1": 0.5},
                                                   "onnx": {"opset": 17, "bytes": 1, "parityMaxAbsDiff": 0.0}}))
    return d


def test_card_shows_the_ablation_and_the_decision(tmp_path):
    from training.ablation import verdict

    runs = [0.0, 0.0, 0.0]
    table = {"static": {"mean": 0.60, "sd": 0.02, "runs": runs}, "dynamic": {"mean": 0.61, "sd": 0.03, "runs": runs},
             "static-wide (x1.1)": {"mean": 0.58, "sd": 0.01, "runs": runs}}
    ab = tmp_path / "ablation.json"
    ab.write_text(json.dumps({"table": table, "verdict": verdict(table), "markdown": "| row |\n|---|\n| static |\n",
                              "config": {"x": 1}}))
    d = _model(tmp_path)
    assert main(["card", "--model", str(d), "--ablation", str(ab), "--decision", "The static student ships.",
                 "--command-line", "python3 -m training ablation --x"]) == 0
    text = (d / "MODEL_CARD.md").read_text()
    assert "## Dynamic convolution: the ablation" in text and "| static |" in text
    assert "dynamic vs static: +1.00 points (does not win" in text  # 1 point < the larger sd (3)
    assert "**The static student ships.**" in text and "python3 -m training ablation --x" in text
    card = json.loads((d / "1" / "eval.json").read_text())
    assert card["dynamicConvAblation"]["verdict"]["dynamicWins"] is False and "config" not in card["dynamicConvAblation"]


def test_verdict_needs_every_comparison_won_by_more_than_the_sd():
    from training.ablation import verdict

    r = [0.0, 0.0]
    t = {"static": {"mean": 0.5, "sd": 0.01, "runs": r}, "static + KD": {"mean": 0.55, "sd": 0.01, "runs": r},
         "dynamic": {"mean": 0.6, "sd": 0.02, "runs": r}, "dynamic + KD": {"mean": 0.6, "sd": 0.02, "runs": r}}
    v = verdict(t)
    assert set(v["comparisons"]) == {"dynamic vs static", "dynamic + KD vs static + KD"}
    assert v["dynamicWins"] is True
    t["dynamic + KD"]["mean"] = 0.56
    assert verdict(t)["dynamicWins"] is False
    # one seed: no sd, so no win however large the difference
    one = {k: {**v, "sd": 0.0, "runs": [v["mean"]]} for k, v in t.items()}
    one["dynamic + KD"]["mean"] = 0.9
    assert verdict(one)["dynamicWins"] is False


def test_card_shows_how_a_nas_architecture_was_found(tmp_path):
    rep = tmp_path / "nas-report.json"
    rep.write_text(json.dumps({"markdown": "| row | seeds |\n|---|---|\n| found, lambda 1 | 3 |\n", "target": {}, "summary": {},
                               "budget": {"child_steps": 4000, "batch_size": 32}}))
    d = _model(tmp_path)
    card = json.loads((d / "1" / "eval.json").read_text())
    card.update({"arch": "nas_child", "numClasses": 8, "model": {"arch": "nas_child", "nas_architecture": ["k3_e3", "skip"]}})
    (d / "1" / "eval.json").write_text(json.dumps(card))
    assert main(["card", "--model", str(d), "--nas-report", str(rep), "--command-line", "python3 -m training nas --x"]) == 0
    text = (d / "MODEL_CARD.md").read_text()
    assert "## How the architecture was found (latency-aware NAS)" in text and "`k3_e3 skip`" in text
    assert "| found, lambda 1 | 3 |" in text and "python3 -m training nas --x" in text
    assert "test top-1 50.00 % on 8 classes (chance 12.50 %) after 4,000 steps of batch 32 from scratch" in text
