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
               "--set", "limit_train=64", "--set", "train.teacher.steps=2", "--set", "train.student.steps=2",
               "--set", "distill=true", "--set", "export_tower=student"])
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


def test_partial_captions_positives_are_the_texts_true_of_each_image(tiny_data):
    from training.train_clip import _PartialCaptions
    from training.data.tokenizer import get_tokenizer

    held = set(heldout_combinations())
    ds = load_caption_jsonl(tiny_data / "captions_train.jsonl", PreprocessConfig(),
                            keep=lambda r: (r["colour"], r["shape"]) not in held)
    pc = _PartialCaptions(ds, pad_id=49407)
    idx = torch.arange(len(ds))
    tokens, pos, _ = pc.batch(idx, 1.0, torch.Generator().manual_seed(0))  # every caption partial
    decode = {tuple(get_tokenizer(pad_id=49407)([t])[0].tolist()): t.rstrip(".")
              for t in [f"a photo of a {w}" for w in list(COLOURS) + SHAPES] +
              [f"a photo of a {w}." for w in list(COLOURS) + SHAPES]}
    texts = [decode[tuple(t.tolist())] for t in tokens]
    words = [t.rsplit(" ", 1)[1] for t in texts]
    for i, r in enumerate(ds.records):
        assert words[i] in (r["colour"], r["shape"])  # each image's own text names its colour or its shape
        for j, w in enumerate(words):
            assert bool(pos[i, j]) == (w in (r["colour"], r["shape"]))
    # without partial captions every image has its own pair's caption, and only same-pair images share it
    _, pos, grey = pc.batch(idx, 0.0, torch.Generator().manual_seed(0), True)
    assert torch.equal(pos, ds.labels[:, None] == ds.labels[None, :]) and not grey.any()
    # grey_shape_only: the images with a shape-only caption go grey, and nothing naming a colour is true of them
    tokens, pos, grey = pc.batch(idx, 1.0, torch.Generator().manual_seed(0), True)
    texts = [decode[tuple(t.tolist())] for t in tokens]
    shape_only = torch.tensor([t.rsplit(" ", 1)[1] in SHAPES for t in texts])
    assert torch.equal(grey, shape_only) and 0 < int(grey.sum()) < len(idx)
    names_colour = ~shape_only
    assert not (pos[grey][:, names_colour]).any()
    assert pc.n_pairs == 56 and len(pc.tokens) == 56 + 8 + 8  # no caption of a held-out pair exists


def test_clip_seeds_lists_every_pair_with_mean_and_sd(tiny_data, tmp_path):
    from training.cli import main

    rc = main(["clip", "--smoke", "--seeds", "0,1", "--data", str(tiny_data), "--out", str(tmp_path),
               "--set", "limit_train=64", "--set", "train.teacher.steps=2", "--set", "distill=false",
               "--set", "export_tower=teacher", "--set", "train.partial_captions=0.5",
               "--set", "train.label_smoothing=0.1"])
    assert rc == 0
    res = json.loads((tmp_path / "zero_shot_seeds.json").read_text())
    assert res["tower"] == "teacher" and res["seeds"] == [0, 1]
    for split in ("val", "test"):
        pairs = res[split]["heldoutPerPair"]
        assert set(pairs) == {f"{c}_{s}" for c, s in heldout_combinations()}
        assert all(len(v["runs"]) == 2 and v["sd"] >= 0 for v in pairs.values())
    md = (tmp_path / "zero_shot_seeds.md").read_text()
    assert "blue_circle" in md and "± " in md and "targets met" in md
    assert not (tmp_path / "seed0" / "student.pt").exists()


def test_to_grey_replaces_only_the_chosen_images_by_their_luma():
    from training.data.transforms import normalize
    from training.train_clip import _to_grey

    pp = PreprocessConfig()
    u8 = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    u8[:, 0] = 200  # red
    x = normalize(u8, pp)
    out = _to_grey(x, torch.tensor([True, False]), pp, torch.contiguous_format)
    raw = out * torch.tensor(pp.std).view(1, 3, 1, 1) + torch.tensor(pp.mean).view(1, 3, 1, 1)
    assert torch.allclose(raw[0], torch.full_like(raw[0], 0.299 * 200 / 255), atol=1e-5)
    assert torch.equal(out[1], x[1])
