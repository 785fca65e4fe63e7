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

The helper :func:`batch_from_flat` writes a PyG ``Batch`` directly from flat,
graph-by-graph concatenated tensors (it is shared by the image and event
builders).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data, HeteroData
from torch_geometric.transforms import BaseTransform

from .._checks import (as_float_tensor, check_finite, check_ndim, check_nonempty, check_positive_int)
from ..errors import EmptyGraphError, InputShapeError
from ..ops.knn import knn_graph
from ..ops.sizes import ptr_from_counts


def batch_from_flat(
    node_attrs: Mapping[str, Tensor],
    counts: Tensor,
    edge_index: Optional[Tensor] = None,
    edge_attrs: Optional[Mapping[str, Tensor]] = None,
    graph_attrs: Optional[Mapping[str, Tensor]] = None,
) -> Batch:
    r"""Assemble a PyG ``Batch`` from flat tensors without ``from_data_list``.

    Node (and edge) tensors are concatenated graph by graph; ``edge_index``
    holds *global* node indices and its edges must be grouped by graph (all
    edges of graph 0 first, ...).  The ``Batch`` internals (``batch``, ``ptr``,
    ``_slice_dict``, ``_inc_dict``, ``_num_graphs``) are written so that
    ``to_data_list()``, ``batch[i]`` and ``num_graphs`` behave exactly as for
    :meth:`Batch.from_data_list`.

    Args:
        node_attrs: Node-level tensors, first dimension :math:`N = \sum_b n_b`.
        counts: Nodes per graph, shape ``(B,)``.
        edge_index: Global edge indices ``(2, E)``, grouped by graph.
        edge_attrs: Edge-level tensors, first dimension ``E``.
        graph_attrs: Graph-level tensors, first dimension ``B``
            (e.g. ``y`` of shape ``(B,)`` or ``grid_size`` of shape ``(B, 2)``).

    Shapes:
        - **output:** ``Batch`` with ``batch`` :math:`(N,)`, ``ptr`` :math:`(B+1,)`
    """
    counts = counts.to(torch.long).reshape(-1)
    num_graphs = counts.numel()
    ptr = ptr_from_counts(counts)
    device = counts.device
    batch_vec = torch.repeat_interleave(torch.arange(num_graphs, device=device), counts)
    zeros = torch.zeros(num_graphs, dtype=torch.long, device=device)
    store: dict[str, Any] = {}
    slices: dict[str, Tensor] = {}
    incs: dict[str, Tensor] = {}
    for key, value in node_attrs.items():
        store[key], slices[key], incs[key] = value, ptr, zeros
    if edge_index is not None:
        e_counts = torch.bincount(batch_vec[edge_index[1]], minlength=num_graphs)
        e_ptr = ptr_from_counts(e_counts)
        store["edge_index"], slices["edge_index"], incs["edge_index"] = edge_index, e_ptr, ptr[:-1]
        for key, value in (edge_attrs or {}).items():
            store[key], slices[key], incs[key] = value, e_ptr, zeros
    elif edge_attrs:
        raise InputShapeError("edge_attrs given without edge_index")
    g_ptr = torch.arange(num_graphs + 1, device=device)
    for key, value in (graph_attrs or {}).items():
        if value.size(0) != num_graphs:
            raise InputShapeError(f"{key} has {value.size(0)} entries for {num_graphs} graphs")
        store[key], slices[key], incs[key] = value, g_ptr, zeros
    out = Batch(batch=batch_vec, ptr=ptr, **store)
    out._num_graphs = num_graphs
    out._slice_dict = slices
    out._inc_dict = incs
    return out


#: Edge-level attributes that become stale when a transform rebuilds the edges.
_EDGE_KEYS = ("edge_attr", "edge_weight")


def _refresh_edge_slices(data: Any) -> None:
    """After replacing ``edge_index`` of a ``Batch``, fix its slice/inc dicts."""
    slices = getattr(data, "_slice_dict", None)
    if not isinstance(data, Batch) or slices is None or getattr(data, "ptr", None) is None:
        return
    num_graphs = data.ptr.numel() - 1
    e_counts = torch.bincount(data.batch[data.edge_index[1]], minlength=num_graphs)
    slices["edge_index"] = ptr_from_counts(e_counts)
    data._inc_dict["edge_index"] = data.ptr[:-1]


