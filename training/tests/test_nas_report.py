# `nas-report` (training/nas_report.py): seeds grouped per row with mean ± sd, the issue's
# target checked against the x1 student, the Pareto figure written; the `nas` run's
# width-scaled student rows; and --remeasure validating a fresh latency table on the found
# architectures in one onnxruntime-node process.
import json
import shutil

import pytest

from training.nas_report import (STUDENT, NasReportConfig, group_rows, load_runs, markdown, run_report,
                                 summarise, target_check)


def _row(top1, ms1, ms8, arch=("k3_e3",), predicted=None, width=None):
    r = {"architecture": list(arch), "val_top1": top1 - 0.01, "test_top1": top1,
         "measured_ms": {"1": ms1, "8": ms8}, "predicted_ms": predicted or {}, "onnx": "x.onnx"}
    if predicted:
        r["search_cpu_s"] = 100.0
    if width is not None:
        r["width_mult"] = width
    return r


def _write_run(d, seed, found_top1, student_top1):
    d.mkdir(parents=True)
    rows = {"found, lambda 0.3": _row(found_top1, 0.1, 0.7, ("k3_e3", f"k5_e{3 + 3 * seed}"),
                                       predicted={"1": 0.11, "8": 0.6}),
            STUDENT + " x0.75": _row(student_top1 - 0.02, 0.4, 1.3, width=0.75),
            STUDENT: _row(student_top1, 0.5, 1.7, width=1.0)}
    (d / "nas.json").write_text(json.dumps({"rows": rows, "config": {"seed": seed, "latency": {"batches": [1, 8]}}}))


