r"""Loss functions for graph-, node- and edge-level tasks.

- :class:`LabelSmoothingCrossEntropy`: cross entropy against the smoothed
  target :math:`(1-\epsilon)\,\delta_{y} + \epsilon / K`.
- :class:`FocalLoss` (Lin et al., 2017):
  :math:`\mathcal{L} = -\alpha_y (1 - p_y)^\gamma \log p_y`, down-weighting easy examples.
- :func:`regression_loss`: MSE, L1, Huber or Gaussian negative log-likelihood for
  molecular properties and other regression targets.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_finite
from ..errors import InputShapeError


def _check_logits(logits: Tensor, target: Tensor) -> None:
    if logits.dim() != 2:
        raise InputShapeError(f"logits must be 2-D (N, classes), got shape {tuple(logits.shape)}")
    if target.dim() != 1 or target.numel() != logits.size(0):
        raise InputShapeError(
            f"target must be 1-D with {logits.size(0)} class indices, got shape {tuple(target.shape)}"
        )
    check_finite(logits, "logits")


class LabelSmoothingCrossEntropy(nn.Module):
    r"""Cross entropy with label smoothing :math:`\epsilon`.

    Args:
        smoothing: :math:`\epsilon \in [0, 1)`.
        weight: Optional class weights ``(K,)``.
        ignore_index: Targets equal to it add nothing to the loss (as in
            :func:`torch.nn.functional.cross_entropy`, default -100).
        reduction: ``"mean"`` (default) or ``"none"`` (the loss of every example, e.g. to weigh
            them by event weights), as in :func:`torch.nn.functional.cross_entropy`.

    Shapes:
        - **input:** logits :math:`(N, K)`, target :math:`(N,)` long
        - **output:** scalar (``reduction="none"``: :math:`(N,)`)
    """

    def __init__(self, smoothing: float = 0.0, weight: Optional[Tensor] = None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        self.smoothing = smoothing
        self.reduction = reduction
        self.ignore_index = int(ignore_index)
        self.register_buffer("weight", weight if weight is None else torch.as_tensor(weight, dtype=torch.float))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        target = target.view(-1).long()
        _check_logits(logits, target)
        return F.cross_entropy(logits, target, weight=self.weight, label_smoothing=self.smoothing,
                               ignore_index=self.ignore_index, reduction=self.reduction)


class FocalLoss(nn.Module):
    r"""Multi-class focal loss.

    .. math::
        \mathcal{L} = -\frac{1}{N}\sum_n \alpha_{y_n} (1 - p_{n,y_n})^{\gamma} \log p_{n,y_n}

    With :math:`\gamma = 0` and no :math:`\alpha` it is the cross entropy.  Examples
    whose target is ``ignore_index`` are left out of the sum and of :math:`N`.

    Args:
        gamma: Focusing parameter :math:`\gamma \ge 0`.
        alpha: Optional per-class weights ``(K,)``.
        ignore_index: Target value to ignore (default -100, as in
            :func:`torch.nn.functional.cross_entropy`).

    Shapes:
        - **input:** logits :math:`(N, K)`, target :math:`(N,)` long
        - **output:** scalar
    """

    def __init__(self, gamma: float = 2.0, alpha: Optional[Tensor] = None, ignore_index: int = -100) -> None:
        super().__init__()
        if not gamma >= 0 or gamma == float("inf"):  # NaN fails every comparison
            raise ValueError(f"gamma must be a finite number >= 0, got {gamma}")
        self.gamma = gamma
        self.ignore_index = int(ignore_index)
        self.register_buffer("alpha", alpha if alpha is None else torch.as_tensor(alpha, dtype=torch.float))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        target = target.view(-1).long()
        _check_logits(logits, target)
        keep = target != self.ignore_index
        target = torch.where(keep, target, torch.zeros_like(target))  # any class; masked out below
        logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
        # 1 - p as -expm1(log p), kept above the smallest normal float: for 0 < gamma < 1 the
        # derivative of (1 - p)^gamma is infinite at p = 1, and inf * 0 made the gradient NaN
        q = (-torch.expm1(logp)).clamp_min(torch.finfo(logp.dtype).tiny)
        loss = -(q ** self.gamma) * logp
        if self.alpha is not None:
            loss = loss * self.alpha[target]
        keep = keep.to(loss.dtype)
        return (loss * keep).sum() / keep.sum()  # no kept example: 0/0 = NaN, as F.cross_entropy


def regression_loss(pred: Tensor, target: Tensor, kind: str = "mse", var: Optional[Tensor] = None,
                    weight: Optional[Tensor] = None) -> Tensor:
    r"""Regression loss between ``pred`` and ``target`` of equal size.

    Args:
        pred: Predictions, any shape with ``target.numel()`` entries.
        target: Targets.
        kind: ``"mse"``, ``"l1"``, ``"huber"`` or ``"gaussian_nll"`` (needs ``var``).
        var: Predicted variance for ``"gaussian_nll"``.
        weight: Optional per-example weights (event weights), ``target.numel()`` of them: the loss is
            then :math:`\frac{1}{N}\sum_i w_i \ell_i` instead of the mean of :math:`\ell_i`.
    """
    target = target.to(pred.dtype)
    if pred.numel() != target.numel():
        raise InputShapeError(f"pred has {pred.numel()} values but target has {target.numel()}")
    pred, target = pred.reshape(-1), target.reshape(-1)
    check_finite(pred, "pred")
    check_finite(target, "target")
    reduction = "mean" if weight is None else "none"
    if kind == "mse":
        loss = F.mse_loss(pred, target, reduction=reduction)
    elif kind == "l1":
        loss = F.l1_loss(pred, target, reduction=reduction)
    elif kind == "huber":
        loss = F.huber_loss(pred, target, reduction=reduction)
    elif kind == "gaussian_nll":
        if var is None:
            raise ValueError("kind='gaussian_nll' needs var")
        loss = F.gaussian_nll_loss(pred, target, var.reshape(-1), reduction=reduction)
    else:
        raise ValueError(f"unknown regression loss {kind!r}; choose mse, l1, huber or gaussian_nll")
    if weight is None:
        return loss
    if weight.numel() != loss.numel():
        raise InputShapeError(f"weight has {weight.numel()} values but target has {loss.numel()}")
    return (loss * weight.reshape(-1).to(loss.dtype)).mean()



__all__ = ["LabelSmoothingCrossEntropy", "FocalLoss", "regression_loss"]
