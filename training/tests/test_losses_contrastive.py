# Contrastive and embedding-distillation losses against values worked out by hand on
# 2x2 / 3x3 inputs (closed forms in the comments).
import math

import pytest
import torch

from training.losses.contrastive import ClipLoss, DebiasedClipLoss, LogitScale
from training.losses.embedding_distill import EmbeddingDistillLoss

I2 = torch.eye(2)
I3 = torch.eye(3)


def close(a, b, tol=1e-5):
    return abs(float(a) - float(b)) < tol


def test_clip_loss_identity():
    # logits = I; each row: -log(e / (e + 1)) = log(1 + e^-1), both directions equal
    out = ClipLoss()(I2, I2, torch.tensor(1.0))
    assert set(out) == {"contrastive_loss"}
    assert close(out["contrastive_loss"], math.log(1 + math.exp(-1)))


def test_clip_loss_asymmetric_and_normalizes():
    # text rows both [1,0], scale 2. image->text rows [2,2], [0,0] -> log 2 each.
    # text->image rows [2,0], [2,0]: targets 0 and 1 -> log(1+e^-2), log(1+e^2).
    img = I2 * 3.0  # features are L2-normalized inside: scale of the input does not matter
    txt = torch.tensor([[1.0, 0.0], [5.0, 0.0]])
    expected = (math.log(2) + (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(2))) / 2) / 2
    assert close(ClipLoss()(img, txt, torch.tensor(2.0))["contrastive_loss"], expected)
    assert close(ClipLoss(weight=0.5)(img, txt, torch.tensor(2.0))["contrastive_loss"], expected / 2)


def test_clip_loss_with_labels_soft_targets():
    # labels equal: target [.5, .5] per row; logits = I -> log_softmax [-(log(1+e^-1)), -(1+log(1+e^-1))]
    # -> loss per row = log(1 + e^-1) + 0.5
    out = ClipLoss()(I2, I2, torch.tensor(1.0), labels=torch.tensor([3, 3]))
    assert close(out["contrastive_loss"], math.log(1 + math.exp(-1)) + 0.5)
    # distinct labels: identical to the label-free loss
    a = ClipLoss()(I3, I3 + 0.1, torch.tensor(5.0), labels=torch.tensor([0, 1, 2]))["contrastive_loss"]
    b = ClipLoss()(I3, I3 + 0.1, torch.tensor(5.0))["contrastive_loss"]
    assert close(a, b)


def test_clip_loss_seams():
    li, lt = ClipLoss.get_logits(I2, torch.tensor([[0.0, 2.0], [1.0, 0.0]]), torch.tensor(10.0))
    assert torch.allclose(li, torch.tensor([[0.0, 10.0], [10.0, 0.0]])) and torch.allclose(lt, li.t())
    gt = ClipLoss.get_ground_truth(3, torch.device("cpu"), torch.tensor([1, 2, 1]))
    assert torch.allclose(gt, torch.tensor([[0.5, 0, 0.5], [0, 1, 0], [0.5, 0, 0.5]]))


def test_logit_scale_clamped_at_100():
    s = LogitScale(init_scale=1000.0)
    v = s()
    assert close(v, 100.0, 1e-3)
    v.backward()
    assert s.log_scale.grad == 0  # above the clamp nothing moves it
    s = LogitScale(init_scale=10.0)
    v = s()
    v.backward()
    assert close(v, 10.0, 1e-4) and close(s.log_scale.grad, 10.0, 1e-4)  # d exp(x)/dx = exp(x)


def test_debiased_reduces_to_clip_when_tau_plus_zero():
    torch.manual_seed(0)
    img, txt = torch.randn(6, 4), torch.randn(6, 4)
    a = DebiasedClipLoss(tau_plus=0.0)(img, txt, torch.tensor(3.0))["contrastive_loss"]
    b = ClipLoss()(img, txt, torch.tensor(3.0))["contrastive_loss"]
    assert close(a, b)


