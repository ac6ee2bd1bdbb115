# KDLoss against hand-computed values on 2-class / 1-sample inputs.
import math

import pytest
import torch

from training.losses.distill import KDLoss


def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def _softmax(v):
    e = [math.exp(x) for x in v]
    return [x / sum(e) for x in e]


def test_kd_terms_match_hand_computation():
    s = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[0.0, 2.0]])
    y = torch.tensor([0])
    T, alpha = 2.0, 0.25
    terms = KDLoss(temperature=T, alpha=alpha)(s, y, t)
    # softmax([0.5, 0]) and softmax([0, 1]) by hand
    ps, pt = _softmax([0.5, 0.0]), _softmax([0.0, 1.0])
    expected_kd = alpha * _kl(pt, ps) * T * T
    expected_ce = (1 - alpha) * -math.log(_softmax([1.0, 0.0])[0])
    assert set(terms) == {"distill_loss", "ce_loss"}
    assert terms["distill_loss"].item() == pytest.approx(expected_kd, rel=1e-5)
    assert terms["ce_loss"].item() == pytest.approx(expected_ce, rel=1e-5)
    # numbers for the record: KL(pt || ps) = 0.25740..., CE = 0.31326...
    assert _kl(pt, ps) == pytest.approx(0.25740, abs=1e-4)


def test_kd_is_zero_when_student_equals_teacher_and_batchmean():
    logits = torch.tensor([[0.3, -1.2, 2.0], [1.0, 1.0, 1.0]])
    terms = KDLoss(temperature=4.0, alpha=1.0)(logits, torch.tensor([2, 0]), logits.clone())
    assert terms["distill_loss"].item() == pytest.approx(0.0, abs=1e-7)
    assert terms["ce_loss"].item() == 0.0
    # batchmean: duplicating the batch leaves the loss unchanged
    s, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    one = KDLoss(2.0, 1.0).distill(s, t)
    two = KDLoss(2.0, 1.0).distill(s.repeat(2, 1), t.repeat(2, 1))
    assert one.item() == pytest.approx(two.item(), rel=1e-6)


def test_kd_without_teacher_is_plain_ce_and_teacher_gets_no_grad():
    s = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    t = torch.tensor([[0.0, 1.0, 0.0]], requires_grad=True)
    terms = KDLoss()(s, torch.tensor([0]))
    assert set(terms) == {"ce_loss"}
    assert terms["ce_loss"].item() == pytest.approx(-math.log(_softmax([2.0, 0.0, -1.0])[0]), rel=1e-6)
    sum(KDLoss()(s, torch.tensor([0]), t).values()).backward()
    assert t.grad is None and s.grad is not None


def test_kd_rejects_bad_parameters():
    with pytest.raises(ValueError):
        KDLoss(temperature=0)
    with pytest.raises(ValueError):
        KDLoss(alpha=1.5)
