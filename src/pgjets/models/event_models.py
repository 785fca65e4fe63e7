r"""Event classifiers over the reconstructed objects of collision events.

All take the graphs of :func:`~pgjets.graphs.event.events_to_batch` (node
features :math:`[p_T, \eta, \phi, E, q, \mathrm{onehot}(\text{collection})]`)
and first map every object to

.. math::
    \tilde{\mathbf{x}}_a = \big[\log(1 + p_T),\ \eta,\ \sin\phi,\ \cos\phi,\
    \log(1 + E),\ q,\ \mathrm{onehot}\big]

(:class:`ObjectFeatures`; :math:`p_T`, :math:`E` in GeV), then

- :class:`EventDeepSets` (registry ``"event_deepsets"``): Deep Sets over the
  objects, :math:`f = \rho\big(\sum_a \phi(\tilde{\mathbf{x}}_a)\big)`;
- :class:`EventTransformer` (``"event_transformer"``): self-attention between
  the objects of an event, pooling by multi-head attention (PMA);
- :class:`EventGNN` (``"event_gnn"``): EdgeConv message passing on the object
  graph (the complete graph of the event by default), sum and max readout;
- :class:`EventHeteroGNN`: the same message passing on the ``HeteroData`` of
  :func:`~pgjets.graphs.event.events_to_hetero` with one EdgeConv per edge
  type (``torch_geometric.nn.HeteroConv``).

**Empty events.**  An event without objects has a graph with zero nodes.
Every model here pools with the number of graphs given, and sets the
embedding of such an event to exactly zero, so its output is defined:
the head applied to the zero vector, :math:`f(\varnothing) = \rho(\mathbf{0})`,
one learned constant (the model's answer for "no objects").
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv
from torch_geometric.utils import scatter

from .._checks import check_input_dtype, check_ndim, check_positive_int
from ..errors import InputShapeError
from ..nn.deep_sets_pool import DeepSetsPool
from ..nn.edge_conv import EdgeConvLayer
from ..nn.pma import PMAPool
from ..nn.transformer import TransformerBlock


def _graphs(data: Any, x: Tensor) -> tuple[Tensor, int]:
    """``(batch, num_graphs)`` without a device sync (``num_graphs`` is host data)."""
    batch = getattr(data, "batch", None)
    if batch is None:
        return torch.zeros(x.size(0), dtype=torch.long, device=x.device), 1
    return batch, int(data.num_graphs)


def _zero_empty(h: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Set the rows of graphs without nodes to zero."""
    counts = scatter(torch.ones_like(batch, dtype=h.dtype), batch, 0, dim_size=num_graphs, reduce="sum")
    return h * (counts > 0).to(h.dtype).unsqueeze(1)


class ObjectFeatures(nn.Module):
    r"""Per-object input map of the event models.

    .. math::
        [p_T, \eta, \phi, E, q, \mathbf{r}] \mapsto
        [\log(1 + p_T), \eta, \sin\phi, \cos\phi, \log(1 + E), q, \mathbf{r}]

    with :math:`p_T, E` clamped at 0 (the rest :math:`\mathbf{r}`, e.g. the
    one-hot collection, is passed on).

    Args:
        in_channels: Input features (at least 5, the layout of
            :func:`~pgjets.graphs.event.events_to_batch`).

    Shapes:
        - **input:** :math:`(N, F)`; **output:** :math:`(N, F + 1)`
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        if self.in_channels < 5:
            raise ValueError(f"event models need at least the 5 columns pt, eta, phi, E, q; got {in_channels}")
        self.out_channels = self.in_channels + 1

    def forward(self, x: Tensor, model: Optional[nn.Module] = None) -> Tensor:
        """Map the objects' columns; ``x`` must have the dtype of ``model``'s (the event model's) parameters.

        Raises:
            InputShapeError: ``x`` is not ``(N, in_channels)``.
            InputDtypeError: ``x`` is not floating, or not in ``model``'s dtype.
        """
        check_ndim(x, 2, "x", "(num_objects, features)")
        if x.size(1) != self.in_channels:
            raise InputShapeError(f"x has {x.size(1)} features per object, the model was built for {self.in_channels} "
                                  "(other collections or extra fields than at training?)")
        check_input_dtype(x, model if model is not None else self, "x")
        pt, eta, phi, e = x[:, 0:1], x[:, 1:2], x[:, 2:3], x[:, 3:4]
        return torch.cat([torch.log1p(pt.clamp_min(0)), eta, torch.sin(phi), torch.cos(phi),
                          torch.log1p(e.clamp_min(0)), x[:, 4:]], 1)


def _mlp(dims: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


def _head(channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(channels, 64), nn.ReLU(), nn.Linear(64, num_classes))


class EventDeepSets(nn.Module):
    r"""Deep Sets over the objects of an event.

    .. math::
        f(\{\mathbf{x}_a\}) = \rho\Big(\sum_a \phi(\tilde{\mathbf{x}}_a)\Big),
        \qquad f(\varnothing) = \rho(\mathbf{0})

    The sum keeps the object multiplicity (the number of jets, leptons, ...).

    Args:
        in_channels: Node features (``5 + C``).
        num_classes: Output logits.
        hidden: Width of :math:`\phi`.
        num_layers: Layers of :math:`\phi`.
        pool: ``"sum"``, ``"mean"`` or ``"max"``.

    Shapes:
        - **input:** ``Batch`` with ``x`` :math:`(N, 5 + C)`, ``batch``
        - **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, num_classes: int = 2, hidden: int = 64, num_layers: int = 3,
                 pool: str = "sum") -> None:
        super().__init__()
        self.features = ObjectFeatures(in_channels)
        self.phi = _mlp([self.features.out_channels] + [check_positive_int(hidden, "hidden")]
                        * check_positive_int(num_layers, "num_layers"))
        self.pool = DeepSetsPool(pool)
        self.head = _head(hidden, num_classes)

    def graph_embeddings(self, data: Any) -> Tensor:
        batch, size = _graphs(data, data.x)
        h = self.phi(self.features(data.x, self))
        return _zero_empty(self.pool(h, batch, dim_size=size), batch, size)

    def forward(self, data: Any) -> Tensor:
        return self.head(self.graph_embeddings(data))


