r"""Contrastive loss for self-supervised jet representations (JetCLR).

:func:`nt_xent_loss` is the normalised-temperature cross entropy of SimCLR
(Chen et al., 2020), used by JetCLR (Dillon et al., 2021): the two augmented
views of the same jet are a positive pair, every other view in the batch is a
negative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_finite, check_ndim
from ..errors import EmptyGraphError, GraphSizeError, InputShapeError


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not t > 0 or t != t or t == float("inf"):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return t


def nt_xent_loss(z1: Tensor, z2: Tensor, temperature: float = 0.1, eps: float = 1e-8) -> Tensor:
    r"""NT-Xent loss of two batches of representations.

    With :math:`\hat{\mathbf{z}} = \mathbf{z} / \max(\lVert\mathbf{z}\rVert, \epsilon)`
    (unit hypersphere) and the :math:`2N` views
    :math:`\hat{\mathbf{z}}_k = (\hat{\mathbf{z}}^{(1)}_1, \dots, \hat{\mathbf{z}}^{(1)}_N,
    \hat{\mathbf{z}}^{(2)}_1, \dots, \hat{\mathbf{z}}^{(2)}_N)`,
    :math:`s_{kl} = \hat{\mathbf{z}}_k \cdot \hat{\mathbf{z}}_l` and
    :math:`p(k)` the other view of the same jet,

    .. math::
        \mathcal{L} = \frac{1}{2N} \sum_{k=1}^{2N}
        -\log \frac{\exp(s_{k\,p(k)} / \tau)}{\sum_{l \ne k} \exp(s_{kl} / \tau)}.

    The denominator holds the positive and the :math:`2N-2` negatives; both
    directions (view 1 to view 2 and back) enter the average.  This is the loss of SimCLR's and
    JetCLR's code; the JetCLR lecture slide writes a one-directional variant whose denominator
    leaves the positive out, :math:`\sum_{j \ne i} [e^{s(z_i, z_j)/\tau} + e^{s(z_i, z'_j)/\tau}]`,
    and other values (it is not bounded below by 0; at small batches it is much larger).  A zero vector
    stays zero after normalisation (cosine similarity 0 with everything), so
    its loss and gradients are finite.

    Args:
        z1: Representations of the first views, shape ``(N, D)``.
        z2: Representations of the second views, shape ``(N, D)``.
        temperature: :math:`\tau > 0`.
        eps: Norm floor :math:`\epsilon` of the normalisation.

    Returns:
        Scalar loss.

    Shapes:
        - **input:** ``z1``, ``z2`` :math:`(N, D)`, :math:`N \ge 2`
        - **output:** :math:`()`
    """
    tau = _check_temperature(temperature)
    check_ndim(z1, 2, "z1", "(batch, dims)")
    check_ndim(z2, 2, "z2", "(batch, dims)")
    if z1.shape != z2.shape:
        raise InputShapeError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.size(0)
    if n == 0:
        raise EmptyGraphError("nt_xent_loss got an empty batch")
    if n < 2:
        raise GraphSizeError("nt_xent_loss needs at least 2 jets per batch (no negatives otherwise)")
    check_finite(z1, "z1")
    check_finite(z2, "z2")
    z = torch.cat([z1, z2], dim=0)
    z = F.normalize(z, dim=-1, eps=eps)
    logits = (z @ z.t()) / tau
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    idx = torch.arange(n, device=z.device)
    target = torch.cat([idx + n, idx])
    return F.cross_entropy(logits, target)


class NTXentLoss(nn.Module):
    r"""Module form of :func:`nt_xent_loss`.

    .. math::
        \mathcal{L} = \frac{1}{2N} \sum_{k=1}^{2N}
        -\log \frac{\exp(s_{k\,p(k)} / \tau)}{\sum_{l \ne k} \exp(s_{kl} / \tau)}

    Args:
        temperature: :math:`\tau > 0` (JetCLR uses about 0.1).
        eps: Norm floor of the normalisation.

    Shapes:
        - **input:** ``z1``, ``z2`` :math:`(N, D)`
        - **output:** :math:`()`
    """

    def __init__(self, temperature: float = 0.1, eps: float = 1e-8) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        self.eps = float(eps)

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return nt_xent_loss(z1, z2, self.temperature, self.eps)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


__all__ = ["nt_xent_loss", "NTXentLoss"]
