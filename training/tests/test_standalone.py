# The package stands alone: nothing refers to files outside the repository, and a copy of
# training/ installed with pip into a fresh virtual environment, run from an empty folder far
# from the repository, trains and exports with onnxruntime-node parity (its data files and the
# parity script are package data; onnxruntime-node comes from --node-modules), or fails
# loudly, before training, when onnxruntime-node cannot be found.
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[1]
REPO_ROOT = TRAINING.parent
NODE_MODULES = REPO_ROOT / "node_modules"


def test_no_file_refers_outside_the_repository():
    pattern = re.compile(r"\.\./shared|/shared/data|parents\[[3-9]\]")
    offenders = []
    for p in TRAINING.rglob("*"):
        if p.is_file() and p.suffix in {".py", ".cjs", ".toml", ".md", ".yaml", ".txt"} and "runs" not in p.parts:
            for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if pattern.search(line) and p.name != Path(__file__).name:
                    offenders.append(f"{p.relative_to(REPO_ROOT)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _run(exe, args, cwd, env, timeout=600):  # hang guards, not speed checks
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """gateway-training pip-installed (no deps: Debian provides torch & co. through
    --system-site-packages; no index is reachable) from a copy of training/."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    shutil.copytree(TRAINING, src, ignore=shutil.ignore_patterns("runs", "build", "*.egg-info", "__pycache__", "tests"))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root / "venv")], check=True, timeout=120)
    pip = subprocess.run([str(root / "venv" / "bin" / "pip"), "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", str(src)], capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GATEWAY_TRAINING_NODE_MODULES")}
    env["TRAINING_THREADS"] = "1"
    work = root / "work"
    work.mkdir()
    exe = root / "venv" / "bin" / "gateway-training"
    data = _run(exe, ["data", "--out", str(work / "data"), "--set", "train_per_class=2", "--set", "val_per_class=1",
                      "--set", "test_per_class=1", "--set", "workers=1"], work, env)
    assert data.returncode == 0, data.stderr[-3000:]
    return exe, work, env


def test_installed_clip_and_export_pass_onnxruntime_parity(installed):
    exe, work, env = installed
    clip = _run(exe, ["--node-modules", str(NODE_MODULES), "clip", "--smoke", "--data", "data", "--out", "clipwork",
                      "--repo", "models", "--set", "train.teacher.steps=2", "--set", "train.student.steps=2"], work, env)
    assert clip.returncode == 0, clip.stderr[-3000:]
    vdir = work / "models" / "miniclip-shapes" / "1"
    card = json.loads((vdir / "eval.json").read_text())
    assert set(card["onnx"]["parity"]["graphs"]) == {"image", "text"} and card["onnx"]["parity"]["worst"] <= 1e-4
    assert (vdir / "tokenizer.json").stat().st_size > 1_000_000  # the packaged vocabulary, copied beside the model

    train = _run(exe, ["train", "--data", "data", "--out", "cls", "--set", "max_steps=2", "--set", "batch_size=16",
                       "--set", "warmup_steps=1", "--set", "model.arch=resnet_teacher", "--set", "model.resnet_width=8"],
                 work, env)
    assert train.returncode == 0, train.stderr[-3000:]
    env2 = dict(env, GATEWAY_TRAINING_NODE_MODULES=str(NODE_MODULES))  # the environment variable works too
    export = _run(exe, ["export", "--checkpoint", "cls/model.pt", "--repo", "models", "--name", "tiny"], work, env2)
    assert export.returncode == 0, export.stderr[-3000:]
    ort = json.loads((work / "models" / "tiny" / "1" / "eval.json").read_text())["onnx"]["ortParity"]
    assert set(ort["graphs"]) == {"model"} and ort["worst"] <= 1e-4 and ort["runtime"].startswith("onnxruntime-node")

    # eval of the exported graph through onnxruntime-node agrees with eval of the checkpoint
    by_onnx = _run(exe, ["eval", "--onnx", "models/tiny", "--data", "data/test"], work, env2)
    by_torch = _run(exe, ["eval", "--checkpoint", "cls/model.pt", "--data", "data/test"], work, env2)
    assert by_onnx.returncode == 0 and by_torch.returncode == 0, by_onnx.stderr[-3000:] + by_torch.stderr[-3000:]
    a, b = json.loads(by_onnx.stdout), json.loads(by_torch.stdout)
    assert a["runtime"] == "onnxruntime-node" and a["n"] == b["n"] == 64
    # same predictions up to a near-tie of the barely trained model's logits (ORT vs PyTorch ~1e-6)
    assert abs(a["top1"] - b["top1"]) <= 1 / 64 + 1e-9


def test_installed_export_without_onnxruntime_node_fails_before_training(installed):
    exe, work, env = installed
    proc = _run(exe, ["clip", "--smoke", "--data", "data", "--out", "nowork", "--repo", "nomodels"], work, env)
    assert proc.returncode == 3
    assert "onnxruntime-node not found" in proc.stderr and "--node-modules" in proc.stderr
    assert not (work / "nowork").exists() and not (work / "nomodels").exists()
    bad = _run(exe, ["--node-modules", str(work), "export", "--checkpoint", "x.pt", "--repo", "nomodels"], work, env)
    assert bad.returncode == 3 and f"onnxruntime-node not found in {work}" in bad.stderr
