r"""Graph-level Deep Sets pooling (Zaheer et al. 2017).

.. math::
    \mathbf{h}_G = \bigoplus_{i \in G} \mathbf{x}_i, \qquad
    \bigoplus \in \{\textstyle\sum, \operatorname{mean}, \max\},

the permutation-invariant readout of Deep Sets: every continuous invariant
function of a set can be written as :math:`\rho\big(\sum_i \Phi(\mathbf{x}_i)\big)`.
With ``"sum"`` and :math:`\Phi` the per-particle network this is the Particle
Flow Network readout; it is *not* IRC safe (see
:class:`~pgjets.nn.energy_flow_pool.EnergyFlowPool`).
"""

from __future__ import annotations

from typing import Any, Optional

from torch import Tensor
from torch_geometric.nn.aggr import Aggregation

from .._checks import debug_check_finite, is_debug, check_ndim
from ..errors import InputShapeError

_AGGRS = ("sum", "mean", "max")


def _reduced_size(x: Tensor, dim: int) -> int:
    """The size of the dimension ``dim`` of ``x`` that is reduced (typed error if it has none)."""
    if x.dim() < 1 or not -x.dim() <= dim < x.dim():
        raise InputShapeError(f"x of shape {tuple(x.shape)} has no dimension {dim} to pool over")
    return x.size(dim)


class DeepSetsPool(Aggregation):
    r"""Sum, mean or max over the nodes of each graph.

    A :class:`torch_geometric.nn.aggr.Aggregation`: call it as
    ``pool(x, batch)``, ``pool(x, index=batch, dim_size=B)`` or
    ``pool(x, ptr=ptr)``.  Without ``index`` and ``ptr`` all nodes form one
    graph.  Graphs without nodes give zeros.  As every PyG aggregation it
    reduces along ``dim`` of a tensor of any rank, so it also serves as the
    ``aggr`` of multi-head layers (``GATConv(..., heads=H, aggr=DeepSetsPool())``,
    messages :math:`(E, H, F)`).

    Args:
        aggr: ``"sum"``, ``"mean"`` or ``"max"``.

    Shapes:
        - **input:** ``x`` :math:`(N, F)` (or any shape with :math:`N` at ``dim``), ``index`` :math:`(N,)`
        - **output:** :math:`(B, F)` (:math:`N` replaced by :math:`B`)
    """

    def __init__(self, aggr: str = "sum") -> None:
        super().__init__()
        if aggr not in _AGGRS:
            raise ValueError(f"aggr must be one of {_AGGRS}, got {aggr!r}")
        self.aggr = aggr

    def __call__(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                 dim_size: Optional[int] = None, dim: int = -2, **kwargs: Any) -> Tensor:
        # Typed errors before PyG's own (untyped) argument checks.
        n = _reduced_size(x, dim)
        if index is not None:
            check_ndim(index, 1, "index", "(num_nodes,)")
            if index.numel() != n:
                raise InputShapeError(f"index (batch) has {index.numel()} entries but x has {n} nodes (dim {dim})")
            if is_debug() and dim_size is not None and index.numel() and int(index.max()) >= dim_size:
                raise InputShapeError(f"index refers to graph {int(index.max())} but dim_size is {dim_size}")
        return super().__call__(x, index, ptr, dim_size, dim, **kwargs)

    def forward(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                dim_size: Optional[int] = None, dim: int = -2) -> Tensor:
        """Pool ``x`` per graph; see the class docstring."""
        n = _reduced_size(x, dim)
        if index is not None and index.numel() != n:
            raise InputShapeError(f"index (batch) has {index.numel()} entries but x has {n} nodes (dim {dim})")
        debug_check_finite(x, "x")
        return self.reduce(x, index, ptr, dim_size, dim, reduce=self.aggr)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.aggr!r})"


__all__ = ["DeepSetsPool"]
