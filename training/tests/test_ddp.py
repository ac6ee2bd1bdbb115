# DDP smoke: two CPU processes with the environment torchrun would set (RANK, WORLD_SIZE,
# LOCAL_RANK, MASTER_ADDR, MASTER_PORT) run the real training code path (gloo,
# DistributedSampler) for a few steps; their weights must stay identical. Debian's torch
# 1.13 torchrun launcher fails on Python 3.11, so the test launches the processes itself.
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from training.config import seed_everything
from training.data.shapes import ShapesConfig, generate
from training.models import ModelConfig, create_model

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import sys, torch
from training.config import resolve
from training.train import TrainConfig, run
out = sys.argv[1]
cfg = resolve(TrainConfig, overrides=[f"data_root={out}/data", f"out_dir={out}/run", "epochs=2", "max_steps=4",
                                      "batch_size=16", "warmup_steps=1", "log_every_steps=1",
                                      "model.resnet_width=8", "model.arch=resnet_teacher"])
res = run(cfg)
import os
# parameters only: BatchNorm buffers are broadcast from rank 0 at each forward, so after
# the last local forward they legitimately differ by one update
torch.save(dict(res["model"].named_parameters()), f"{out}/rank{os.environ['RANK']}.pt")
print("steps", res["steps"], "world", res["world_size"])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_keeps_weights_identical(tmp_path):
    generate(ShapesConfig(root=str(tmp_path / "data"), train_per_class=2, val_per_class=1, test_per_class=0,
                          workers=1), splits=("train", "val"), log=lambda *_: None)
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "CUDA_VISIBLE_DEVICES": ""}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)], cwd=REPO_ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (so, se) in zip(procs, outs):
        assert p.returncode == 0, se[-3000:]
        assert "world 2" in so and "steps 4" in so
    a = torch.load(tmp_path / "rank0.pt")
    b = torch.load(tmp_path / "rank1.pt")
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and training actually moved the weights away from the (seeded) initialisation
    seed_everything(0)
    init = dict(create_model(ModelConfig(arch="resnet_teacher", resnet_width=8)).named_parameters())
    assert any(not torch.equal(a[k], init[k]) for k in a)
