r"""A ParticleNet whose output is exactly invariant under rotations and translations of the
jet in :math:`(\eta, \phi)` (registry names ``particlenet_inv`` and ``particlenet_inv_lite``).

ParticleNet (:mod:`pgjets.models.particlenet`) reads :math:`\Delta\eta_i, \Delta\phi_i`
as node features and their differences on the edges, so it is neither rotation nor
translation invariant.  This variant keeps its structure (EdgeConv blocks on kNN
graphs, mean pooling, fully connected classifier) but

- every node input is invariant:

  .. math::
      \mathbf{s}_i = \Big(\log p_{T,i},\; \log z_i,\; \lVert \mathbf{p}_i - \bar{\mathbf{p}} \rVert
          [,\ \text{invariant columns of } \mathbf{x}_i]\Big), \qquad
      z_i = \frac{p_{T,i}}{\sum_j p_{T,j}}, \quad \bar{\mathbf{p}} = \sum_j z_j \mathbf{p}_j,

  (the distance to the :math:`p_T`-weighted centroid :math:`\bar{\mathbf{p}}` of the jet,
  not to the origin of ``pos``, so that translations leave it unchanged; with the
  ``particlenet`` feature set the charge and particle-ID one-hots are appended);
- the blocks are :class:`~pgjets.nn.invariant_edge_conv.InvariantEdgeConv`: messages see
  the pair only through :math:`\Delta R_{ij}`, momentum fractions and :math:`k_T`, the
  first kNN graph is built in :math:`\Delta R` and the later ones in the (invariant)
  feature space.

The logits are permutation, rotation and translation invariant (tested with
:mod:`pgjets.symmetry`); IRC safety is not built in.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool
from torch_geometric.utils import scatter

from ..errors import InputShapeError
from ..nn.heads import mlp
from ..nn.invariant_edge_conv import InvariantEdgeConv
from ..ops.features import FEATURE_NAMES, KINEMATIC, PID
from ..ops.padded import rowwise
from .padded import check_inference, masked_reduce, check_model_dtypes
from .particlenet import PARTICLENET_BLOCKS, PARTICLENET_LITE_BLOCKS

_FLOOR = 1e-8
#: Invariant node inputs computed from ``pt`` and ``pos``.
NUM_BASE_SCALARS = 3


def default_scalar_columns(in_channels: Optional[int]) -> tuple[int, ...]:
    """The invariant columns of ``x`` used by default: the charge and PID one-hots of the
    ``particlenet`` feature set when ``x`` has its 13 columns, else none."""
    if in_channels == len(FEATURE_NAMES["particlenet"]):
        return tuple(range(len(KINEMATIC), len(KINEMATIC) + len(PID)))
    return ()


class InvariantParticleNet(nn.Module):
    r"""ParticleNet with :math:`(\eta, \phi)` rotation- and translation-invariant inputs and messages.

    .. math::
        f(G) = \mathrm{FC}\Big(\underset{i}{\mathrm{mean}}\; \mathbf{h}_i^{(L)}\Big), \qquad
        \mathbf{h}^{(l+1)} = \mathrm{InvariantEdgeConv}_l(\mathbf{h}^{(l)}), \quad
        \mathbf{h}^{(0)} = \mathrm{BN}(\mathbf{s})

    Args:
        in_channels: Size of ``batch.x`` (only the ``scalar_columns`` of it are read).
        num_classes: Output logits.
        blocks: ``(k, channels)`` per block (default: the published ParticleNet blocks).
        fc: Widths of the hidden fully connected layers (ReLU, then dropout).
        dropout: Dropout after each hidden fully connected layer.
        scalar_columns: Columns of ``x`` appended to the node inputs; they must be
            invariant (charge, particle ID, :math:`\log p_T`, ...).  ``"auto"``: see
            :func:`default_scalar_columns`.

    Shapes:
        - **input:** a PyG ``Batch`` with ``pos`` :math:`(N, 2)`, ``pt`` :math:`(N,)`,
          ``x`` :math:`(N, F)`, ``batch``
        - **output:** logits :math:`(B, \text{num\_classes})`
    """

    #: Fields of :meth:`forward_padded` (before the mask).
    padded_inputs = ("x", "pos", "pt")

    def __init__(
        self,
        in_channels: Optional[int] = None,
        num_classes: int = 2,
        blocks: Sequence[tuple[int, Sequence[int]]] = PARTICLENET_BLOCKS,
        fc: Sequence[int] = (256,),
        dropout: float = 0.1,
        scalar_columns: Union[str, Sequence[int]] = "auto",
    ) -> None:
        super().__init__()
        cols = default_scalar_columns(in_channels) if scalar_columns == "auto" else tuple(int(c) for c in scalar_columns)
        if cols and (in_channels is None or any(not -in_channels <= c < in_channels for c in cols)):
            raise ValueError(f"scalar_columns {list(cols)} are out of range for in_channels={in_channels}")
        self.in_channels = in_channels
        self.scalar_columns = cols
        self.input_shapes = {"pos": (2,), "pt": ()}  # checked at the first layer (check_input_shapes)
        if cols:
            self.input_shapes["x"] = (in_channels,)
        c = NUM_BASE_SCALARS + len(cols)
        self.input_norm = nn.BatchNorm1d(c)
        convs = []
        for i, (k, channels) in enumerate(blocks):
            convs.append(InvariantEdgeConv(c, tuple(channels), k=k, knn_on="pos" if i == 0 else "features"))
            c = channels[-1]
        self.convs = nn.ModuleList(convs)
        self.classifier = mlp([c, *fc, num_classes], dropout=dropout)
        self.embedding_size = c

    def node_scalars(self, data) -> Tensor:
        r"""The invariant node inputs :math:`\mathbf{s}_i`, ``(N, 3 + len(scalar_columns))``."""
        pos, pt = getattr(data, "pos", None), getattr(data, "pt", None)
        if pos is None or pt is None:
            raise InputShapeError("InvariantParticleNet needs batch.pos (N, 2) and batch.pt (N,)")
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
        num = getattr(data, "num_graphs", None) or 1
        pt = pt.to(pos.dtype)
        total = scatter(pt, batch, 0, dim_size=num, reduce="sum")[batch]
        z = pt / total.clamp_min(_FLOOR)
        centre = scatter(z.unsqueeze(-1) * pos, batch, 0, dim_size=num, reduce="sum")[batch]
        parts = [self._base(pos, pt, z, centre)]
        if self.scalar_columns:
            parts.append(data.x[:, list(self.scalar_columns)].to(pos.dtype))
        return torch.cat(parts, dim=-1)

    @staticmethod
    def _base(pos: Tensor, pt: Tensor, z: Tensor, centre: Tensor) -> Tensor:
        dist = (pos - centre).square().sum(-1).clamp_min(_FLOOR * _FLOOR).sqrt()
        return torch.stack([pt.clamp_min(_FLOOR).log(), z.clamp_min(_FLOOR).log(), dist], dim=-1)

    def node_embeddings(self, data) -> Tensor:
        """Per-particle features after the last block, ``(N, C)``."""
        h = self._norm_inputs(self.node_scalars(data))
        batch = getattr(data, "batch", None)
        for conv in self.convs:
            h = conv(h, data.pos, data.pt.to(h.dtype), batch)
        return h

    def _norm_inputs(self, s: Tensor) -> Tensor:
        return s if (self.training and s.size(0) < 2) else self.input_norm(s)

    def graph_embeddings(self, data) -> Tensor:
        """Mean-pooled jet embedding, ``(B, C)``."""
        check_model_dtypes(self, data=data)
        h = self.node_embeddings(data)
        batch = getattr(data, "batch", None)
        if batch is None:
            return h.mean(0, keepdim=True)
        return global_mean_pool(h, batch, size=getattr(data, "num_graphs", None))

    def forward(self, data) -> Tensor:
        return self.classifier(self.graph_embeddings(data))

    def forward_padded(self, x: Tensor, pos: Tensor, pt: Tensor, mask: Tensor) -> Tensor:
        r"""Logits from padded jets (inference path for ``torch.compile`` and ONNX).

        Shapes:
            - **input:** ``x`` :math:`(B, N, F)`, ``pos`` :math:`(B, N, 2)`, ``pt`` :math:`(B, N)`,
              ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, \text{num\_classes})`
        """
        check_model_dtypes(self, padded=(x, pos, pt, mask))
        check_inference(self)
        m = mask.to(pos.dtype)
        pt = pt.to(pos.dtype) * m
        z = pt / pt.sum(1, keepdim=True).clamp_min(_FLOOR)
        centre = (z.unsqueeze(-1) * pos).sum(1, keepdim=True)
        s = self._base(pos, pt, z, centre)
        if self.scalar_columns:
            s = torch.cat([s, x[..., list(self.scalar_columns)].to(pos.dtype)], dim=-1)
        h = rowwise(self.input_norm, s)
        for conv in self.convs:
            h = conv.forward_padded(h, pos, pt, mask)
        return self.classifier(masked_reduce(h, mask, "mean"))


def particlenet_inv_lite(in_channels: Optional[int] = None, num_classes: int = 2) -> InvariantParticleNet:
    """The invariant ParticleNet at ParticleNet-Lite size: 2 blocks, k = 7, channels 32 and 64, FC 128."""
    return InvariantParticleNet(in_channels, num_classes, blocks=PARTICLENET_LITE_BLOCKS, fc=(128,))


__all__ = ["InvariantParticleNet", "particlenet_inv_lite", "default_scalar_columns"]
