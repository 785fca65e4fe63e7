r"""Energy-flow pooling: the IRC-safe readout of Energy Flow Networks.

.. math::
    \mathbf{h}_G = \sum_{i \in G} z_i\, \Phi_i, \qquad
    z_i = \frac{p_{T,i}}{\sum_{j \in G} p_{T,j}}

(Komiske, Metodiev, Thaler, "Energy Flow Networks", 2018).  Here
:math:`\Phi_i` is the output of the per-particle network, passed in as ``x``.

* **Infrared safety:** a particle with :math:`p_T = 0` has :math:`z = 0` and
  contributes exactly nothing (and does not change the other :math:`z_j`).
* **Collinear safety:** splitting a particle into two collinear ones with
  :math:`p_{T,a} + p_{T,b} = p_{T}` and the same :math:`\Phi` leaves the sum
  unchanged, because the sum is linear in :math:`z`.

Both hold **only if** :math:`\Phi_i` depends on the angular information of
particle :math:`i` alone (e.g. ``pos`` = :math:`(\Delta\eta, \Delta\phi)`),
never on its momentum, energy or on other particles; feeding :math:`p_T`
into :math:`\Phi` silently destroys IRC safety.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch
from torch import Tensor
from torch_geometric.nn.aggr import Aggregation
from torch_geometric.utils import scatter

from .._checks import batch_vector, check_ndim, debug_check_finite, is_debug
from ..errors import EmptyGraphError, InputShapeError


class EnergyFlowPool(Aggregation):
    r"""Momentum-fraction-weighted sum :math:`\sum_i z_i \Phi_i` per jet.

    Called like every PyG ``Aggregation``, ``pool(x, index, ptr=None,
    dim_size=None, dim=-2)``, with the weights as the keyword-only ``pt``:
    ``pool(x, batch, dim_size=B, pt=pt)``.  The old form ``pool(x, pt, batch)``
    (weights second, before this release) still works for one release and emits a
    ``DeprecationWarning``.

    Args:
        normalize: Weight by :math:`z_i = p_{T,i} / \sum_j p_{T,j}` (``True``,
            scale invariant) or by :math:`p_{T,i}` itself (``False``; still IRC
            safe but scales with the jet :math:`p_T`).

    Forward args:
        x: :math:`\Phi_i`, the per-particle network output ``(N, F)``; it must
            depend on angular information only for the result to be IRC safe.
        index: Graph index per node ``(N,)`` (``batch``); ``None`` (and no
            ``ptr``) means one graph.
        ptr: CSR offsets of the graphs ``(B + 1,)``, instead of ``index``.
        dim_size: Number of graphs :math:`B` (default ``index.max() + 1``, a host sync).
        dim: The node dimension; only ``-2`` (= ``0``) is supported.
        pt: Non-negative transverse momenta ``(N,)`` (or ``(N, 1)``), keyword only.

    A graph with :math:`\sum_j p_{T,j} = 0` (this includes graphs without
    nodes) has no momentum fractions: with ``normalize=True`` it pools to zero
    (no host synchronisation to find it); the boundaries (builders, datasets)
    refuse such jets.

    Raises:
        EmptyGraphError: In debug mode (:func:`pgjets.set_debug`), with
            ``normalize=True``, for a graph of zero total :math:`p_T`.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``index`` :math:`(N,)`, ``pt`` :math:`(N,)`
        - **output:** :math:`(B, F)`
    """

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = bool(normalize)

    def __call__(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                 dim_size: Optional[int] = None, dim: int = -2, **kwargs: Any) -> Tensor:
        if "pt" not in kwargs and index is not None and index.is_floating_point():
            # the pre-0.1 form pool(x, pt, batch): weights second (a dtype test, no host sync)
            warnings.warn(
                "EnergyFlowPool(x, pt, batch) is deprecated and will stop working in the next release: "
                "call it as a PyG Aggregation, pool(x, batch, dim_size=B, pt=pt)",
                DeprecationWarning, stacklevel=2,
            )
            kwargs["pt"], index, ptr = index, ptr, None
        return super().__call__(x, index, ptr=ptr, dim_size=dim_size, dim=dim, **kwargs)

    def forward(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                dim_size: Optional[int] = None, dim: int = -2, *, pt: Optional[Tensor] = None) -> Tensor:
        """Pool ``x`` weighted by ``pt``; see the class docstring."""
        if pt is None:
            raise InputShapeError("EnergyFlowPool needs the weights: pool(x, batch, dim_size=B, pt=pt)")
        if dim not in (-2, 0):
            raise InputShapeError(f"EnergyFlowPool pools over dim -2 (nodes) only, got dim={dim}")
        if index is None and ptr is not None:
            index = torch.repeat_interleave(torch.arange(ptr.numel() - 1, device=ptr.device), ptr.diff())
        batch = index
        check_ndim(x, 2, "x", "(num_nodes, features)")
        n = x.size(0)
        if pt.dim() == 2 and pt.size(1) == 1:
            pt = pt.view(-1)
        check_ndim(pt, 1, "pt", "(num_nodes,)")
        if pt.numel() != n:
            raise InputShapeError(f"pt has {pt.numel()} entries but x has {n} nodes")
        debug_check_finite(x, "x")
        debug_check_finite(pt, "pt")
        pt = pt.to(x.dtype)
        if is_debug() and bool((pt < 0).any()):
            raise InputShapeError("pt must be non-negative")
        batch = batch_vector(batch, n, x.device)
        size = dim_size if dim_size is not None else (int(batch.max()) + 1 if n else 0)
        if is_debug() and n and int(batch.max()) >= size:
            raise InputShapeError(f"batch refers to graph {int(batch.max())} but dim_size is {size}")
        weight = pt
        if self.normalize:
            total = scatter(pt, batch, 0, dim_size=size, reduce="sum")
            bad = total <= 0
            if is_debug() and bool(bad.any()):
                g = int(torch.nonzero(bad)[0])
                raise EmptyGraphError(
                    f"graph {g} has zero total pt: momentum fractions z_i = pt_i / sum pt are undefined"
                )
            # (outside debug mode a graph of zero total pt pools to zero rather than NaN)
            weight = pt / torch.where(bad, torch.ones_like(total), total)[batch]
        return scatter(x * weight.unsqueeze(-1), batch, 0, dim_size=size, reduce="sum")

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(normalize={self.normalize})"


__all__ = ["EnergyFlowPool"]
