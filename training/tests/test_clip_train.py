# MiniCLIP end to end at smoke size on a tiny procedural dataset: the caption loader
# drops held-out combinations, zero-shot eval scores all 64 prompts, the `clip` CLI
# trains, distills and exports a servable model folder; plus the eval arithmetic.
import json

import pytest
import torch

from training.data.captions import load_caption_jsonl
from training.train_clip import zero_shot_eval
from training.data.shapes import COLOURS, SHAPES, ShapesConfig, generate, heldout_combinations
from training.data.transforms import PreprocessConfig


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    generate(ShapesConfig(root=str(root), train_per_class=2, val_per_class=1, test_per_class=1, workers=1),
             splits=("train", "val", "test"), log=lambda s: None)
    return root


def test_caption_loader_excludes_heldout(tiny_data):
    held = set(heldout_combinations())
    pp = PreprocessConfig()
    ds = load_caption_jsonl(tiny_data / "captions_train.jsonl", pp, keep=lambda r: (r["colour"], r["shape"]) not in held)
    assert len(ds) == 2 * 56 and len(ds.texts) == 56
    assert ds.images.shape == (112, 3, 64, 64) and ds.images.dtype == torch.uint8
    assert not any((r["colour"], r["shape"]) in held for r in ds.records)
    assert all(ds.texts[int(l)] == c for l, c in zip(ds.labels, ds.captions))
    sub = load_caption_jsonl(tiny_data / "captions_train.jsonl", pp, limit=16)
    assert len(sub.texts) == 16  # spread over the file, not the first class only


def test_zero_shot_eval_scores_every_prompt(tiny_data):
    pp = PreprocessConfig()
    test = load_caption_jsonl(tiny_data / "captions_test.jsonl", pp)
    combos = [(c, s) for c in COLOURS for s in SHAPES]
    truth = torch.tensor([combos.index((r["colour"], r["shape"])) for r in test.records])

    # an "oracle" image encoder: one-hot of the true combination; text encoder: one-hot of
    # the prompt's row -> top-1 must be 1.0 on held-out and seen images
    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.i = 0

        def forward(self, x):
            out = torch.nn.functional.one_hot(truth[self.i:self.i + len(x)], 64).float()
            self.i += len(x)
            return out

    res = zero_shot_eval(Oracle(), lambda ids: torch.eye(64), test, list(COLOURS), SHAPES, heldout_combinations(), pp)
    assert res["prompts"] == 64 and res["heldout_images"] == 8 and res["seen_images"] == 56
    assert res["heldout_top1"] == 1.0 and res["seen_top1"] == 1.0


def test_clip_cli_smoke_trains_distills_exports(tiny_data, tmp_path):
    from training.cli import main

    rc = main(["clip", "--smoke", "--data", str(tiny_data), "--out", str(tmp_path / "work"), "--repo", str(tmp_path / "models"),
               "--set", "limit_train=64", "--set", "train.teacher.steps=2", "--set", "train.student.steps=2"])
    assert rc == 0
    d = tmp_path / "models" / "miniclip-shapes"
    man = json.loads((d / "model.json").read_text())
    assert man["kind"] == "clip" and man["clip"]["embeddingSize"] == 32
    card = json.loads((d / "1" / "eval.json").read_text())
    assert set(card["zeroShot"]["student"]) >= {"heldout_top1", "seen_top1"}
    assert card["studentImageEncoder"]["params"] > 0 and card["teacherImageEncoder"]["flops"] > 0
    assert card["onnx"]["parity"]["worst"] <= 1e-4
    # every held-out pair is listed; the validation figures and the calibration come from the val split
    assert set(card["zeroShot"]["student"]["heldout_per_pair"]) == {f"{c}_{s}" for c, s in heldout_combinations()}
    assert card["zeroShot"]["validation"]["split"] == "val"
    ml = card["multiLabel"]
    assert ml["scale"] > 0 and man["clip"]["multiLabel"] == {"scale": ml["scale"], "bias": ml["bias"]}
    assert set(ml["calibrated"]) >= {"precision", "recall"} and ml["labels"][:8] == list(COLOURS)
    assert "Zero-shot top-1 per held-out pair" in (d / "MODEL_CARD.md").read_text()
    # `calibrate` refits an exported model from its ONNX encoders (onnxruntime-node) and rewrites its files
    assert main(["calibrate", "--model", str(d), "--data", str(tiny_data)]) == 0
    refit = json.loads((d / "1" / "eval.json").read_text())["multiLabel"]
    assert refit["runtime"] == "onnxruntime-node" and len(refit["zeroShotHeldoutPerPair"]) == 8
    assert json.loads((d / "model.json").read_text())["clip"]["multiLabel"] == {"scale": refit["scale"], "bias": refit["bias"]}
    for f in ("config.yaml", "metrics.json", "train.log", "teacher.pt", "student.pt"):
        assert (tmp_path / "work" / f).is_file(), f
