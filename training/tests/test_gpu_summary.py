"""training/gpu/summarize.py over result files written by the runs' own writers: the learning
rate of each row is the first seed's best on validation, and the paired difference is per seed."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from training.crossmodal_run import CROSS_MODAL, IMAGE_ONLY, CrossModalRunConfig, _write as write_xm
from training.simmim_run import SimMIMRunConfig, _write as write_sm

_spec = importlib.util.spec_from_file_location("summarize", Path(__file__).parents[1] / "gpu" / "summarize.py")
summarize = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summarize)

PAIRS = ["circle / ring", "star / star6", "square / notched_square", "triangle / dotted_triangle"]


def _xm(root: Path, lr: str, seed: int, image_only: tuple, cross: tuple) -> None:
    out = root / f"xm-lr{lr}-s{seed}"
    out.mkdir()
    results = {row: {c: [test] for c in ["all"] + PAIRS} for row, (test, _) in ((IMAGE_ONLY, image_only), (CROSS_MODAL, cross))}
    results["MiniCLIP cosine (zero-shot, miniclip-shapes)"] = {c: [0.2] for c in ["all"] + PAIRS}
    val = {IMAGE_ONLY: [image_only[1]], CROSS_MODAL: [cross[1]]}
    write_xm(CrossModalRunConfig(), out, results, val, time.perf_counter(), {IMAGE_ONLY: float(lr), CROSS_MODAL: float(lr)}, {})


def test_rates_are_chosen_on_the_first_seeds_validation_and_differences_are_paired(tmp_path):
    # (test, val): lr 0.004 wins validation for cross-modal on seed 0, lr 0.001 for image-only,
    # although lr 0.004 is better on the image-only row's test split: test must not choose.
    for seed, (a1, c1, a4, c4) in enumerate([((0.50, 0.50), (0.52, 0.40), (0.70, 0.30), (0.60, 0.60)),
                                             ((0.30, 0.30), (0.50, 0.50), (0.70, 0.30), (0.35, 0.35))]):
        _xm(tmp_path, "0.001", seed, a1, c1)
        _xm(tmp_path, "0.004", seed, a4, c4)
    rows = summarize.collect(tmp_path, "xm", "crossmodal")
    assert set(rows) == {IMAGE_ONLY, CROSS_MODAL}  # the untrained MiniCLIP row has no rate to choose
    text = "\n".join(summarize.report("crossmodal", rows))
    assert f"| {IMAGE_ONLY} | 0.001 (chosen) | 40.0 ± 14.1 |" in text
    assert f"| {CROSS_MODAL} | 0.004 (chosen) | 47.5 ± 17.7 |" in text
    assert "difference (second - first) 7.5 ± 3.5 points, per seed +10.0, +5.0." in text


def test_simmim_rows_and_probes(tmp_path):
    for lr, ft, sc in (("0.001", (0.20, 0.25), (0.15, 0.10)), ("0.004", (0.30, 0.20), (0.18, 0.12))):
        out = tmp_path / f"sm-lr{lr}-s0"
        out.mkdir()
        results = {"linear probe, pre-trained encoder, 10 % labels": [0.16], "SimMIM fine-tune, 10 %": [ft[0]],
                   "scratch, 10 %": [sc[0]]}
        val = {"SimMIM fine-tune, 10 %": [ft[1]], "scratch, 10 %": [sc[1]]}
        write_sm(SimMIMRunConfig(), out, results, val, {}, time.perf_counter(), {}, {})
    text = "\n".join(summarize.report("simmim", summarize.collect(tmp_path, "sm", "simmim")))
    assert "| SimMIM fine-tune, 10 % | 0.001 (chosen) | 20.0 ± 0.0 | 1 | 25.0 |" in text
    assert "| scratch, 10 % | 0.004 (chosen) | 18.0 ± 0.0 | 1 | 12.0 |" in text
    assert "linear probe" not in text
