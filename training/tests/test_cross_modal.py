# Cross-modal attention (training/models/cross_modal.py): the einsum shapes against an
# explicit per-image, per-candidate, per-head loop; padded text tokens get no weight and
# cannot change the output; the classifier scores any candidate set in the order given;
# a tiny batch is driven to near-zero loss (the model can learn at all: gradients reach the
# backbone, the text tower and the matching head); the `crossmodal` run at toy size chooses
# each row's learning rate on validation and writes its table.
import math

import pytest
import torch
import torch.nn.functional as F

from training.crossmodal_run import CrossModalRunConfig, descriptions, run_crossmodal
from training.data.shapes import FINE_SHAPES, hard_config
from training.data.tokenizer import EOT_ID
from training.models.cross_modal import (CrossModalAttention, CrossModalClassifier, CrossModalConfig, TextTokens,
                                         description_ids)

B, N, C, L, D, H = 2, 4, 3, 5, 8, 2   # all different, so a swapped subscript cannot go unnoticed


def _inputs():
    torch.manual_seed(0)
    img, txt = torch.randn(B, N, D), torch.randn(C, L, D)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2, [False] * 2 + [True] * 3])
    return img, txt, pad


def test_shapes_and_values_match_an_explicit_loop():
    img, txt, pad = _inputs()
    m = CrossModalAttention(D, H).eval()
    with torch.no_grad():
        out = m(img, txt, pad)
        attn = m.attention(img, txt, pad)
        assert out.shape == (B, C, N, D) and attn.shape == (B, C, H, N, L)
        q = m.q(m.norm_q(img))
        kv = m.kv(m.norm_kv(txt))
        k, v = kv[..., :D], kv[..., D:]
        dh = D // H
        ref = torch.zeros(B, C, N, D)
        for b in range(B):
            for c in range(C):
                keep = ~pad[c]
                heads = []
                for h in range(H):
                    sl = slice(h * dh, (h + 1) * dh)
                    w = (q[b, :, sl] @ k[c][keep][:, sl].T / math.sqrt(dh)).softmax(-1)   # [N, L_c]
                    assert torch.allclose(attn[b, c, h][:, keep], w, atol=1e-6)
                    heads.append(w @ v[c][keep][:, sl])
                ref[b, c] = img[b] + m.proj(torch.cat(heads, dim=1))
        assert torch.allclose(out, ref, atol=1e-5)


def test_padded_text_tokens_get_no_attention_and_change_nothing():
    img, txt, pad = _inputs()
    m = CrossModalAttention(D, H).eval()
    with torch.no_grad():
        attn = m.attention(img, txt, pad)
        assert float(attn.masked_select(pad[None, :, None, None, :].expand_as(attn)).abs().max()) == 0.0
        assert torch.allclose(attn.sum(-1), torch.ones(B, C, H, N), atol=1e-6)
        other = torch.where(pad[..., None], torch.randn_like(txt) * 10, txt)
        assert torch.allclose(m(img, other, pad), m(img, txt, pad), atol=1e-6)
        assert not torch.allclose(m(img, torch.randn_like(txt), pad), m(img, txt, pad), atol=1e-3)


def test_pad_mask_follows_the_end_token_whatever_the_pad_id():
    ids = description_ids(["a photo of a plain filled circle", "a photo of a star with six points"], 24)
    pad0 = TextTokens.pad_mask(ids)
    ids_hf = torch.where(pad0, torch.full_like(ids, EOT_ID), ids)  # Hugging Face pads with the end token
    assert torch.equal(TextTokens.pad_mask(ids_hf), pad0)
    assert int((~pad0[0]).sum()) == int((ids[0] != 0).sum())
    with pytest.raises(ValueError, match="context_length"):
        description_ids(["a photo of " + "very " * 30 + "long"], 24)


def test_classifier_scores_candidates_in_the_order_given():
    texts = descriptions(FINE_SHAPES, "a photo of {}")
    ids = description_ids(texts, 24)
    torch.manual_seed(0)
    model = CrossModalClassifier(CrossModalConfig(token_ids=sorted(set(ids.flatten().tolist())))).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        logits = model(x, ids)
        perm = torch.tensor([5, 2, 7, 0, 1, 6, 3, 4])
        assert logits.shape == (3, 8)
        assert torch.allclose(model(x, ids[perm]), logits[:, perm], atol=1e-5)
        assert model(x, ids[:3]).shape == (3, 3)   # any number of candidates


