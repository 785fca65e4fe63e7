r"""A GraphSAGE-mean network for graph classification or regression.

A stack of :class:`~pgjets.nn.gcn.SAGEMeanConv` (neighbour mean + self term),
a mean readout and an MLP:

.. math::
    \mathbf{h}_v^{(l+1)} = \mathrm{ReLU}\Big(W_l \frac{1}{|\mathcal{N}(v)|}\sum_{u \in \mathcal{N}(v)}
        \mathbf{h}_u^{(l)} + B_l \mathbf{h}_v^{(l)} + \mathbf{b}_l\Big), \qquad
    f(G) = \mathrm{MLP}\Big(\frac{1}{|V|}\sum_{v} \mathbf{h}_v^{(L)}\Big).

Each layer is GraphSAGE-mean (PyG's ``SAGEConv(aggr="mean")`` plus ReLU), not Kipf
and Welling's degree-normalised GCN (PyG's ``GCNConv``), so the model is called
:class:`SAGEMeanNet`.  It was ``pgjets.models.GCN`` (the lecture notes' "graph
convolutional network" in the broad sense), a name that clashed with PyG's node-level
``torch_geometric.nn.GCN(in_channels, hidden_channels, num_layers, ...)``; that alias is
deprecated (:class:`pgjets.models.gcn.GCN`).  The registry name stays ``gcn``, so runs
recorded with it load unchanged (same ``state_dict`` keys).

Works on any graph with ``edge_index`` (jets with a kNN graph, molecules, events).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from ..nn.gcn import SAGEMeanConv
from .padded import check_inference, masked_reduce, rowwise, check_model_dtypes


class SAGEMeanNet(nn.Module):
    """Graph classifier/regressor from GraphSAGE-mean layers (see the module docstring).

    Args:
        in_channels: Node feature size.
        num_classes: Outputs (1 for regression).
        hidden: :class:`~pgjets.nn.gcn.SAGEMeanConv` layer sizes, default ``(64, 64, 64)``.

    Shapes:
        - **input:** ``Batch`` with ``x``, ``edge_index``, ``batch``; **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, num_classes: int = 2, hidden: Sequence[int] = (64, 64, 64)) -> None:
        super().__init__()
        self.input_shapes = {"x": (in_channels,)}  # checked at the first layer (check_input_shapes)
        self.norm = nn.BatchNorm1d(in_channels)
        dims = [in_channels, *hidden]
        self.convs = nn.ModuleList([SAGEMeanConv(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.head = nn.Sequential(nn.Linear(dims[-1], 64), nn.ReLU(), nn.Linear(64, num_classes))

    def graph_embeddings(self, data) -> Tensor:
        check_model_dtypes(self, data=data)
        x = self.norm(data.x)
        for conv in self.convs:
            x = conv(x, data.edge_index)
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        return global_mean_pool(x, batch, size=getattr(data, "num_graphs", None))

    def forward(self, data) -> Tensor:
        return self.head(self.graph_embeddings(data))

    #: Fields of :meth:`forward_padded` (before the mask); ``adj`` is the dense prebuilt graph.
    padded_inputs = ("x", "adj")

    def forward_padded(self, x: Tensor, adj: Tensor, mask: Tensor) -> Tensor:
        r"""Logits from padded graphs with dense adjacency (``torch.compile`` / export path).

        .. math::
            \mathbf{h}_i' = \sigma\Big(W \frac{\sum_j A_{ij} \mathbf{h}_j}{\max(1, \sum_j A_{ij})}
                + B\,\mathbf{h}_i + \mathbf{b}\Big),

        :math:`A_{bij}` the number of edges :math:`j \to i` of graph :math:`b`; ``adj`` is
        :func:`torch_geometric.utils.to_dense_adj` of ``edge_index`` (``adj[b, j, i]``, see
        :func:`~pgjets.models.padded.pad_batch`).  Equal to :meth:`forward` (eval mode).

        Shapes:
            - **input:** ``x`` :math:`(B, N, F)`, ``adj`` :math:`(B, N, N)`, ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, K)`
        """
        check_model_dtypes(self, padded=(x, adj, mask))
        check_inference(self)
        h = rowwise(self.norm, x)
        a = adj.transpose(1, 2).to(h.dtype)  # adj[b, j, i] counts edges j -> i (to_dense_adj); a[b, i, j]
        a = a / a.sum(-1, keepdim=True).clamp_min(1.0)
        for conv in self.convs:
            h = conv.act(conv.lin_neigh(a @ h) + conv.lin_self(h))
        return self.head(masked_reduce(h, mask, "mean"))


__all__ = ["SAGEMeanNet"]
