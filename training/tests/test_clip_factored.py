# The factored image tower and the mean-pooled text tower: the shape branch is blind to
# hue, the colour branch to layout, the image embedding is the sum of the two, a word-sum
# text tower is additive in colour and shape words, and both export with parity.
import json

import pytest
import torch

from training.data.tokenizer import EOT_ID, get_tokenizer
from training.data.transforms import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig
from training.export import export_miniclip
from training.models.clip import ClipModelConfig, MiniCLIP, TextConfig

MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
TEXTS = ["a photo of a pink heart.", "a photo of a pink square.", "a photo of a red heart.", "a photo of a red square."]


def _model(**text):
    torch.manual_seed(0)
    kept = sorted(set(get_tokenizer()(TEXTS).flatten().tolist()) - {0})
    tc = TextConfig(token_ids=kept, width=32, heads=2, **text)
    return MiniCLIP(ClipModelConfig(embed_dim=16, image_width=8, image_tower="factored", colour_width=8, text=tc)).eval()


def _rgb():
    # a coloured square on a grey background, 0..1 RGB
    x = torch.full((2, 3, 64, 64), 0.45) + 0.05 * torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    x[0, :, 12:40, 16:44] = torch.tensor([0.95, 0.43, 0.75]).view(3, 1, 1)   # pink
    x[1, :, 20:52, 8:36] = torch.tensor([0.86, 0.12, 0.12]).view(3, 1, 1)    # red
    return x


def _norm(rgb):
    return (rgb - MEAN) / STD


def test_shape_branch_is_blind_to_hue_and_colour_branch_to_layout():
    v = _model().visual
    rgb = _rgb()
    with torch.no_grad():
        shape = lambda x: v.shape((v.chroma(x) - 0.25) / 0.3)  # noqa: E731
        colour = lambda x: v.forward(x) - shape(x)  # noqa: E731
        # any permutation of the RGB channels is another hue with the same chroma
        assert torch.allclose(shape(_norm(rgb)), shape(_norm(rgb[:, [2, 0, 1]])), atol=1e-5)
        # shuffling 4x4 blocks (the colour branch's pooling cell) keeps the colour histogram
        blocks = rgb.unfold(2, 4, 4).unfold(3, 4, 4).reshape(2, 3, 256, 4, 4)
        perm = torch.randperm(256, generator=torch.Generator().manual_seed(2))
        shuffled = blocks[:, :, perm].reshape(2, 3, 16, 16, 4, 4).permute(0, 1, 2, 4, 3, 5).reshape(2, 3, 64, 64)
        assert torch.allclose(colour(_norm(rgb)), colour(_norm(shuffled)), atol=1e-5)
        # and neither is trivial: the shape term sees the layout, the colour term the hue
        assert not torch.allclose(shape(_norm(rgb)), shape(_norm(shuffled)), atol=1e-3)
        assert not torch.allclose(colour(_norm(rgb)), colour(_norm(rgb[:, [2, 0, 1]])), atol=1e-3)


def test_chroma_jitter_only_in_training():
    v = _model().visual
    x = _norm(_rgb())
    with torch.no_grad():
        assert torch.equal(v(x), v(x))
        v.train()
        a, b = v(x), v(x)
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="chroma_jitter"):
        MiniCLIP(ClipModelConfig(image_tower="factored", chroma_jitter=1.5))


def test_rgb_shape_input_ablation_sees_hue():
    torch.manual_seed(0)
    v = MiniCLIP(ClipModelConfig(embed_dim=16, image_width=8, image_tower="factored", shape_input="rgb")).visual.eval()
    rgb = _rgb()
    with torch.no_grad():
        assert not torch.allclose(v.shape(_norm(rgb)), v.shape(_norm(rgb[:, [2, 0, 1]])), atol=1e-3)
    with pytest.raises(ValueError, match="shape_input"):
        MiniCLIP(ClipModelConfig(image_tower="factored", shape_input="luma"))


def test_mean_pooled_word_sum_text_is_additive_and_ignores_padding():
    m = _model(layers=0, pooling="mean")
    with torch.no_grad():
        pad0 = m.text(get_tokenizer(pad_id=0)(TEXTS))
        e = m.text(get_tokenizer(pad_id=EOT_ID)(TEXTS))
    assert torch.allclose(pad0, e, atol=1e-5)
    pink_heart, pink_square, red_heart, red_square = e
    # the unseen "pink heart" is "pink square" + (heart - square) learned on red
    assert torch.allclose(pink_heart, pink_square + red_heart - red_square, atol=1e-5)
    with pytest.raises(ValueError, match="pooling"):
        _model(pooling="max")


def test_factored_tower_and_mean_pooling_export_with_parity(tmp_path):
    m = _model(layers=1, pooling="mean")
    card = export_miniclip(m.visual, m.text, 30.0, PreprocessConfig(), tmp_path, "miniclip-factored",
                           card={"zeroShot": {}}, log=lambda s: None)
    assert card["onnx"]["parity"]["worst"] <= 1e-4 and card["onnx"]["parity"]["items"] >= 4
    assert json.loads((tmp_path / "miniclip-factored" / "model.json").read_text())["kind"] == "clip"