def test_classifier_overfits_a_tiny_batch():
    texts = descriptions(FINE_SHAPES, "a photo of {}")
    ids = description_ids(texts, 24)
    torch.manual_seed(0)
    model = CrossModalClassifier(CrossModalConfig(token_ids=sorted(set(ids.flatten().tolist())))).train()
    x, y = torch.randn(8, 3, 64, 64), torch.arange(8)   # one image per candidate, labels in description order
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    first = None
    for _ in range(25):
        loss = F.cross_entropy(model(x, ids), y)
        first = float(loss) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first > 1.5 and float(loss) < 0.02, (first, float(loss))
    with torch.no_grad():
        assert torch.equal(model(x, ids).argmax(1), y)
        # the candidate's own text decides: the same images scored against permuted descriptions follow them
        perm = torch.tensor([3, 0, 7, 1, 6, 2, 5, 4])
        assert torch.equal(model(x, ids[perm]).argmax(1), torch.argsort(perm))


def test_crossmodal_run_at_toy_size(tmp_path):
    cfg = CrossModalRunConfig(out_dir=str(tmp_path), seeds=(0, 1), steps=2, batch_size=8, warmup_steps=1,
                              log_every_steps=1, miniclip="", lr_grid=(1e-3, 4e-3),
                              data=hard_config(task="fine", train_per_class=2, val_per_class=1, test_per_class=1,
                                               workers=1))
    res = run_crossmodal(cfg)
    assert list(res["table"]) == ["image-only student (MobileNetV3-small)", "cross-modal attention (same backbone)"]
    assert all(len(r["all"]["runs"]) == 2 and len(r) == 5 for r in res["table"].values())
    md = (tmp_path / "crossmodal.md").read_text()
    assert [l.split(" |")[0] for l in md.splitlines() if l.startswith("| ") and "±" in l] == [
        "| image-only student (MobileNetV3-small)", "| cross-modal attention (same backbone)"]
    assert (tmp_path / "seed1" / "crossmodal.pt").is_file()
    # each row's learning rate was chosen on validation among the grid, and the table says which
    assert set(res["lr_selection"]) == set(res["table"]) and all(set(v) == {"0.001", "0.004"}
                                                                 for v in res["lr_selection"].values())
    assert all(res["lr"][r] == float(max(v, key=v.get)) for r, v in res["lr_selection"].items())
    assert "chosen on validation" in md
    # exported with image and token-id inputs; onnxruntime-node agrees with PyTorch, also on
    # a reordered subset of the candidates
    assert res["onnx"]["parity"] <= 1e-4 and (tmp_path / "onnx" / "crossmodal.onnx").is_file()


def test_fine_token_layers_add_the_stride_16_map_as_tokens():
    torch.manual_seed(0)
    ids = description_ids(["a photo of a star", "a photo of a ring"], 24)
    cfg = CrossModalConfig(token_ids=sorted(set(ids.flatten().tolist())), fine_token_layers=[8])
    model = CrossModalClassifier(cfg).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        tokens = model.image_tokens(x)
        fine = model.fine_tokens[0](model.backbone.features[:9](x))        # 48 x 4 x 4 at stride 16
        last = model.to_tokens(model.backbone.features[9:](model.backbone.features[:9](x)))  # 2 x 2
        assert fine.shape[2:] == (4, 4) and last.shape[2:] == (2, 2)
        want = torch.cat([fine.flatten(2), last.flatten(2)], dim=2).transpose(1, 2) + model.img_positional
        assert tokens.shape == (2, 20, cfg.dim)
        torch.testing.assert_close(tokens, want)
        assert model(x, ids).shape == (2, 2)
    # without the option the tokens are the last map's alone, as the shipped reranker was trained
    assert CrossModalClassifier(CrossModalConfig(token_ids=cfg.token_ids)).image_tokens(x).shape == (2, 4, cfg.dim)
    with pytest.raises(ValueError, match="valid indices are 0..11"):
        CrossModalClassifier(CrossModalConfig(token_ids=cfg.token_ids, fine_token_layers=[12]))


def test_learned_class_tokens_replace_the_descriptions_in_the_control():
    torch.manual_seed(0)
    ids = description_ids(["a photo of a star", "a photo of a ring", "a photo of a dot"], 24)
    cfg = CrossModalConfig(token_ids=sorted(set(ids.flatten().tolist())), learned_class_tokens=4)
    cfg.backbone.num_classes = 3
    model = CrossModalClassifier(cfg).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x, ids)
        assert out.shape == (2, 3)
        # the description text no longer matters: other ids, the same scores
        torch.testing.assert_close(model(x, torch.flip(ids, dims=[1])), out)
        model.class_tokens[1].add_(1.0)   # only the learned tokens of class 1 move class 1's score
        moved = model(x, ids)
    assert not torch.allclose(moved[:, 1], out[:, 1]) and torch.allclose(moved[:, [0, 2]], out[:, [0, 2]])
    with pytest.raises(ValueError, match="score the 3 classes, got 2 candidates"):
        model(x, ids[:2])
