r"""Permutation-equivariant Deep Sets layer (Zaheer et al. 2017).

.. math::
    \mathbf{x}_i' = \Lambda \mathbf{x}_i + \Gamma \bigoplus_{j \in G(i)} \mathbf{x}_j + \mathbf{b}

where the pooled context runs over all nodes of the graph of :math:`i`
(or over its neighbours when ``edge_index`` is given).  Permuting the nodes
permutes the outputs the same way.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from .._checks import check_finite, check_ndim
from ..errors import InputShapeError


class DeepSetsLayer(MessagePassing):
    r"""Equivariant set layer :math:`\Lambda x_i + \Gamma\,\mathrm{pool}(x)`.

    Args:
        in_channels: Input size.
        out_channels: Output size.
        aggr: Context pooling, ``"mean"``, ``"sum"`` or ``"max"``.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``batch`` :math:`(N,)` or ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N, F')`
    """

    def __init__(self, in_channels: int, out_channels: int, aggr: str = "mean") -> None:
        if aggr not in ("mean", "sum", "max"):
            raise ValueError(f"aggr must be mean, sum or max, got {aggr!r}")
        super().__init__(aggr=aggr)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lam = nn.Linear(in_channels, out_channels)
        self.gamma = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, edge_index: Optional[Tensor] = None) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, features)")
        if x.size(1) != self.in_channels:
            raise InputShapeError(f"x has {x.size(1)} features, layer expects {self.in_channels}")
        check_finite(x, "x")
        if edge_index is not None:
            ctx = self.propagate(edge_index, x=x)
            return self.lam(x) + self.gamma(ctx)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        ctx = scatter(x, batch, 0, reduce=self.aggr)
        return self.lam(x) + self.gamma(ctx)[batch]


__all__ = ["DeepSetsLayer"]