class EventTransformer(nn.Module):
    r"""Self-attention over the objects of an event, pooled by attention (PMA).

    .. math::
        f(X) = \mathrm{MLP}\big(\mathrm{PMA}(\mathrm{SAB}^{L}(W \tilde X))\big),
        \qquad f(\varnothing) = \mathrm{MLP}(\mathbf{0})

    Attention runs within each event only (the complete graph of its
    objects), so objects of different events never mix.

    Args:
        in_channels: Node features (``5 + C``).
        num_classes: Output logits.
        channels: Model width (divisible by ``heads``).
        heads: Attention heads.
        num_blocks: Self-attention blocks.

    Shapes:
        - **input:** ``Batch`` with ``x``, ``batch``; **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, num_classes: int = 2, channels: int = 64, heads: int = 4,
                 num_blocks: int = 2) -> None:
        super().__init__()
        self.features = ObjectFeatures(in_channels)
        self.embed = nn.Linear(self.features.out_channels, channels)
        self.blocks = nn.ModuleList([TransformerBlock(channels, heads) for _ in range(num_blocks)])
        self.pool = PMAPool(channels, heads)
        self.head = _head(channels, num_classes)

    def graph_embeddings(self, data: Any) -> Tensor:
        batch, size = _graphs(data, data.x)
        h = self.embed(self.features(data.x, self))
        for blk in self.blocks if h.size(0) else ():  # (no object in the whole batch: nothing to attend)
            h = blk(h, batch=batch, dense=True)
        return _zero_empty(self.pool(h, batch, dim_size=size), batch, size)

    def forward(self, data: Any) -> Tensor:
        return self.head(self.graph_embeddings(data))


class EventGNN(nn.Module):
    r"""EdgeConv message passing on the object graph of an event.

    .. math::
        \mathbf{h}_i^{(l+1)} = \max_{j \in \mathcal{N}(i)}
        h_\Theta\big(\mathbf{h}_i^{(l)} \,\Vert\, \mathbf{h}_j^{(l)} - \mathbf{h}_i^{(l)}\big),
        \qquad f = \rho\Big(\Big[\sum_i \mathbf{h}_i \,\Big\Vert\, \max_i \mathbf{h}_i\Big]\Big)

    with a residual connection per layer; the graph is the ``edge_index`` of
    the batch (complete graph or kNN in :math:`(\eta, \phi)`).  An object
    without neighbours (a one-object event) keeps its embedding.

    Args:
        in_channels: Node features (``5 + C``).
        num_classes: Output logits.
        hidden: Width.
        num_layers: EdgeConv layers.

    Shapes:
        - **input:** ``Batch`` with ``x``, ``edge_index``, ``batch``
        - **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, num_classes: int = 2, hidden: int = 64, num_layers: int = 2) -> None:
        super().__init__()
        self.features = ObjectFeatures(in_channels)
        self.embed = _mlp([self.features.out_channels, hidden])
        self.convs = nn.ModuleList([EdgeConvLayer(in_channels=hidden, out_channels=hidden)
                                    for _ in range(check_positive_int(num_layers, "num_layers"))])
        self.sum_pool, self.max_pool = DeepSetsPool("sum"), DeepSetsPool("max")
        self.head = _head(2 * hidden, num_classes)

    def graph_embeddings(self, data: Any) -> Tensor:
        batch, size = _graphs(data, data.x)
        h = self.embed(self.features(data.x, self))
        for conv in self.convs:
            h = h + torch.relu(conv(h, data.edge_index))
        pooled = torch.cat([self.sum_pool(h, batch, dim_size=size), self.max_pool(h, batch, dim_size=size)], 1)
        return _zero_empty(pooled, batch, size)

    def forward(self, data: Any) -> Tensor:
        return self.head(self.graph_embeddings(data))


