r"""Graph convolution in the form taught in the lecture notes.

.. math::
    \mathbf{h}_v' = \sigma\Big(W \frac{1}{|\mathcal{N}(v)|}\sum_{u \in \mathcal{N}(v)} \mathbf{h}_u
                    + B\,\mathbf{h}_v\Big)

A neighbour mean with weight :math:`W` plus a separate self term :math:`B`
(Hamilton, *Graph Representation Learning*, ch. 5).  A node without
neighbours gets the self term only.  Permutation equivariant.

This is GraphSAGE with mean aggregation, not Kipf and Welling's GCN (no
symmetric degree normalisation, no self loop sharing :math:`W`), so the layer is
called :class:`SAGEMeanConv`; with ``act=None`` it equals PyG's
``SAGEConv(in, out, aggr="mean")`` (``lin_l`` = :math:`W`, ``lin_r`` = :math:`B`,
the bias on the self term), on an ``edge_index``, a bipartite pair and a weighted
sparse ``adj_t`` alike.  ``GCNLayer`` is a deprecated alias kept for one
release; PyG's ``GCNConv`` is the Kipf--Welling layer.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.typing import SparseTensor

from .._checks import check_positive_int, warn_deprecated_name
from .edge_conv import (
    as_weighted_edge_index, check_edge_index, check_node_pair, check_sparse_size, sparse_size, split_pair,
)


class SAGEMeanConv(MessagePassing):
    r"""Mean-aggregation graph convolution with a separate self weight (GraphSAGE-mean).

    .. math::
        \mathbf{h}_v' = \sigma\Big(W \frac{1}{|\mathcal{N}(v)|}\sum_{u \in \mathcal{N}(v)} \mathbf{h}_u
                        + B\,\mathbf{h}_v + \mathbf{b}\Big)

    :math:`\mathcal{N}(v)` are the sources of the edges into :math:`v`
    (``edge_index[0]`` where ``edge_index[1] == v``); a node with no incoming
    edge gets :math:`\sigma(B\,\mathbf{h}_v + \mathbf{b})`.  With ``act=None`` this is
    PyG's ``SAGEConv(in_channels, out_channels, aggr="mean")``, and as that layer it
    takes a bipartite pair ``x = (x_src, x_dst)`` (neighbours from ``x_src``, the
    self term from ``x_dst``, only the bias if ``x_dst`` is ``None``; e.g. in ``HeteroConv``)
    and a sparse ``adj_t`` of shape :math:`(N_d, N_s)` in place of ``edge_index``.

    A ``torch.sparse`` ``adj_t`` (COO, CSR or CSC) is a weighted graph, as for ``SAGEConv``
    (which computes ``spmm(adj_t, x, reduce="mean")``): the entry :math:`a_{vu}` stored at
    ``adj_t[v, u]`` weighs the message of :math:`u`, and the sum is divided by the number of
    stored entries of row :math:`v` (explicit zeros count; an uncoalesced COO tensor is
    coalesced first, repeated entries summed), not by the sum of the weights:

    .. math::
        \mathbf{h}_v' = \sigma\Big(W \frac{1}{|\mathcal{N}(v)|}\sum_{u \in \mathcal{N}(v)}
            a_{vu}\,\mathbf{h}_u + B\,\mathbf{h}_v + \mathbf{b}\Big)

    A ``torch_sparse.SparseTensor`` ``adj_t`` is read unweighted (:math:`a_{vu} = 1`), as
    ``SAGEConv`` does (it calls ``adj_t.set_value(None)``).  The weights are differentiable;
    reading ``adj_t`` needs no host-device synchronisation (except coalescing an uncoalesced COO).

    Args:
        in_channels: Input size.
        out_channels: Output size.
        act: ``"relu"`` or ``None`` (linear).
        bias: Bias :math:`\mathbf{b}` on the self term.

    Shapes:
        - **input:** ``x`` :math:`(N, F)` or :math:`((N_s, F), (N_d, F))`, ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N, F')` (:math:`(N_d, F')` for a pair)
    """

    def __init__(self, in_channels: int, out_channels: int, act: Optional[str] = "relu", bias: bool = True) -> None:
        super().__init__(aggr="mean")
        if act not in ("relu", None):
            raise ValueError(f"act must be 'relu' or None, got {act!r}")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.lin_neigh = nn.Linear(in_channels, out_channels, bias=False)  # W
        self.lin_self = nn.Linear(in_channels, out_channels, bias=bias)  # B
        self.act = nn.ReLU() if act == "relu" else nn.Identity()

    def reset_parameters(self) -> None:
        self.lin_neigh.reset_parameters()
        self.lin_self.reset_parameters()

    def forward(self, x: Union[Tensor, tuple[Tensor, Optional[Tensor]]], edge_index: Any,
                size: Optional[tuple[int, int]] = None) -> Tensor:
        """Apply the layer; ``edge_index[0]`` are neighbours, ``edge_index[1]`` centres (or a sparse ``adj_t``).

        ``size`` is ``(N_s, N_d)`` of a bipartite graph whose ``x_dst`` is ``None`` (taken from the
        shape of a sparse ``adj_t`` if not given).
        """
        x_src, x_dst = split_pair(x)
        check_node_pair(self, x_src, x_dst, self.in_channels)
        n_src = x_src.size(0)
        if x_dst is not None:
            n_dst = x_dst.size(0)
        elif size is not None:
            n_dst = int(size[1])
        else:
            n_dst = (sparse_size(edge_index) or (n_src, n_src))[1]
        check_sparse_size(edge_index, n_src, n_dst)
        unweighted = isinstance(edge_index, SparseTensor)  # SAGEConv drops its values (adj_t.set_value(None))
        edge_index, edge_weight = as_weighted_edge_index(edge_index)
        if unweighted:
            edge_weight = None
        check_edge_index(edge_index, max(n_src, n_dst))
        if self.out_channels < self.in_channels:
            # W is linear, so W mean(a h) = mean(a W h): aggregate the smaller vectors.
            neigh = self.propagate(edge_index, x=(self.lin_neigh(x_src), None), edge_weight=edge_weight,
                                   size=(n_src, n_dst))
        else:
            neigh = self.lin_neigh(self.propagate(edge_index, x=(x_src, None), edge_weight=edge_weight,
                                                  size=(n_src, n_dst)))
        if x_dst is not None:
            neigh = neigh + self.lin_self(x_dst)
        elif self.lin_self.bias is not None:  # no self term, the bias stays (PyG's SAGEConv: on lin_l)
            neigh = neigh + self.lin_self.bias
        return self.act(neigh)

    def message(self, x_j: Tensor, edge_weight: Optional[Tensor]) -> Tensor:  # type: ignore[override]
        if edge_weight is None:  # an edge_index (or a SparseTensor): unweighted
            return x_j
        return x_j * edge_weight.to(x_j.dtype).unsqueeze(-1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"


class GCNLayer(SAGEMeanConv):
    r"""Deprecated alias of :class:`SAGEMeanConv` (removed in the next release).

    Same arguments and outputs; constructing it emits a ``DeprecationWarning``.
    It never was Kipf and Welling's GCN (PyG's ``GCNConv``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warn_deprecated_name("pgjets.nn.GCNLayer", "pgjets.nn.SAGEMeanConv (GraphSAGE-mean)",
                             "; PyG's equivalent is SAGEConv(aggr='mean'), Kipf's GCN is GCNConv")
        super().__init__(*args, **kwargs)


__all__ = ["SAGEMeanConv", "GCNLayer"]
