# MiniCLIP model properties the export and the gateway rely on: the EOT read-out makes
# the text embedding independent of padding and of trailing positions, unknown ids share
# one UNK row, shapes and the logit scale clamp.
import torch

from training.models.clip import ClipModelConfig, MiniCLIP, TextConfig, count_flops, count_params
from training.data.tokenizer import EOT_ID, SOT_ID, get_tokenizer
from training.train_clip import caption_variants, _train_len

TEXTS = ["a photo of a red star.", "a photo of a blue cross", "a photo of a dog."]


def _model(**kw):
    torch.manual_seed(0)
    kept = sorted(set(get_tokenizer()(TEXTS[:2]).flatten().tolist()) - {0})
    cfg = ClipModelConfig(embed_dim=16, image_width=8, text=TextConfig(token_ids=kept, width=32, layers=2, heads=2), **kw)
    return MiniCLIP(cfg).eval()


def test_shapes_and_normalized_forward():
    m = _model()
    img, txt, scale = m(torch.randn(3, 3, 64, 64), get_tokenizer()(TEXTS))
    assert img.shape == (3, 16) and txt.shape == (3, 16)
    assert torch.allclose(img.norm(dim=-1), torch.ones(3)) and torch.allclose(txt.norm(dim=-1), torch.ones(3))
    assert abs(float(scale) - 1 / 0.07) < 1e-3


def test_text_embedding_ignores_padding_and_trailing_positions():
    m = _model()
    with torch.no_grad():
        a = m.encode_text(get_tokenizer(pad_id=0)(TEXTS))
        b = m.encode_text(get_tokenizer(pad_id=EOT_ID)(TEXTS))
        c = m.encode_text(get_tokenizer(pad_id=EOT_ID)(TEXTS)[:, :12])  # the training shortcut
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-5)


def test_unknown_ids_share_the_unk_row():
    m = _model()
    t = m.text
    n_kept = len(t.kept_ids)
    assert SOT_ID in t.kept_ids and EOT_ID in t.kept_ids
    assert t.token_embedding.num_embeddings == n_kept + 1
    dog, cat = get_tokenizer().encode("dog")[0], get_tokenizer().encode("cat")[0]
    assert int(t.id_map[dog]) == int(t.id_map[cat]) == n_kept
    with torch.no_grad():
        x = m.encode_text(get_tokenizer()(["a photo of a dog.", "a photo of a cat."]))
    assert torch.allclose(x[0], x[1], atol=1e-6)


def test_logit_scale_clamped_at_100():
    m = _model(init_logit_scale=500.0)
    assert abs(float(m.logit_scale()) - 100.0) < 1e-3


def test_counts_and_helpers():
    m = _model()
    assert count_params(m.visual) > 0
    # stem 3x3 conv, stride 2: 32*32 outputs * 8 channels * 27 MACs; the total is larger
    assert count_flops(m.visual, torch.zeros(1, 3, 64, 64)) > 2 * 32 * 32 * 8 * 27
    assert caption_variants("a photo of a red star") == ["a photo of a red star", "a photo of a red star."]
    assert caption_variants("a photo of a red star.") == ["a photo of a red star.", "a photo of a red star"]
    assert _train_len(get_tokenizer()(TEXTS)) == 9  # SOT + 7 BPE ids + EOT of the longest, position 8
