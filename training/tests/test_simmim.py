# SimMIM's core (training/models/simmim.py): the mask covers the ratio of patches (not the
# kept share, not whole images), the mask token replaces the masked positions after the stem
# with nothing of the masked pixels leaking in, the loss is L1 on masked pixels only, and
# the `simmim` run at toy size writes its table, figure and exportable checkpoints.
import math

import pytest
import torch

from training.data.shapes import hard_config
from training.models import ModelConfig, create_model
from training.models.simmim import SimMIM, layer_groups, random_patch_mask, split, upsample_mask
from training.simmim_run import SimMIMRunConfig, class_balanced_subset, run_simmim
from training.train import model_from_checkpoint

CONVNEXT = ModelConfig(arch="convnext_teacher", num_classes=8, convnext_dims=(8, 16, 16, 16),
                       convnext_depths=(1, 1, 1, 1), convnext_stem=4, drop_path=0.0)


@pytest.mark.parametrize("ratio", [0.6, 0.25, 0.75])
def test_mask_covers_the_ratio_of_patches_in_every_image(ratio):
    mask = random_patch_mask(32, 8, ratio, torch.Generator().manual_seed(0))
    assert mask.shape == (32, 8, 8) and mask.dtype == torch.bool
    per_image = mask.flatten(1).sum(1)
    # exactly ceil(ratio x 64) masked patches each: the ratio is what is masked, not what is kept
    assert per_image.tolist() == [math.ceil(64 * ratio)] * 32
    # patches, not whole images: every image has masked and visible patches, at varying places
    assert bool((per_image > 0).all() and (per_image < 64).all())
    assert len({tuple(m.flatten().tolist()) for m in mask}) == 32
    # every patch position gets masked somewhere in the batch (uniform, not a fixed region)
    assert bool(mask.any(0).all())


def test_mask_ratio_out_of_range_is_refused():
    with pytest.raises(ValueError, match="mask ratio"):
        random_patch_mask(1, 8, 1.0)


def test_pixel_mask_is_constant_within_each_patch():
    mask = random_patch_mask(4, 8, 0.6, torch.Generator().manual_seed(1))
    pix = upsample_mask(mask, 8)
    assert pix.shape == (4, 1, 64, 64)
    blocks = pix.view(4, 8, 8, 8, 8)  # [b, gy, py, gx, px]
    assert torch.equal(blocks.amax((2, 4)), blocks.amin((2, 4)))
    assert torch.equal(blocks.amax((2, 4)).bool(), mask)
    assert abs(float(pix.mean()) - 39 / 64) < 1e-6


@pytest.mark.parametrize("mcfg", [ModelConfig(num_classes=8), CONVNEXT], ids=["mobilenetv3", "convnext"])
def test_split_rebuilds_the_classifier(mcfg):
    torch.manual_seed(0)
    model = create_model(mcfg).eval()
    x = torch.randn(2, 3, 64, 64)
    p = split(model)
    with torch.no_grad():
        assert torch.allclose(p.head(p.pool(p.body(p.stem(x)))), model(x), atol=1e-5)


@pytest.mark.parametrize("mcfg", [ModelConfig(num_classes=8), CONVNEXT], ids=["mobilenetv3", "convnext"])
def test_masked_pixels_never_reach_the_encoder(mcfg):
    torch.manual_seed(0)
    mim = SimMIM(create_model(mcfg), 64, 8).eval()
    assert (mim.grid, mim.encoder_stride) == (8, 32)
    # a one-layer head: a 1x1 conv to stride^2 x 3 values per feature vector, then pixel shuffle
    assert [type(m).__name__ for m in mim.decoder] == ["Conv2d", "PixelShuffle"]
    assert mim.decoder[0].kernel_size == (1, 1)
    x = torch.randn(2, 3, 64, 64)
    mask = random_patch_mask(2, 8, 0.6, torch.Generator().manual_seed(2))
    pix = upsample_mask(mask, 8)
    with torch.no_grad():
        z = mim.encode(x, mask)
        z_other_masked = mim.encode(torch.where(pix.bool(), torch.randn_like(x) * 5, x), mask)
        z_other_visible = mim.encode(torch.where(pix.bool(), x, torch.randn_like(x) * 5), mask)
        rec = mim(x, mask)
    scale = float(z.abs().max())  # an untrained MobileNetV3 in eval mode has tiny outputs
    assert float((z - z_other_masked).abs().max()) <= 1e-5 * scale
    assert float((z - z_other_visible).abs().max()) > 1e-2 * scale
    assert rec.shape == x.shape


def test_mask_token_replaces_the_masked_stem_outputs():
    torch.manual_seed(0)
    mim = SimMIM(create_model(CONVNEXT), 64, 8).eval()
    seen = {}
    stage0 = mim.encoder.stages[0]
    h = stage0.register_forward_pre_hook(lambda m, inp: seen.setdefault("t", inp[0].detach()))
    mask = random_patch_mask(1, 8, 0.6, torch.Generator().manual_seed(3))
    with torch.no_grad():
        mim.encode(torch.randn(1, 3, 64, 64), mask)
    h.remove()
    t = seen["t"]  # [1, 8, 16, 16] tokens after the 4x4 stem: 2x2 tokens per 8 px patch
    tok_mask = upsample_mask(mask, 2)[0, 0].bool()
    token = mim.mask_token.view(-1)
    assert torch.allclose(t[0][:, tok_mask], token[:, None].expand(-1, int(tok_mask.sum())))
    assert not torch.allclose(t[0][:, ~tok_mask], token[:, None].expand(-1, int((~tok_mask).sum())))