def whole_counts(counts: Any) -> Tensor:
    """``counts`` as a flat long tensor; fractional values are refused, not truncated."""
    counts = torch.as_tensor(np.asarray(counts) if not isinstance(counts, Tensor) else counts)
    if (counts.is_floating_point() or counts.is_complex()) and bool((counts != counts.round()).any()):
        raise InputShapeError(f"counts must be whole numbers, got {counts.reshape(-1)[:8].tolist()}")
    if counts.dtype == torch.bool:
        raise InputShapeError("counts must be whole numbers, got a boolean tensor")
    return counts.to(torch.long).reshape(-1)


def refuse_hetero(data: Any, name: str) -> None:
    """A homogeneous-graph transform given ``HeteroData``: a typed error instead of PyG's own."""
    if isinstance(data, HeteroData):
        raise InputShapeError(f"{name} builds the edges of a homogeneous graph, got HeteroData; apply it per "
                              "node type (a Data of that type's nodes) or to data.to_homogeneous()")


def _replace_edges(data: Any, edge_index: Tensor) -> Any:
    """Set ``data.edge_index``, drop stale edge attributes, keep ``Batch`` slicing valid.

    Edge-level tensors of the old graph (``edge_attr``, ``edge_weight``) no
    longer match the new edges, so they are removed rather than left
    inconsistent.  The slice tables are copied first: a transform's input (PyG hands
    ``copy.copy(data)``, whose tables are the input's own) stays unchanged.
    """
    for table in ("_slice_dict", "_inc_dict"):
        if isinstance(getattr(data, table, None), dict):
            setattr(data, table, dict(getattr(data, table)))
    for key in _EDGE_KEYS:
        if key in data:
            del data[key]
            for table in ("_slice_dict", "_inc_dict"):
                d = getattr(data, table, None)
                if isinstance(d, dict):
                    d.pop(key, None)
    data.edge_index = edge_index
    _refresh_edge_slices(data)
    return data


def _check_cloud(features: Tensor, coords: Tensor) -> None:
    check_ndim(features, 2, "features", "(num_particles, features)")
    check_ndim(coords, 2, "coords", "(num_particles, dims)")
    if features.size(0) != coords.size(0):
        raise InputShapeError(
            f"features has {features.size(0)} particles but coords has {coords.size(0)}"
        )
    check_finite(features, "features")
    check_finite(coords, "coords")


def _per_node(value: Any, name: str, num: int, width: Optional[int]) -> Tensor:
    t = as_float_tensor(value, name)
    if width is None:
        t = t.reshape(-1)
        if t.numel() != num:
            raise InputShapeError(f"{name} must have shape ({num},), got {tuple(t.shape)}")
    else:
        check_ndim(t, 2, name, f"({num}, {width})")
        if tuple(t.shape) != (num, width):
            raise InputShapeError(f"{name} must have shape ({num}, {width}), got {tuple(t.shape)}")
    check_finite(t, name)
    return t


