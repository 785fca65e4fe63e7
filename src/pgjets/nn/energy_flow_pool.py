r"""Energy-flow pooling: the IRC-safe readout of Energy Flow Networks.

.. math::
    \mathbf{h}_G = \sum_{i \in G} z_i\, \Phi_i, \qquad z_i = \frac{p_{T,i}}{\sum_{j \in G} p_{T,j}}

(Komiske, Metodiev, Thaler 2019).  A particle with :math:`p_T = 0` adds
nothing (infrared safety), and replacing a particle by two collinear ones with
:math:`z = z_a + z_b` and the same :math:`\Phi` leaves the sum unchanged
(collinear safety) -- provided :math:`\Phi_i` depends only on the angular
coordinates of particle :math:`i`, never on its momentum or on other particles.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .._checks import check_finite, check_ndim
from ..errors import EmptyGraphError, InputShapeError


class EnergyFlowPool(nn.Module):
    r"""Momentum-fraction-weighted sum over the particles of each jet.

    Args:
        normalize: Weight by :math:`z_i = p_{T,i}/\sum_j p_{T,j}` (``True``) or by
            :math:`p_{T,i}` itself (``False``; still IRC safe, not scale invariant).

    Shapes:
        - **input:** ``x`` :math:`(N, F)` (:math:`\Phi_i`), ``pt`` :math:`(N,)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(B, F)`
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, x: Tensor, pt: Tensor, batch: Optional[Tensor] = None,
                dim_size: Optional[int] = None) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, features)")
        pt = pt.reshape(-1).to(x.dtype)
        if pt.numel() != x.size(0):
            raise InputShapeError(f"pt has {pt.numel()} entries but x has {x.size(0)} nodes")
        check_finite(x, "x")
        check_finite(pt, "pt")
        if bool((pt < 0).any()):
            raise InputShapeError("pt must be non-negative")
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        size = dim_size if dim_size is not None else (int(batch.max()) + 1 if batch.numel() else 0)
        w = pt
        if self.normalize:
            total = scatter(pt, batch, 0, dim_size=size, reduce="sum")
            if bool((total <= 0).any()):
                g = int(torch.nonzero(total <= 0)[0])
                raise EmptyGraphError(f"graph {g} has zero total pt: momentum fractions are undefined")
            w = pt / total[batch]
        return scatter(x * w.unsqueeze(-1), batch, 0, dim_size=size, reduce="sum")


__all__ = ["EnergyFlowPool"]
