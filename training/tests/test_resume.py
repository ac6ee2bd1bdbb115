# `train --resume`: a run killed (SIGKILL) after its first epoch and resumed from last.pt
# ends with exactly the weights of the same run left alone; the run folder holds
# metrics.jsonl (per-step losses, per-epoch metrics) and curves.svg.
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from training.data.shapes import ShapesConfig, generate

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    generate(ShapesConfig(root=str(root), train_per_class=2, val_per_class=1, workers=1), splits=("train", "val"),
             log=lambda s: None)
    return root


def _cmd(data, out, *extra):
    return [sys.executable, "-m", "training", "train", "--data", str(data), "--out", str(out), "--set", "epochs=4",
            "--set", "batch_size=16", "--set", "warmup_steps=2", "--set", "threads=1", "--set", "log_every_steps=2",
            "--set", "model.dynamic_blocks=1", *extra]


def test_killed_run_resumes_to_the_same_weights(data, tmp_path):
    env = dict(os.environ, TRAINING_THREADS="1")
    ref = subprocess.run(_cmd(data, tmp_path / "ref"), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]

    run = tmp_path / "run"
    proc = subprocess.Popen(_cmd(data, run), cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (run / "last.pt").exists():  # the first epoch's checkpoint
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before its first checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (run / "model.pt").exists()  # it really was cut short
    killed_at = torch.load(run / "last.pt")["epoch"]
    assert killed_at < 4

    res = subprocess.run(_cmd(data, run, "--resume"), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"resume: {run / 'last.pt'} at epoch {killed_at}" in res.stderr
    a = torch.load(tmp_path / "ref" / "model.pt")["state_dict"]
    b = torch.load(run / "model.pt")["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if "val_top1" in r] == [1, 2, 3, 4]
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == sorted(set(steps))  # no step logged twice across the kill
    assert all({"loss", "lr", "temperature", "ce_loss"} <= set(r) for r in rows if "loss" in r)
    assert (run / "curves.svg").read_text().startswith("<svg") and "polyline" in (run / "curves.svg").read_text()
