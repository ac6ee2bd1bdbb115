# The multi-label calibration: logistic regression of sigmoid(scale x cosine + bias) puts the
# 0.5 threshold between positive and negative cosines, where the uncalibrated
# sigmoid(logitScale x cosine) calls every positive cosine a match.
import torch

from training.calibration import fit, precision_recall, targets


def test_targets_mark_colour_and_shape_words():
    t = targets([{"colour": "red", "shape": "star"}, {"colour": "blue", "shape": "heart"}], ["red", "blue", "star", "heart"])
    assert t.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]]


def test_fit_makes_scores_thresholdable():
    g = torch.Generator().manual_seed(0)
    n, labels = 400, 16
    t = torch.zeros(n, labels)
    t[torch.arange(n), torch.randint(0, 8, (n,), generator=g)] = 1
    t[torch.arange(n), 8 + torch.randint(0, 8, (n,), generator=g)] = 1
    cos = 0.12 + 0.03 * torch.randn(n, labels, generator=g) + 0.15 * t  # positives ~0.27, negatives ~0.12
    scale, bias = fit(cos, t)
    assert 0.12 < -bias / scale < 0.27  # the 0.5 point lies between the two populations
    cal = precision_recall(torch.sigmoid(cos * scale + bias), t)
    raw = precision_recall(torch.sigmoid(cos * 30.0), t)
    assert cal["precision"] > 0.9 and cal["recall"] > 0.9
    assert raw["precision"] < 0.2 and raw["meanScoreSum"] > 14  # every label ~0.97: unusable at 0.5