def test_loss_is_l1_on_masked_pixels_only():
    torch.manual_seed(0)
    mim = SimMIM(create_model(ModelConfig(num_classes=8)), 64, 8)
    x = torch.randn(2, 3, 64, 64)
    mask = random_patch_mask(2, 8, 0.6, torch.Generator().manual_seed(4))
    pix = upsample_mask(mask, 8)
    rec = torch.randn_like(x, requires_grad=True)
    loss = mim.loss(x, rec, mask)
    expected = ((rec - x).abs() * pix).sum() / (pix.sum() * 3)
    assert torch.allclose(loss, expected, atol=1e-6)
    loss.backward()
    assert float(rec.grad[pix.expand_as(x).bool() == 0].abs().max()) == 0.0
    assert float(rec.grad[pix.expand_as(x).bool()].abs().min()) > 0.0
    with torch.no_grad():  # changing visible pixels of the prediction changes nothing
        assert torch.allclose(mim.loss(x, torch.where(pix.bool(), rec, rec + 10), mask), loss)
        assert not torch.allclose(mim.loss(x, torch.where(pix.bool(), rec + 10, rec), mask), loss)


def test_pretraining_gradients_reach_mask_token_encoder_and_head():
    torch.manual_seed(0)
    mim = SimMIM(create_model(ModelConfig(num_classes=8)), 64, 8).train()
    x = torch.randn(4, 3, 64, 64)
    mask = random_patch_mask(4, 8, 0.6, torch.Generator().manual_seed(5))
    mim.loss(x, mim(x, mask), mask).backward()
    assert mim.mask_token.grad is not None and float(mim.mask_token.grad.abs().sum()) > 0
    assert float(mim.decoder[0].weight.grad.abs().sum()) > 0
    assert float(mim.encoder.features[0][0].weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("mcfg", [ModelConfig(num_classes=8), CONVNEXT], ids=["mobilenetv3", "convnext"])
def test_layer_groups_cover_every_parameter_once(mcfg):
    model = create_model(mcfg)
    groups = layer_groups(model)
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    head = {id(p) for p in split(model).head_module.parameters()}
    assert head <= {id(p) for p in groups[-1]}


def test_class_balanced_subset():
    labels = torch.arange(8).repeat_interleave(50)
    idx = class_balanced_subset(labels, 0.1, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[idx]).tolist() == [5] * 8
    idx = class_balanced_subset(labels, 0.01, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[idx]).tolist() == [1] * 8  # at least one image per class


def test_simmim_run_at_toy_size(tmp_path):
    cfg = SimMIMRunConfig(out_dir=str(tmp_path), seeds=(0, 1), label_fractions=(0.5, 1.0),
                          data=hard_config(task="fine", train_per_class=2, val_per_class=1, test_per_class=1, workers=1),
                          pretrain_steps=2, finetune_steps=2, probe_steps=3, batch_size=8, warmup_steps=1,
                          log_every_steps=1)
    res = run_simmim(cfg)
    rows = list(res["table"])
    assert sum(r.startswith("linear probe") for r in rows) == 4
    assert sum(r.startswith("SimMIM fine-tune") for r in rows) == 2 and sum(r.startswith("scratch") for r in rows) == 2
    assert all(len(v["runs"]) == 2 for v in res["table"].values())
    assert "±" in (tmp_path / "simmim.md").read_text()
    assert (tmp_path / "reconstruction.png").stat().st_size > 0
    model, ck = model_from_checkpoint(tmp_path / "seed0" / "finetune-100" / "model.pt")
    assert ck["classes"][0] == "circle" and model(torch.zeros(1, 3, 64, 64)).shape == (1, 8)


def test_simmim_chooses_each_rows_learning_rate_on_validation_once(tmp_path):
    cfg = SimMIMRunConfig(out_dir=str(tmp_path), seeds=(0, 1), label_fractions=(0.5,), finetune_lr_grid=(1e-3, 4e-3),
                          data=hard_config(task="fine", train_per_class=2, val_per_class=1, test_per_class=1, workers=1),
                          pretrain_steps=2, finetune_steps=2, probe_steps=3, batch_size=8, warmup_steps=1,
                          log_every_steps=1)
    res = run_simmim(cfg)
    trained = [r for r in res["table"] if not r.startswith("linear probe")]
    assert len(trained) == 2 and set(res["lr"]) == set(trained) == set(res["lr_selection"])
    for row in trained:
        sel = res["lr_selection"][row]
        assert set(sel) == {"0.001", "0.004"} and res["lr"][row] == float(max(sel, key=lambda k: (sel[k], -float(k))))
        assert len(res["table"][row]["runs"]) == 2     # the second seed reused the choice, not a second grid
    ck = torch.load(tmp_path / "seed1" / "scratch-50" / "model.pt", weights_only=False)
    assert ck["train_config"]["finetune_lr"] == res["lr"][[r for r in trained if r.startswith("scratch")][0]]
    assert "chosen on validation" in (tmp_path / "simmim.md").read_text()


def test_run_device_is_the_cpu_unless_cuda_is_there_and_never_falls_back_silently():
    from training.steps import run_device

    assert run_device("cpu") == torch.device("cpu")
    assert run_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():  # a run that names a GPU it cannot have stops instead of crawling on the CPU
        with pytest.raises(RuntimeError, match="sees no CUDA device"):
            run_device("cuda")
