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
the bias on the self term).  ``GCNLayer`` is a deprecated alias kept for one
release; PyG's ``GCNConv`` is the Kipf--Welling layer.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from .._checks import check_positive_int, warn_deprecated_name
from .edge_conv import as_edge_index, check_edge_index, check_node_pair, split_pair


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
    and a sparse ``adj_t`` in place of ``edge_index``.

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
        """Apply the layer; ``edge_index[0]`` are neighbours, ``edge_index[1]`` centres.

        ``size`` is ``(N_s, N_d)`` of a bipartite graph whose ``x_dst`` is ``None``.
        """
        x_src, x_dst = split_pair(x)
        check_node_pair(self, x_src, x_dst, self.in_channels)
        n_src = x_src.size(0)
        n_dst = x_dst.size(0) if x_dst is not None else (int(size[1]) if size is not None else n_src)
        edge_index = as_edge_index(edge_index)
        check_edge_index(edge_index, max(n_src, n_dst))
        if self.out_channels < self.in_channels:
            # W is linear, so W mean(h) = mean(W h): aggregate the smaller vectors.
            neigh = self.propagate(edge_index, x=(self.lin_neigh(x_src), None), size=(n_src, n_dst))
        else:
            neigh = self.lin_neigh(self.propagate(edge_index, x=(x_src, None), size=(n_src, n_dst)))
        if x_dst is not None:
            neigh = neigh + self.lin_self(x_dst)
        elif self.lin_self.bias is not None:  # no self term, the bias stays (PyG's SAGEConv: on lin_l)
            neigh = neigh + self.lin_self.bias
        return self.act(neigh)

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
