from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.train import FocalLoss, LabelSmoothingCrossEntropy, regression_loss


def test_label_smoothing_reduces_to_cross_entropy_and_matches_formula():
    torch.manual_seed(0)
    logits, y = torch.randn(16, 3), torch.randint(0, 3, (16,))
    assert torch.allclose(LabelSmoothingCrossEntropy(0.0)(logits, y), F.cross_entropy(logits, y))
    eps = 0.1
    target = torch.full((16, 3), eps / 3)
    target[torch.arange(16), y] += 1 - eps
    ref = -(target * F.log_softmax(logits, -1)).sum(-1).mean()
    assert torch.allclose(LabelSmoothingCrossEntropy(eps)(logits, y), ref, atol=1e-6)


def test_focal_loss_limits():
    torch.manual_seed(1)
    logits, y = torch.randn(32, 4), torch.randint(0, 4, (32,))
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, y), F.cross_entropy(logits, y), atol=1e-6)
    # focusing lowers the loss of easy examples
    assert FocalLoss(gamma=2.0)(logits, y) < F.cross_entropy(logits, y)


def test_regression_losses():
    p, t = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([[1.0], [2.5], [2.0]])
    assert regression_loss(p, t, "mse").item() == pytest.approx((0.25 + 1) / 3)
    assert regression_loss(p, t, "l1").item() == pytest.approx(0.5)
    assert regression_loss(p, t, "gaussian_nll", var=torch.ones(3)).isfinite()
    with pytest.raises(ValueError, match="unknown"):
        regression_loss(p, t, "hinge")


def test_bad_inputs():
    with pytest.raises(InputShapeError, match="2-D"):
        LabelSmoothingCrossEntropy()(torch.randn(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(NonFiniteError):
        FocalLoss()(torch.tensor([[float("nan"), 0.0]]), torch.tensor([0]))
    with pytest.raises(InputShapeError, match="values"):
        regression_loss(torch.zeros(3), torch.zeros(4))


@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.9])
def test_focal_loss_gradient_is_finite_for_confident_examples(gamma):
    """(1 - p)^gamma has an infinite derivative at p = 1 for gamma < 1: the gradient row was NaN."""
    from pgjets.train.losses import FocalLoss

    z = torch.tensor([[20.0, 0.0], [0.0, 1.0]], requires_grad=True)
    FocalLoss(gamma)(z, torch.tensor([0, 1])).backward()
    assert torch.isfinite(z.grad).all() and z.grad[0].abs().max() < 1e-6


def test_focal_loss_ignore_index_and_gamma_checks():
    torch.manual_seed(0)
    logits, y = torch.randn(8, 3), torch.tensor([0, 2, -100, 1, 1, -100, 0, 2])
    torch.testing.assert_close(FocalLoss(0.0)(logits, y), F.cross_entropy(logits, y))
    torch.testing.assert_close(LabelSmoothingCrossEntropy(0.0, ignore_index=2)(logits, y.clamp_min(0)),
                               F.cross_entropy(logits, y.clamp_min(0), ignore_index=2))
    keep = y != -100
    torch.testing.assert_close(FocalLoss(2.0)(logits, y), FocalLoss(2.0)(logits[keep], y[keep]))
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="gamma"):
            FocalLoss(bad)


def test_regression_loss_weighs_each_example():
    p, t = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.5, 1.0, 4.0])
    w = torch.tensor([2.0, -1.0, 5.0])  # negative weights (NLO events) included
    assert regression_loss(p, t, "mse", weight=w).item() == pytest.approx((2 * 0.25 - 1 * 1 + 0) / 3)
    assert regression_loss(p, t, "l1", weight=w).item() == pytest.approx((2 * 0.5 - 1) / 3)
    assert regression_loss(p, t, "mse", weight=torch.ones(3)).item() == pytest.approx(regression_loss(p, t).item())
    with pytest.raises(InputShapeError, match="weight has 2 values"):
        regression_loss(p, t, weight=torch.ones(2))
