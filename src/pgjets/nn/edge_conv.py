r"""EdgeConv (Wang et al. 2019) on a given graph.

.. math::
    \mathbf{x}_i' = \bigoplus_{j \in \mathcal{N}(i)} h_\Theta\big(\mathbf{x}_i \,\Vert\, \mathbf{x}_j - \mathbf{x}_i\big),
    \qquad \bigoplus \in \{\max, \text{mean}\}

The edge function sees the centre and the relative offset of the neighbour,
so local structure is learned independently of absolute position.  See
:class:`~pgjets.nn.dynamic_edge_conv.DynamicEdgeConv` for the version that
rebuilds a kNN graph every call.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from .._checks import check_finite, check_ndim


class EdgeConvLayer(MessagePassing):
    r"""Edge convolution with message :math:`h_\Theta(x_i, x_j - x_i)`.

    Args:
        nn: The edge function on ``2 * in_channels`` inputs; if ``None`` an MLP
            ``Linear(2F, F') - ReLU - Linear(F', F')`` is built.
        in_channels: Input size (needed when ``nn`` is ``None``).
        out_channels: Output size (needed when ``nn`` is ``None``).
        aggr: ``"max"`` or ``"mean"``.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N, F')`
    """

    def __init__(self, nn: Optional[torch.nn.Module] = None, in_channels: Optional[int] = None,
                 out_channels: Optional[int] = None, aggr: str = "max") -> None:
        if aggr not in ("max", "mean"):
            raise ValueError(f"aggr must be 'max' or 'mean', got {aggr!r}")
        super().__init__(aggr=aggr)
        if nn is None:
            if in_channels is None or out_channels is None:
                raise ValueError("give either nn or both in_channels and out_channels")
            nn = torch.nn.Sequential(torch.nn.Linear(2 * in_channels, out_channels), torch.nn.ReLU(),
                                     torch.nn.Linear(out_channels, out_channels))
        self.nn = nn

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, features)")
        check_ndim(edge_index, 2, "edge_index", "(2, num_edges)")
        check_finite(x, "x")
        return self.propagate(edge_index, x=x)

    def message(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        return self.nn(torch.cat([x_i, x_j - x_i], dim=-1))


__all__ = ["EdgeConvLayer"]
