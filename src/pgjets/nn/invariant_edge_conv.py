r"""An EdgeConv block whose messages are invariant under rotations and translations in
:math:`(\eta, \phi)`.

ParticleNet's EdgeConv (:class:`~pgjets.nn.dynamic_edge_conv.EdgeConvBlock`) feeds
the raw coordinates :math:`(\Delta\eta_i, \Delta\phi_i)` and their differences to the
edge function, so its output changes when the jet is rotated about its axis.  Here
the node features :math:`\mathbf{h}_i` are required to be invariant already, and the
pair enters only through quantities that depend on the coordinates
:math:`\mathbf{p}_i = (\eta_i, \phi_i)` through the distance
:math:`\Delta R_{ij} = \lVert \mathbf{p}_i - \mathbf{p}_j \rVert`:

.. math::
    \mathbf{e}_{ij} = \Big(\Delta R_{ij},\; \log \Delta R_{ij},\;
        \log\frac{p_{T,j}}{p_{T,i}},\; \frac{\min(p_{T,i}, p_{T,j})}{p_{T,i} + p_{T,j}},\;
        \log\big(\min(p_{T,i}, p_{T,j})\, \Delta R_{ij}\big)\Big)

(the last is the :math:`k_T` distance; logarithms of distances and momenta are
clamped at :math:`10^{-8}`).  The angle between the edge and the jet axis is not
an invariant and is left out.  The block is

.. math::
    \mathbf{h}_i' = \mathrm{ReLU}\Big(\underset{j \in \mathcal{N}(i)}{\mathrm{mean}}\;
        h_\Theta\big(\mathbf{h}_i \,\Vert\, \mathbf{h}_j - \mathbf{h}_i \,\Vert\, \mathbf{e}_{ij}\big)
        + \mathrm{BN}(W_s \mathbf{h}_i)\Big),

with :math:`\mathcal{N}(i)` the :math:`k` nearest neighbours in :math:`\Delta R`
(an invariant choice) or, in later blocks, in the invariant feature space.  If the
:math:`\mathbf{h}_i` are invariant, so are the :math:`\mathbf{h}_i'`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from .._checks import check_input_dtype, check_positive_int
from ..errors import InputShapeError
from .dynamic_edge_conv import padded_knn
from ..ops.knn import layer_knn_graph
from ..ops.padded import rowwise

#: Number of invariant edge features :math:`\mathbf{e}_{ij}`.
NUM_EDGE_FEATURES = 5
_FLOOR = 1e-8


def invariant_edge_features(pos_i: Tensor, pos_j: Tensor, pt_i: Tensor, pt_j: Tensor) -> Tensor:
    r"""The rotation- and translation-invariant pair features :math:`\mathbf{e}_{ij}`.

    .. math::
        \mathbf{e}_{ij} = \big(\Delta R_{ij}, \log \Delta R_{ij}, \log\tfrac{p_{T,j}}{p_{T,i}},
            \tfrac{\min(p_{T,i}, p_{T,j})}{p_{T,i} + p_{T,j}}, \log(\min(p_{T,i}, p_{T,j})\,\Delta R_{ij})\big)

    Shapes:
        - **input:** ``pos_i, pos_j`` :math:`(*, 2)`, ``pt_i, pt_j`` :math:`(*)`
        - **output:** :math:`(*, 5)`
    """
    dr = (pos_i - pos_j).square().sum(-1).clamp_min(_FLOOR * _FLOOR).sqrt()
    lo = torch.minimum(pt_i, pt_j).clamp_min(_FLOOR)
    a, b = pt_i.clamp_min(_FLOOR), pt_j.clamp_min(_FLOOR)
    return torch.stack([dr, dr.log(), (b / a).log(), lo / (a + b), (lo * dr).log()], dim=-1)


class InvariantEdgeConv(MessagePassing):
    r"""EdgeConv with :math:`(\eta, \phi)` rotation- and translation-invariant messages.

    .. math::
        \mathbf{h}_i' = \mathrm{ReLU}\Big(\underset{j \in \mathrm{kNN}(i)}{\mathrm{mean}}\;
            h_\Theta\big(\mathbf{h}_i \Vert \mathbf{h}_j - \mathbf{h}_i \Vert \mathbf{e}_{ij}\big)
            + \mathrm{BN}(W_s \mathbf{h}_i)\Big)

    :math:`h_\Theta` is a stack of (Linear, BatchNorm, ReLU) layers as in ParticleNet;
    :math:`\mathbf{e}_{ij}` are the invariant pair features of
    :func:`invariant_edge_features`.  The kNN graph is rebuilt at every call: on the
    coordinates ``pos`` (distance :math:`\Delta R`) with ``knn_on="pos"``, on the
    features ``h`` with ``knn_on="features"``.  A node without neighbours gets the
    shortcut term only.

    Args:
        in_channels: Size :math:`F` of the (invariant) node features.
        channels: Output sizes of the edge MLP layers (last = output size).
        k: Number of neighbours.
        knn_on: ``"pos"`` or ``"features"``.

    Shapes:
        - **input:** ``h`` :math:`(N, F)`, ``pos`` :math:`(N, 2)`, ``pt`` :math:`(N,)`,
          ``batch`` :math:`(N,)` (sorted, optional)
        - **output:** :math:`(N, \text{channels}[-1])`
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (64, 64, 64), k: int = 16,
                 knn_on: str = "pos") -> None:
        super().__init__(aggr="mean", node_dim=0)
        if knn_on not in ("pos", "features"):
            raise ValueError(f"knn_on must be 'pos' or 'features', got {knn_on!r}")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.channels = tuple(check_positive_int(c, "channels entry") for c in channels)
        if not self.channels:
            raise ValueError("channels must name at least one layer size")
        self.k = check_positive_int(k, "k")
        self.knn_on = knn_on
        c0 = self.channels[0]
        self.lin_center = nn.Linear(self.in_channels, c0, bias=False)  # on h_i
        self.lin_diff = nn.Linear(self.in_channels, c0, bias=False)  # on h_j - h_i
        self.lin_edge = nn.Linear(NUM_EDGE_FEATURES, c0, bias=False)  # on e_ij
        self.norms = nn.ModuleList([nn.BatchNorm1d(c) for c in self.channels])
        self.lins = nn.ModuleList([nn.Linear(a, b, bias=False) for a, b in zip(self.channels[:-1], self.channels[1:])])
        self.shortcut = nn.Linear(self.in_channels, self.channels[-1], bias=False)
        self.shortcut_norm = nn.BatchNorm1d(self.channels[-1])

    def reset_parameters(self) -> None:
        for m in [self.lin_center, self.lin_diff, self.lin_edge, self.shortcut, *self.lins, *self.norms,
                  self.shortcut_norm]:
            m.reset_parameters()

    def _norm(self, norm: nn.Module, x: Tensor) -> Tensor:
        """Batch norm over the last axis (skipped in training on fewer than two rows)."""
        if self.training and x.numel() <= x.size(-1):
            return x
        return rowwise(norm, x)

    def _edge_mlp(self, hi: Tensor, hj: Tensor, e: Tensor) -> Tensor:
        out = self.lin_center(hi) + self.lin_diff(hj - hi) + self.lin_edge(e.to(hi.dtype))
        out = torch.relu(self._norm(self.norms[0], out))
        for lin, norm in zip(self.lins, self.norms[1:]):
            out = torch.relu(self._norm(norm, lin(out)))
        return out

    def forward(self, h: Tensor, pos: Tensor, pt: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        if h.dim() != 2 or h.size(1) != self.in_channels:
            raise InputShapeError(f"h must be (num_nodes, {self.in_channels}), got {tuple(h.shape)}")
        check_input_dtype(h, self, "h")
        check_input_dtype(pos, self, "pos")
        if pos.dim() != 2 or pos.size(1) != 2 or pos.size(0) != h.size(0):
            raise InputShapeError(f"pos must be ({h.size(0)}, 2), got {tuple(pos.shape)}")
        if pt.dim() != 1 or pt.size(0) != h.size(0):
            raise InputShapeError(f"pt must be ({h.size(0)},), got {tuple(pt.shape)}")
        coords = (pos if self.knn_on == "pos" else h).detach()
        edge_index = layer_knn_graph(coords, self.k, batch)  # value checks in debug mode only
        n = h.size(0)
        agg = self.propagate(edge_index, h=h, pos=pos, pt=pt, size=(n, n))
        return torch.relu(agg + self._norm(self.shortcut_norm, self.shortcut(h)))

    def message(self, h_i: Tensor, h_j: Tensor, pos_i: Tensor, pos_j: Tensor,  # type: ignore[override]
                pt_i: Tensor, pt_j: Tensor) -> Tensor:
        return self._edge_mlp(h_i, h_j, invariant_edge_features(pos_i, pos_j, pt_i, pt_j))

    def forward_padded(self, h: Tensor, pos: Tensor, pt: Tensor, mask: Tensor) -> Tensor:
        r"""The block on padded jets with static shapes (inference path).

        Shapes:
            - **input:** ``h`` :math:`(B, N, F)`, ``pos`` :math:`(B, N, 2)`, ``pt`` :math:`(B, N)`,
              ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, N, \text{channels}[-1])`
        """
        B, N, F = h.shape
        coords = pos if self.knn_on == "pos" else h
        idx, valid = padded_knn(coords.detach(), mask.to(torch.bool), self.k)
        offset = (torch.arange(B, device=h.device) * N).view(B, 1, 1)
        flat = idx + offset
        hj = h.reshape(B * N, F)[flat]
        pj = pos.reshape(B * N, 2)[flat]
        ptj = pt.reshape(B * N)[flat]
        hi = h.unsqueeze(2).expand_as(hj)
        e = invariant_edge_features(pos.unsqueeze(2).expand_as(pj), pj, pt.unsqueeze(2).expand_as(ptj), ptj)
        msg = self._edge_mlp(hi, hj, e)
        w = valid.unsqueeze(-1).to(msg.dtype)
        agg = (msg * w).sum(2) / w.sum(2).clamp_min(1.0)
        return torch.relu(agg + rowwise(self.shortcut_norm, self.shortcut(h)))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, channels={self.channels}, k={self.k}, "
                f"knn_on={self.knn_on!r})")


__all__ = ["InvariantEdgeConv", "invariant_edge_features", "NUM_EDGE_FEATURES"]
