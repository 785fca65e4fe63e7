r"""Particle clouds to kNN graphs.

A jet's constituents are points in the :math:`(\Delta\eta, \Delta\phi)` plane;
each is joined to its :math:`k` nearest neighbours

.. math::
    \mathcal{N}(i) = \operatorname{arg\,min}^{(k)}_{j \ne i}
    \lVert \mathbf{r}_i - \mathbf{r}_j \rVert_2 ,

so the graph respects the locality of QCD radiation and is invariant under
translations and rotations in the plane and under permutations of the
particles.  :func:`clouds_to_batch` builds a whole ``Batch`` from flat arrays
with one kNN call and no Python loop per jet.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from .._checks import as_tensor, check_finite, check_ndim, check_nonempty, check_positive_int
from ..errors import EmptyGraphError, InputShapeError
from ..nn.knn import knn_graph


def _check_cloud(features: Tensor, coords: Tensor) -> None:
    check_ndim(features, 2, "features", "(num_particles, features)")
    check_ndim(coords, 2, "coords", "(num_particles, dims)")
    if features.size(0) != coords.size(0):
        raise InputShapeError(
            f"features has {features.size(0)} particles but coords has {coords.size(0)}"
        )
    check_finite(features, "features")
    check_finite(coords, "coords")


def cloud_to_graph(
    features,
    coords,
    k: int,
    pt=None,
    p4=None,
    y=None,
    loop: bool = False,
) -> Data:
    r"""One particle cloud to a kNN graph on ``coords``.

    ``k`` is capped by the number of other particles (a 3-particle jet gets 2
    neighbours per particle).

    Args:
        features: Node features ``(N, F)``.
        coords: Coordinates for the kNN search ``(N, D)``, usually
            :math:`(\Delta\eta, \Delta\phi)`; stored as ``pos``.
        k: Neighbours per particle.
        pt, p4, y: Optional constituent :math:`p_T` ``(N,)``, four-momenta
            ``(N, 4)`` and label.
        loop: Count a particle as its own neighbour.

    Shapes:
        - **output:** ``Data(x=(N, F), pos=(N, D), edge_index=(2, E))``
    """
    x = as_tensor(features, "features")
    pos = as_tensor(coords, "coords")
    _check_cloud(x, pos)
    check_nonempty(x.size(0), "particle cloud")
    k = check_positive_int(k, "k")
    data = Data(x=x, pos=pos, edge_index=knn_graph(pos, k, loop=loop))
    if pt is not None:
        data.pt = as_tensor(pt, "pt").reshape(-1)
    if p4 is not None:
        data.p4 = as_tensor(p4, "p4")
    if y is not None:
        data.y = torch.as_tensor(y).reshape(-1)
    return data


def clouds_to_batch(
    features,
    coords,
    counts,
    k: Optional[int] = None,
    pt=None,
    p4=None,
    y=None,
    loop: bool = False,
) -> Batch:
    r"""Many particle clouds, given flat, to one PyG ``Batch`` (vectorised).

    Equivalent to ``Batch.from_data_list([cloud_to_graph(...) for each jet])``
    but built directly: one kNN call for all jets and the ``Batch`` internals
    (``batch``, ``ptr``, slice and increment dictionaries) written at once, so
    ``batch.to_data_list()`` and ``batch[i]`` work as usual.

    Args:
        features: Flat node features ``(P, F)`` of all jets, jet by jet.
        coords: Flat coordinates ``(P, D)``.
        counts: Particles per jet ``(J,)``; each must be >= 1.
        k: Neighbours (``None``: no edges).
        pt, p4: Optional flat ``(P,)`` and ``(P, 4)``.
        y: Optional per-jet labels ``(J,)``.
        loop: Self loops in the kNN graph.

    Shapes:
        - **output:** ``Batch`` with ``x`` :math:`(P, F)`, ``pos`` :math:`(P, D)`,
          ``edge_index`` :math:`(2, E)`, ``batch`` :math:`(P,)`, ``ptr`` :math:`(J+1,)`
    """
    x = as_tensor(features, "features")
    pos = as_tensor(coords, "coords")
    _check_cloud(x, pos)
    counts = torch.as_tensor(np.asarray(counts) if not isinstance(counts, Tensor) else counts).long().reshape(-1)
    num_graphs = counts.numel()
    if num_graphs == 0:
        raise EmptyGraphError("no jets given")
    if bool((counts <= 0).any()):
        j = int(torch.nonzero(counts <= 0)[0])
        raise EmptyGraphError(f"jet {j} has no particles")
    if int(counts.sum()) != x.size(0):
        raise InputShapeError(f"counts sum to {int(counts.sum())} but there are {x.size(0)} particles")
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=ptr[1:])
    batch_vec = torch.repeat_interleave(torch.arange(num_graphs), counts)
    zeros = torch.zeros(num_graphs + 1, dtype=torch.long)
    store: dict[str, Tensor] = {"x": x, "pos": pos}
    slices: dict[str, Tensor] = {"x": ptr, "pos": ptr}
    incs: dict[str, Tensor] = {"x": zeros[:-1], "pos": zeros[:-1]}
    if pt is not None:
        store["pt"] = as_tensor(pt, "pt").reshape(-1)
        slices["pt"], incs["pt"] = ptr, zeros[:-1]
    if p4 is not None:
        store["p4"] = as_tensor(p4, "p4")
        slices["p4"], incs["p4"] = ptr, zeros[:-1]
    if k is not None:
        k = check_positive_int(k, "k")
        ei = knn_graph(pos, k, batch_vec, loop=loop)
        store["edge_index"] = ei
        e_counts = torch.bincount(batch_vec[ei[1]], minlength=num_graphs)
        e_ptr = torch.zeros(num_graphs + 1, dtype=torch.long)
        torch.cumsum(e_counts, 0, out=e_ptr[1:])
        slices["edge_index"] = e_ptr
        incs["edge_index"] = ptr[:-1]
    if y is not None:
        yt = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).reshape(-1)
        if yt.numel() != num_graphs:
            raise InputShapeError(f"y has {yt.numel()} labels for {num_graphs} jets")
        store["y"] = yt
        slices["y"] = torch.arange(num_graphs + 1)
        incs["y"] = zeros[:-1]
    out = Batch(batch=batch_vec, ptr=ptr, **store)
    out._num_graphs = num_graphs
    out._slice_dict = slices
    out._inc_dict = incs
    return out


class KNNGraph(BaseTransform):
    """Add a kNN graph on ``data.pos`` (per graph for a ``Batch``).

    Args:
        k: Neighbours per node.
        loop: Self loops.
    """

    def __init__(self, k: int = 16, loop: bool = False) -> None:
        self.k = check_positive_int(k, "k")
        self.loop = loop

    def forward(self, data):
        if getattr(data, "pos", None) is None:
            raise InputShapeError("KNNGraph needs data.pos")
        data.edge_index = knn_graph(data.pos, self.k, getattr(data, "batch", None), loop=self.loop)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k})"


__all__ = ["cloud_to_graph", "clouds_to_batch", "KNNGraph"]
