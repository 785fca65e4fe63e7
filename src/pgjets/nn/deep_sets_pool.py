r"""Graph-level Deep Sets pooling (Zaheer et al. 2017).

.. math::
    \mathbf{h}_G = \bigoplus_{i \in G} \mathbf{x}_i, \qquad \bigoplus \in \{\textstyle\sum, \text{mean}, \max\},

a permutation-invariant readout: any continuous invariant function of a set
can be written as :math:`F(\sum_i \Phi(x_i))`.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn.aggr import Aggregation, MaxAggregation, MeanAggregation, SumAggregation

from .._checks import check_finite, check_ndim

_AGGRS = {"sum": SumAggregation, "mean": MeanAggregation, "max": MaxAggregation}


class DeepSetsPool(Aggregation):
    r"""Sum, mean or max over the nodes of each graph.

    Args:
        aggr: ``"sum"``, ``"mean"`` or ``"max"``.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``index`` (batch) :math:`(N,)`
        - **output:** :math:`(B, F)`
    """

    def __init__(self, aggr: str = "sum") -> None:
        super().__init__()
        if aggr not in _AGGRS:
            raise ValueError(f"aggr must be one of {sorted(_AGGRS)}, got {aggr!r}")
        self.aggr_name = aggr
        self.inner = _AGGRS[aggr]()

    def forward(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                dim_size: Optional[int] = None, dim: int = -2) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, features)")
        check_finite(x, "x")
        if index is None:
            index = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
            dim_size = dim_size or 1
        return self.inner(x, index, dim_size=dim_size)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.aggr_name!r})"


__all__ = ["DeepSetsPool"]
