r"""Sets to fully connected graphs.

Every element of a set of :math:`n` elements sends a message to every other
one,

.. math::
    \mathcal{E} = \{(j \to i) : i, j \in \{1, \dots, n\},\; j \ne i\},
    \qquad |\mathcal{E}| = n (n - 1)

(:math:`n^2` with self loops).  Message passing on this graph is
permutation-equivariant, like Deep Sets or attention over the set.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from .._checks import as_float_tensor, check_finite, check_ndim, check_nonempty
from ..errors import InputShapeError
from ..ops.sizes import ptr_from_counts
from .cloud import _labels, _per_node, _replace_edges, refuse_hetero, whole_counts


def fully_connected_edge_index(
    counts: Tensor, self_loops: bool = False, ptr: Optional[Tensor] = None
) -> Tensor:
    r"""Edges of disjoint complete graphs, vectorised over graphs.

    .. math::
        \mathcal{E} = \bigcup_b \{(j \to i) : i, j \in G_b\}
        \setminus \{(i \to i)\}_{\text{unless self loops}}

    Args:
        counts: Nodes per graph ``(B,)``; the nodes of graph ``b`` are
            ``ptr[b] .. ptr[b+1]-1``.
        self_loops: Keep :math:`i \to i`.
        ptr: Optional precomputed offsets ``(B+1,)``.

    Returns:
        ``edge_index`` ``(2, E)``, sorted by target and grouped by graph.

    Raises:
        InputShapeError: if a count is negative (or not a whole number).

    Shapes:
        - **input:** ``counts`` :math:`(B,)`
        - **output:** :math:`(2, \sum_b n_b^2)` or :math:`(2, \sum_b n_b(n_b-1))`
    """
    counts = whole_counts(counts)
    if counts.numel() and int(counts.min()) < 0:
        g = int(torch.nonzero(counts < 0)[0])
        raise InputShapeError(f"counts must be >= 0, but graph {g} has {int(counts[g])} nodes")
    if ptr is None:
        ptr = ptr_from_counts(counts)
    num_nodes = int(ptr[-1])
    num_edges = int((counts * counts).sum()) if self_loops else int((counts * (counts - 1)).sum())
    return complete_graph_edges(counts, num_nodes, num_edges, self_loops, ptr)


def complete_graph_edges(counts: Tensor, num_nodes: int, num_edges: int, self_loops: bool = False,
                         ptr: Optional[Tensor] = None) -> Tensor:
    r"""The edges of :func:`fully_connected_edge_index` with the sizes given: no value is read back.

    For layers that know the sizes on the host (:func:`pgjets.ops.host_node_counts`): every
    output size is given, so on a GPU nothing waits for the device.  Target :math:`i`, the
    :math:`l`-th node of graph :math:`b`, receives the sources :math:`s = 0, \dots, n_b - 2`
    shifted past itself (:math:`s + [s \ge l]`) without self loops, :math:`0, \dots, n_b - 1`
    with them.  No checks: ``counts`` must be non-negative whole numbers.

    Args:
        counts: Nodes per graph ``(B,)`` (long), on the device of the output.
        num_nodes: :math:`\sum_b n_b`.
        num_edges: :math:`\sum_b n_b (n_b - 1)`, or :math:`\sum_b n_b^2` with self loops.
        self_loops: Keep :math:`i \to i`.
        ptr: Optional offsets ``(B+1,)``.

    Shapes:
        - **input:** ``counts`` :math:`(B,)`
        - **output:** :math:`(2, \text{num\_edges})`
    """
    device = counts.device
    if ptr is None:
        ptr = ptr_from_counts(counts)
    graph_of = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts, output_size=num_nodes)
    per_target = counts[graph_of] - (0 if self_loops else 1)  # sources of each target
    target = torch.repeat_interleave(torch.arange(num_nodes, device=device), per_target, output_size=num_edges)
    # s, the source's place among the target's
    rank = torch.arange(num_edges, device=device) - ptr_from_counts(per_target)[:-1][target]
    first = ptr[graph_of[target]]
    if not self_loops:
        rank = rank + (rank >= target - first).long()  # skip the target itself
    return torch.stack([first + rank, target])


def set_to_graph(
    features: Any,
    self_loops: bool = False,
    pt: Any = None,
    y: Any = None,
) -> Data:
    r"""A set of :math:`n` elements to a fully connected directed graph.

    .. math::
        \mathcal{E} = \{(j \to i) : j \ne i\}

    Args:
        features: Element features ``(N, F)``.
        self_loops: Add the :math:`N` edges :math:`i \to i`.
        pt: Optional per-element :math:`p_T` ``(N,)``.
        y: Optional label (stored as ``(1,)``).

    Shapes:
        - **input:** ``features`` :math:`(N, F)`
        - **output:** ``Data(x=(N, F), edge_index=(2, N(N-1)))``
    """
    x = as_float_tensor(features, "features")
    check_ndim(x, 2, "features", "(num_elements, features)")
    check_nonempty(x.size(0), "set")
    check_finite(x, "features")
    n = x.size(0)
    edge_index = fully_connected_edge_index(torch.tensor([n], device=x.device), self_loops)
    data = Data(x=x, edge_index=edge_index)
    if pt is not None:
        data.pt = _per_node(pt, "pt", n, None)
    if y is not None:
        data.y = _labels(y)
    return data


class FullyConnected(BaseTransform):
    r"""Replace ``edge_index`` by the complete graph on each graph's nodes.

    Works on a single ``Data`` and on a ``Batch`` (complete within each graph,
    vectorised; the ``Batch`` slice bookkeeping is refreshed).  A previous
    ``edge_attr``/``edge_weight`` is dropped since it no longer matches.

    .. math::
        \mathcal{E} = \{(j \to i) : b(j) = b(i),\; j \ne i\}

    Args:
        self_loops: Keep :math:`i \to i`.

    Shapes:
        - **input:** ``Data``/``Batch`` with :math:`N` nodes (``batch`` :math:`(N,)`)
        - **output:** ``edge_index`` :math:`(2, \sum_b n_b(n_b - 1))`
    """

    def __init__(self, self_loops: bool = False) -> None:
        self.self_loops = self_loops

    def forward(self, data: Any) -> Any:
        refuse_hetero(data, self.__class__.__name__)
        n = data.num_nodes
        if n is None:
            raise InputShapeError("FullyConnected needs a graph with nodes (data.num_nodes is None)")
        check_nonempty(int(n), "graph")
        batch = getattr(data, "batch", None)
        if batch is None:
            x = getattr(data, "x", None)
            device = x.device if isinstance(x, Tensor) else torch.device("cpu")
            counts = torch.tensor([int(n)], device=device)
        else:
            if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
                raise InputShapeError("data.batch must be sorted (as PyG batches are)")
            ptr = getattr(data, "ptr", None)
            num_graphs = ptr.numel() - 1 if ptr is not None else int(batch.max()) + 1
            counts = torch.bincount(batch, minlength=num_graphs)
        edge_index = fully_connected_edge_index(counts, self.self_loops)
        return _replace_edges(data, edge_index)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(self_loops={self.self_loops})"


__all__ = ["fully_connected_edge_index", "set_to_graph", "FullyConnected"]