def test_report_groups_seeds_checks_the_target_and_draws_the_figure(tmp_path):
    for seed, (f, s) in enumerate([(0.30, 0.25), (0.32, 0.24), (0.31, 0.26)]):
        _write_run(tmp_path / f"s{seed}", seed, f, s)
    table = {"command": "nas-latency X", "validation_max_abs_error": {"1": 0.05, "8": 0.02},   # validated on seed 0's child
             "validation": [{"architecture": ["k3_e3", "k5_e3"], "batch 1": {"predicted_ms": 0.105, "measured_ms": 0.1, "error": 0.05},
                             "batch 8": {"predicted_ms": 0.686, "measured_ms": 0.7, "error": -0.02}}]}
    (tmp_path / "table.json").write_text(json.dumps(table))
    res = run_report(NasReportConfig(runs=tuple(str(tmp_path / f"s{k}") for k in range(3)), out_dir=str(tmp_path / "r"),
                                     figure=str(tmp_path / "docs" / "pareto.png"), latency_table=str(tmp_path / "table.json")),
                     log=lambda m: None)
    found = res["summary"]["found, lambda 0.3"]
    assert found["seeds"] == [0, 1, 2] and found["test_top1"]["mean"] == pytest.approx(0.31)
    assert found["test_top1"]["sd"] == pytest.approx(0.01)
    assert found["error"]["1"] == pytest.approx([0.1] * 3) and found["architectures"][1] == "k3_e3 k5_e6"
    c = res["target"]["found, lambda 0.3"]
    assert c["latency_ratio"] == pytest.approx(0.2) and c["top1_diff"] == pytest.approx(0.06)
    assert c["clear"] and c["met"]
    w = c["widths"]["x0.75"]                      # 0.25x its latency, +8 points
    assert w["latency_ratio"] == pytest.approx(0.25) and w["top1_diff"] == pytest.approx(0.08) and w["clear"]
    for png in (tmp_path / "r" / "nas-pareto.png", tmp_path / "docs" / "pareto.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    md = (tmp_path / "r" / "nas-report.md").read_text()
    assert "| found, lambda 0.3 | 3 | 31.0 ± 1.0 |" in md and "+10 %, +10 %, +10 %" in md and ": met" in md
    assert "| found, lambda 0.3 | 0 | `k3_e3 k5_e3` | 0.105 / 0.100, +5 % | 0.686 / 0.700, -2 % |" in md
    assert "| found, lambda 0.3 | 1 | `k3_e3 k5_e6` | not validated | not validated |" in md


def test_target_is_not_met_within_the_noise_or_when_slower(tmp_path):
    for seed, (f, s) in enumerate([(0.31, 0.25), (0.21, 0.26)]):
        _write_run(tmp_path / f"s{seed}", seed, f, s)
    summary = summarise(group_rows(load_runs([tmp_path / "s0", tmp_path / "s1"])))
    c = target_check(summary)["found, lambda 0.3"]
    assert c["faster_0_9"] and c["matches"] and not c["clear"] and not c["met"]   # +0.5 points, sd 7
    summary["found, lambda 0.3"]["measured_ms"]["1"]["mean"] = 0.48               # 0.96x: not fast enough
    assert not target_check(summary)["found, lambda 0.3"]["met"]
    assert "not met (difference not larger than the sd)" in markdown(summary, target_check(summary), None)


def test_runs_of_one_seed_join_unless_they_repeat_a_row(tmp_path):
    _write_run(tmp_path / "a", 0, 0.3, 0.2)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    with pytest.raises(ValueError, match="share a seed and a row"):
        load_runs([tmp_path / "a", tmp_path / "b"])
    # a second run of seed 0 with other rows (a latency target, no student) joins the first
    (tmp_path / "c").mkdir()
    target_row = _row(0.4, 0.2, 0.9, predicted={"1": 0.2, "8": 0.9})
    (tmp_path / "c" / "nas.json").write_text(json.dumps({"config": {"seed": 0, "latency": {"batches": [1, 8]}},
                                                         "rows": {"found, target 0.3 ms, lambda 1": target_row}}))
    groups = group_rows(load_runs([tmp_path / "a", tmp_path / "c"]))
    assert [r["seed"] for r in groups["found, target 0.3 ms, lambda 1"]] == [0] and len(groups[STUDENT]) == 1


def test_nas_run_trains_width_scaled_students_and_remeasure_times_them(tmp_path):
    from training.data.shapes import hard_config
    from training.models.supernet import SupernetConfig
    from training.nas_latency import LatencyConfig
    from training.nas_run import NasRunConfig, run_nas

    space = SupernetConfig(num_classes=8, stem_channels=8, plan=[(8, 2), (12, 2)], kernels=[3, 5], expansions=[2],
                           se=[False], head_channels=16)
    lat = LatencyConfig(warmup=1, rounds=3, runs_per_round=1, profile_runs=2, reference_copies=1, validate=1)
    cfg = NasRunConfig(out_dir=str(tmp_path / "s0"), supernet=space, latency_table=str(tmp_path / "missing.json"),
                       latency=lat, lambdas=(1.0,), student_widths=(0.5, 1.0), warmup_steps=2, search_steps=2,
                       arch_every=1, child_steps=2, batch_size=4, log_every_steps=1,
                       data=hard_config(task="fine", train_per_class=2, val_per_class=1, test_per_class=1, workers=1))
    rows = run_nas(cfg)["rows"]
    assert list(rows) == ["found, lambda 1", STUDENT + " x0.5", STUDENT]
    assert rows[STUDENT + " x0.5"]["width_mult"] == 0.5 and rows[STUDENT + " x0.5"]["parity"] <= 1e-4
    assert rows["found, lambda 1"]["warmup_cpu_s"] <= rows["found, lambda 1"]["search_cpu_s"]
    res = run_report(NasReportConfig(runs=(cfg.out_dir,), out_dir=str(tmp_path / "r"), remeasure=True, latency=lat,
                                     latency_table=str(tmp_path / "s0" / "nas_latency.json")), log=lambda m: None)
    # the run's table against the fresh measurement: the same reference children, timed twice
    run_table = json.loads((tmp_path / "s0" / "nas_latency.json").read_text())
    for b in ("1", "8"):
        rep = res["remeasured"]["repeat"][b]
        assert rep["graphs_timed_twice"] == len(run_table["reference_children"]) and rep["children"] >= 1
        assert 0.0 <= rep["mean_abs_error"] <= rep["max_abs_error"] and rep["drift_min"] <= rep["drift_median"] <= rep["drift_max"]
    assert "graphs both measurements timed moved by" in res["markdown"]
    table = json.loads((tmp_path / "r" / "nas_latency_remeasured.json").read_text())
    arch = rows["found, lambda 1"]["architecture"]
    held_out = arch not in table["reference_children"]
    assert (arch in [v["architecture"] for v in table["validation"]]) == held_out   # validated on the found child
    got = res["remeasured"]["rows"]
    assert set(got) == ({"found, lambda 1"} if held_out else set())
    for r in got.get("found, lambda 1", []):
        assert set(r["measured_ms"]) == set(r["predicted_fresh_ms"]) == {"1", "8"}
        assert r["predicted_run_ms"] == rows["found, lambda 1"]["predicted_ms"]


def test_a_table_measured_before_the_searches_says_so_instead_of_listing_them(tmp_path):
    _write_run(tmp_path / "s0", 0, 0.3, 0.2)
    summary = summarise(group_rows(load_runs([tmp_path / "s0"])))
    v = {"architecture": ["k7_e6", "skip"], "batch 1": {"predicted_ms": 0.1, "measured_ms": 0.1, "error": 0.02},
         "batch 8": {"predicted_ms": 0.5, "measured_ms": 0.5, "error": -0.04}}
    table = {"command": "nas-latency", "validation": [v], "validation_max_abs_error": {"1": 0.02, "8": 0.04}}
    md = markdown(summary, {}, None, table=table)
    assert "was measured before these searches" in md and "not validated" not in md
    assert "|error| at most 2.0 % at batch 1, 4.0 % at batch 8" in md
    v["architecture"] = summary["found, lambda 0.3"]["architectures"][0].split()   # now it holds the found one
    md = markdown(summary, {}, None, table=table)
    assert "was measured before" not in md and "0.100 / 0.100, +2 %" in md