def _labels(y: Any) -> Tensor:
    """A graph's target(s) ``y`` as a 1-D tensor; NaN or inf targets raise :class:`NonFiniteError`."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).reshape(-1)
    if t.is_floating_point():
        check_finite(t, "y")
        return t.to(torch.get_default_dtype())
    return t if t.dtype == torch.bool else t.long()


def cloud_to_graph(
    features: Any,
    coords: Any,
    k: int,
    pt: Any = None,
    p4: Any = None,
    y: Any = None,
    loop: bool = False,
) -> Data:
    r"""One particle cloud to a kNN graph on ``coords``.

    .. math::
        \mathcal{E} = \{(j \to i) : j \in \operatorname{kNN}_k(i)\}

    ``k`` is capped by the number of other particles: a jet with :math:`n`
    particles gets :math:`\min(k, n - 1)` neighbours per particle (``n`` with
    ``loop=True``), so a one-particle jet has no edges.  Distances are plain
    Euclidean in ``coords`` (no :math:`\phi` wrapping: use coordinates relative
    to the jet axis).

    Args:
        features: Node features ``(N, F)``.
        coords: Coordinates for the kNN search ``(N, D)``, usually
            :math:`(\Delta\eta, \Delta\phi)`; stored as ``pos``.
        k: Neighbours per particle.
        pt: Optional constituent :math:`p_T`, ``(N,)``.
        p4: Optional four-momenta ``(N, 4)``.
        y: Optional label (stored as ``(1,)``, long for integers).
        loop: Count a particle as its own neighbour.

    Shapes:
        - **output:** ``Data(x=(N, F), pos=(N, D), edge_index=(2, E))`` with
          :math:`E = N \min(k, N-1)`
    """
    x = as_float_tensor(features, "features")
    pos = as_float_tensor(coords, "coords")
    _check_cloud(x, pos)
    check_nonempty(x.size(0), "particle cloud")
    k = check_positive_int(k, "k")
    n = x.size(0)
    data = Data(x=x, pos=pos, edge_index=knn_graph(pos, k, loop=loop))
    if pt is not None:
        data.pt = _per_node(pt, "pt", n, None)
    if p4 is not None:
        data.p4 = _per_node(p4, "p4", n, 4)
    if y is not None:
        data.y = _labels(y)
    return data


def clouds_to_batch(
    features: Any,
    coords: Any,
    counts: Any,
    k: Optional[int] = None,
    pt: Any = None,
    p4: Any = None,
    y: Any = None,
    loop: bool = False,
) -> Batch:
    r"""Many particle clouds, given flat, to one PyG ``Batch`` (vectorised).

    Equivalent to ``Batch.from_data_list([cloud_to_graph(...) for each jet])``
    but built directly: one batched kNN call for all jets and the ``Batch``
    internals written at once (see :func:`batch_from_flat`), so
    ``batch.to_data_list()`` and ``batch[i]`` work as usual.

    Args:
        features: Flat node features ``(P, F)`` of all jets, jet by jet.
        coords: Flat coordinates ``(P, D)``.
        counts: Particles per jet ``(J,)``; each must be >= 1
            (:class:`~pgjets.errors.EmptyGraphError` otherwise).
        k: Neighbours, capped per jet as in :func:`cloud_to_graph`
            (``None``: no edges).
        pt: Optional flat :math:`p_T` ``(P,)``.
        p4: Optional flat four-momenta ``(P, 4)``.
        y: Optional per-jet labels ``(J,)``.
        loop: Self loops in the kNN graph.

    Shapes:
        - **output:** ``Batch`` with ``x`` :math:`(P, F)`, ``pos`` :math:`(P, D)`,
          ``edge_index`` :math:`(2, E)`, ``batch`` :math:`(P,)`, ``ptr`` :math:`(J+1,)`
    """
    x = as_float_tensor(features, "features")
    pos = as_float_tensor(coords, "coords")
    _check_cloud(x, pos)
    counts = whole_counts(counts).to(x.device)
    num_graphs = counts.numel()
    if num_graphs == 0:
        raise EmptyGraphError("no jets given")
    if bool((counts <= 0).any()):
        j = int(torch.nonzero(counts <= 0)[0])
        raise EmptyGraphError(f"jet {j} has no particles")
    n = x.size(0)
    if int(counts.sum()) != n:
        raise InputShapeError(f"counts sum to {int(counts.sum())} but there are {n} particles")
    nodes: dict[str, Tensor] = {"x": x, "pos": pos}
    if pt is not None:
        nodes["pt"] = _per_node(pt, "pt", n, None)
    if p4 is not None:
        nodes["p4"] = _per_node(p4, "p4", n, 4)
    graph: dict[str, Tensor] = {}
    if y is not None:
        yt = _labels(y)
        if yt.numel() != num_graphs:
            raise InputShapeError(f"y has {yt.numel()} labels for {num_graphs} jets")
        graph["y"] = yt.to(x.device)
    edge_index = None
    if k is not None:
        k = check_positive_int(k, "k")
        batch_vec = torch.repeat_interleave(torch.arange(num_graphs, device=x.device), counts)
        edge_index = knn_graph(pos, k, batch_vec, loop=loop)
    return batch_from_flat(nodes, counts, edge_index=edge_index, graph_attrs=graph)


class CloudKNNGraph(BaseTransform):
    r"""Add a kNN graph on ``data.pos`` (per graph for a ``Batch``).

    .. math::
        \mathcal{E} = \{(j \to i) : j \in \operatorname{kNN}_k(i),\;
        b(j) = b(i)\}

    Any previous ``edge_attr``/``edge_weight`` is dropped (it would no longer
    match the edges).  On a ``Batch`` the slice bookkeeping of ``edge_index``
    is refreshed, so ``to_data_list()`` and ``batch[i]`` still work.

    Close to PyG's ``torch_geometric.transforms.KNNGraph`` (same edges, built
    by :func:`pgjets.nn.knn_graph`), but with ``k=16`` by default, checked
    inputs and the ``Batch`` bookkeeping above; :class:`KNNGraph` is PyG's transform itself,
    with PyG's arguments and defaults.

    Args:
        k: Neighbours per node (capped by the graph size minus one).
        loop: Self loops.

    Shapes:
        - **input:** ``data.pos`` :math:`(N, D)`, optional ``data.batch`` :math:`(N,)`
        - **output:** ``data.edge_index`` :math:`(2, E)`, :math:`E \le N k`
    """

    def __init__(self, k: int = 16, loop: bool = False) -> None:
        self.k = check_positive_int(k, "k")
        self.loop = loop

    def forward(self, data: Any) -> Any:
        refuse_hetero(data, self.__class__.__name__)
        pos = getattr(data, "pos", None)
        if pos is None:
            raise InputShapeError(f"{self.__class__.__name__} needs data.pos")
        check_ndim(pos, 2, "data.pos", "(num_nodes, dims)")
        check_nonempty(pos.size(0), "graph")
        check_finite(pos, "data.pos")
        return _replace_edges(data, self._edges(pos, getattr(data, "batch", None)))

    def _edges(self, pos: Tensor, batch: Optional[Tensor]) -> Tensor:
        return knn_graph(pos, self.k, batch, loop=self.loop)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k}, loop={self.loop})"


class KNNGraph(CloudKNNGraph):
    r"""PyG's ``torch_geometric.transforms.KNNGraph``, with its arguments and defaults, on
    :func:`pgjets.nn.knn_graph` (so it runs without pyg-lib or torch-cluster, which PyG's needs).

    .. math::
        \mathcal{E} = \{(j \to i) : j \in \operatorname{kNN}_k(i),\; b(j) = b(i)\}
        \quad (\cup \text{ the reversed edges with } \texttt{force\_undirected})

    The same edges as PyG's transform (checked against it where torch-cluster is installed); like
    :class:`CloudKNNGraph` it checks ``data.pos`` and keeps the ``Batch`` bookkeeping.  (Until this
    release the name was an alias of :class:`CloudKNNGraph`, whose default ``k`` is 16.)

    Args:
        k: Neighbours per node (default 6, PyG's).
        loop: Self loops.
        force_undirected: Add the reverse of every edge (``to_undirected``).
        flow: ``"source_to_target"`` (edges from the neighbours to the centre) or
            ``"target_to_source"``.
        cosine: Cosine distance instead of Euclidean.
        num_workers: Accepted for PyG's signature (CPU threads of torch-cluster).

    Shapes:
        - **input:** ``data.pos`` :math:`(N, D)`, optional ``data.batch`` :math:`(N,)`
        - **output:** ``data.edge_index`` :math:`(2, E)`
    """

    def __init__(self, k: int = 6, loop: bool = False, force_undirected: bool = False,
                 flow: str = "source_to_target", cosine: bool = False, num_workers: int = 1) -> None:
        super().__init__(k, loop)
        if flow not in ("source_to_target", "target_to_source"):
            raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")
        self.force_undirected, self.flow, self.cosine = bool(force_undirected), flow, bool(cosine)
        self.num_workers = check_positive_int(num_workers, "num_workers")

    def _edges(self, pos: Tensor, batch: Optional[Tensor]) -> Tensor:
        from torch_geometric.utils import to_undirected

        edge_index = knn_graph(pos, self.k, batch, loop=self.loop, flow=self.flow, cosine=self.cosine,
                               num_workers=self.num_workers)
        return to_undirected(edge_index, num_nodes=pos.size(0)) if self.force_undirected else edge_index

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(k={self.k})"  # as PyG's


class CloudToGraph(CloudKNNGraph):
    """Alias of :class:`CloudKNNGraph` (builds the kNN graph of a particle cloud)."""


__all__ = ["batch_from_flat", "cloud_to_graph", "clouds_to_batch", "CloudKNNGraph", "KNNGraph", "CloudToGraph"]