def test_debiased_hand_values():
    # B=3, logits = I (scale 1), N=2, tau+=0.1: pos = e, sum neg = 2,
    # Ng = (2 - 0.1*2*e) / 0.9 (> floor 2e^-1), loss = log((e + Ng) / e), same both ways
    ng = (2 - 0.1 * 2 * math.e) / 0.9
    out = DebiasedClipLoss(tau_plus=0.1)(I3, I3, torch.tensor(1.0))
    assert close(out["contrastive_loss"], math.log((math.e + ng) / math.e))
    # B=2, tau+=0.5: Ng = (1 - 0.5*e)/0.5 < 0 -> clamped to N*e^-1 -> loss = log(1 + e^-2)
    out = DebiasedClipLoss(tau_plus=0.5)(I2, I2, torch.tensor(1.0))
    assert close(out["contrastive_loss"], math.log(1 + math.exp(-2)))


def test_debiased_stable_at_scale_100_and_differentiable():
    img = torch.randn(8, 16, requires_grad=True)
    out = DebiasedClipLoss(tau_plus=0.1)(img, torch.randn(8, 16), torch.tensor(100.0))["contrastive_loss"]
    assert torch.isfinite(out)
    out.backward()
    assert torch.isfinite(img.grad).all()
    with pytest.raises(ValueError):
        DebiasedClipLoss(tau_plus=1.0)


def test_embedding_distill_cosine_and_mse():
    student = I2
    teacher_img = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    teacher_txt = I2
    # cosine: row0 cos=1, row1 cos=1/sqrt2 -> mean(1 - cos) = (1 - 1/sqrt2) / 2
    out = EmbeddingDistillLoss("cosine")(student, teacher_img, teacher_txt, torch.tensor(1.0))
    assert set(out) == {"distill_loss", "contrastive_loss"}
    assert close(out["distill_loss"], (1 - 1 / math.sqrt(2)) / 2)
    assert close(out["contrastive_loss"], math.log(1 + math.exp(-1)))
    # mse: squared diffs (1-2)^2, 0, (0-1)^2, (1-1)^2 over 4 elements = 0.5, weighted x2
    out = EmbeddingDistillLoss("mse", distill_weight=2.0, contrastive_weight=0.0)(student, teacher_img, teacher_txt, 1.0)
    assert set(out) == {"distill_loss"} and close(out["distill_loss"], 2.0 * 2 / 4)


def test_embedding_distill_gradients_reach_student_only():
    s = torch.randn(4, 8, requires_grad=True)
    t = torch.randn(4, 8, requires_grad=True)
    out = EmbeddingDistillLoss("cosine")(s, t, torch.randn(4, 8), torch.tensor(50.0), labels=torch.tensor([0, 0, 1, 2]))
    sum(out.values()).backward()
    assert s.grad is not None and t.grad is None


def test_clip_loss_positives_generalise_labels():
    torch.manual_seed(0)
    img, txt, labels = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 0, 2])
    same = labels[:, None] == labels[None, :]
    a = ClipLoss()(img, txt, torch.tensor(4.0), labels=labels)["contrastive_loss"]
    b = ClipLoss()(img, txt, torch.tensor(4.0), positives=same)["contrastive_loss"]
    assert close(a, b)


def test_clip_loss_positives_hand_values():
    # text 0 is true of image 0 only, text 1 of both (a caption naming what they share).
    # logits = I (scale 1). positives [[1,1],[0,1]]: image rows: row0 target [.5,.5] -> log(1+e^-1) + .5;
    # row1 target [0,1] -> log(1+e^-1). text rows (positives^T = [[1,0],[1,1]]): row0 [1,0] -> log(1+e^-1);
    # row1 [.5,.5] -> log(1+e^-1) + .5.
    pos = torch.tensor([[True, True], [False, True]])
    base = math.log(1 + math.exp(-1))
    out = ClipLoss()(I2, I2, torch.tensor(1.0), positives=pos)["contrastive_loss"]
    assert close(out, ((2 * base + 0.5) / 2 + (2 * base + 0.5) / 2) / 2)


def test_clip_loss_label_smoothing():
    # eps = 0.2 over B = 2: targets [.9, .1]; logits = I -> .9 * log(1+e^-1) + .1 * (1 + log(1+e^-1))
    out = ClipLoss(label_smoothing=0.2)(I2, I2, torch.tensor(1.0))["contrastive_loss"]
    assert close(out, math.log(1 + math.exp(-1)) + 0.1)
    with pytest.raises(ValueError):
        ClipLoss(label_smoothing=1.0)