class BipartiteAdapter(nn.Module):
    r"""Run a homogeneous pgjets layer on a bipartite edge type ``(src -> dst)``.

    The source and destination nodes are put side by side into one graph
    (destinations shifted by :math:`N_{src}`), the wrapped layer runs on it
    and the destination rows are returned:

    .. math::
        \mathbf{x}'_{dst} = \mathrm{layer}\big([\mathbf{x}_{src};
        \mathbf{x}_{dst}],\ \{(j, N_{src} + i)\}\big)_{N_{src}:}

    Exact for layers whose output at node :math:`i` depends on
    :math:`\mathbf{x}_i` and the messages of its in-neighbours
    (:class:`~pgjets.nn.EdgeConvLayer`, :class:`~pgjets.nn.SAGEMeanConv`), which
    makes them usable in ``torch_geometric.nn.HeteroConv``.

    Args:
        layer: Module called as ``layer(x, edge_index)``.

    Shapes:
        - **input:** ``x`` :math:`(N, F)` or a pair :math:`((N_s, F), (N_d, F))`,
          ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N_d, F')`
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Any, edge_index: Tensor) -> Tensor:
        if isinstance(x, Tensor):
            return self.layer(x, edge_index)
        x_src, x_dst = x
        n_src = x_src.size(0)
        shift = torch.tensor([[0], [n_src]], dtype=edge_index.dtype, device=edge_index.device)
        return self.layer(torch.cat([x_src, x_dst], 0), edge_index + shift)[n_src:]


class EventHeteroGNN(nn.Module):
    r"""EdgeConv per edge type on the ``HeteroData`` of
    :func:`~pgjets.graphs.event.events_to_hetero`.

    .. math::
        \mathbf{h}_i^{(t, l+1)} = \mathbf{h}_i^{(t, l)} + \sum_{s}
        \mathrm{ReLU}\Big(\max_{j \in \mathcal{N}_{s}(i)} h_{\Theta_{st}}
        \big(\mathbf{h}_i \,\Vert\, \mathbf{h}_j - \mathbf{h}_i\big)\Big), \qquad
        f = \rho\Big(\Big[\sum_{i \in t} \mathbf{h}_i\Big]_{t}\Big)

    One embedding MLP per node type, one
    :class:`~pgjets.nn.EdgeConvLayer` (through :class:`BipartiteAdapter`)
    per edge type in a ``torch_geometric.nn.HeteroConv``, a sum readout per
    node type (zero for a type an event does not have), concatenated.

    Args:
        metadata: ``hetero.metadata()`` (node types, edge types).
        in_channels: Features per node type (5: :math:`p_T, \eta, \phi, E, q`).
        num_classes: Output logits.
        hidden: Width.
        num_layers: HeteroConv layers.

    Shapes:
        - **input:** ``HeteroData`` batch with per node type ``x``, ``batch``
        - **output:** :math:`(B, K)`
    """

    def __init__(self, metadata: tuple[list[str], list[tuple[str, str, str]]], in_channels: int = 5,
                 num_classes: int = 2, hidden: int = 32, num_layers: int = 2) -> None:
        super().__init__()
        self.node_types, edge_types = list(metadata[0]), list(metadata[1])
        self.features = ObjectFeatures(in_channels)
        self.embed = nn.ModuleDict({t: _mlp([self.features.out_channels, hidden]) for t in self.node_types})
        self.convs = nn.ModuleList([
            HeteroConv({et: BipartiteAdapter(EdgeConvLayer(in_channels=hidden, out_channels=hidden))
                        for et in edge_types}, aggr="sum")
            for _ in range(check_positive_int(num_layers, "num_layers"))])
        self.pool = DeepSetsPool("sum")
        self.head = _head(hidden * len(self.node_types), num_classes)

    def forward(self, data: Any) -> Tensor:
        size = int(data.num_graphs)
        h = {t: self.embed[t](self.features(data[t].x, self)) for t in self.node_types}
        for conv in self.convs:
            out = conv(h, data.edge_index_dict)
            h = {t: h[t] + torch.relu(out[t]) if t in out else h[t] for t in self.node_types}
        pooled = [self.pool(h[t], data[t].batch, dim_size=size) for t in self.node_types]
        return self.head(torch.cat(pooled, 1))


__all__ = ["ObjectFeatures", "EventDeepSets", "EventTransformer", "EventGNN", "BipartiteAdapter",
           "EventHeteroGNN"]
