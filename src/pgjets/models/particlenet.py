r"""ParticleNet (Qu and Gouskos, Phys. Rev. D 101, 056019, 2020) from pgjets layers.

A jet is a point cloud.  Each block is a :class:`~pgjets.nn.dynamic_edge_conv.EdgeConvBlock`
that rebuilds a kNN graph: the first in the :math:`(\Delta\eta, \Delta\phi)`
plane, the later ones in the learned feature space,

.. math::
    \mathbf{x}_i^{(l+1)} = \mathrm{ReLU}\Big(\frac{1}{k}\sum_{j \in \mathrm{kNN}(i)}
        h^{(l)}\big(\mathbf{x}_i^{(l)}, \mathbf{x}_j^{(l)} - \mathbf{x}_i^{(l)}\big)
        + \mathrm{BN}(W^{(l)} \mathbf{x}_i^{(l)})\Big),

followed by a mean over the particles of each jet and a fully connected
classifier.  The output is permutation invariant by construction.

With ``fusion=True`` the outputs of all blocks are concatenated and mixed per
particle before the mean, as weaver-core's default ``use_fusion=True``,

.. math::
    \mathbf{h}_i = \mathrm{ReLU}\Big(\mathrm{BN}\big(W_f\,[\mathbf{x}_i^{(1)}, \dots, \mathbf{x}_i^{(L)}]\big)\Big),

:math:`W_f` of :math:`\min(\max(128 \lfloor C / 128 \rfloor, 128), 1024)` outputs for
:math:`C = \sum_l C^{(l)}` inputs; the paper's network has no fusion block.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from ..nn.dynamic_edge_conv import EdgeConvBlock
from .padded import check_batch_norm_particles, check_inference, masked_reduce, rowwise, check_model_dtypes

#: The published configuration: (k, channels) per EdgeConv block.
PARTICLENET_BLOCKS = ((16, (64, 64, 64)), (16, (128, 128, 128)), (16, (256, 256, 256)))
#: ParticleNet-Lite: two smaller blocks with k = 7.
PARTICLENET_LITE_BLOCKS = ((7, (32, 32, 32)), (7, (64, 64, 64)))


class ParticleNet(nn.Module):
    """ParticleNet jet tagger.

    Args:
        in_channels: Node feature size (``batch.x``).
        num_classes: Number of output logits.
        blocks: ``(k, channels)`` per EdgeConv block (default: published).
        fc: ``(width, dropout)`` per fully connected layer (default ``((256, 0.1),)``).
        input_norm: Batch-normalise the input features (as the reference does).
        fusion: Concatenate all blocks' outputs and mix them before pooling (weaver's
            ``use_fusion=True``; see the module docstring).
        pad_neighbours: In jets of at most :math:`k` particles, count the missing neighbours
            as neighbours of features 0, as weaver-core's padded kNN does (see
            :class:`~pgjets.nn.EdgeConvBlock`); default ``False``: the mean over the
            :math:`n - 1` other particles. In eval mode jets of more than :math:`k` particles are not
            affected (in training mode the batch norms of a batch holding a smaller jet are).

    Shapes:
        - **input:** a PyG ``Batch`` with ``x`` :math:`(N, F)`, ``pos`` :math:`(N, 2)`, ``batch``
        - **output:** logits :math:`(B, \\text{num\\_classes})`
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int = 2,
        blocks: Sequence[tuple[int, Sequence[int]]] = PARTICLENET_BLOCKS,
        fc: Sequence[tuple[int, float]] = ((256, 0.1),),
        input_norm: bool = True,
        fusion: bool = False,
        pad_neighbours: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.input_shapes = {"x": (in_channels,), "pos": (None,)}  # checked at the first layer
        self.input_norm = nn.BatchNorm1d(in_channels) if input_norm else nn.Identity()
        convs = []
        c = in_channels
        for k, channels in blocks:
            convs.append(EdgeConvBlock(c, tuple(channels), k=k, pad_neighbours=pad_neighbours))
            c = channels[-1]
        self.convs = nn.ModuleList(convs)
        self.fusion = None
        if fusion:
            c_in = sum(int(channels[-1]) for _, channels in blocks)
            c = min(max(c_in // 128 * 128, 128), 1024)
            self.fusion = nn.Sequential(nn.Linear(c_in, c, bias=False), nn.BatchNorm1d(c), nn.ReLU())
        layers: list[nn.Module] = []
        for width, p in fc:
            layers += [nn.Linear(c, width), nn.ReLU(), nn.Dropout(p)]
            c = width
        layers.append(nn.Linear(c, num_classes))
        self.classifier = nn.Sequential(*layers)
        self.embedding_size = c

    def node_embeddings(self, data) -> Tensor:
        """Per-particle features after the last EdgeConv block (or the fusion block), ``(N, C)``."""
        check_batch_norm_particles(self, data.x)  # (also when called directly, not through forward)
        x = self.input_norm(data.x)
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros(
            x.size(0), dtype=torch.long, device=x.device)
        pos = data.pos
        outputs = []
        for i, conv in enumerate(self.convs):
            x = conv(x, pos=pos if i == 0 else None, batch=batch)
            outputs.append(x)
        return x if self.fusion is None else self.fusion(torch.cat(outputs, dim=-1))

    def graph_embeddings(self, data) -> Tensor:
        """Mean-pooled jet embedding, ``(B, C)``."""
        check_model_dtypes(self, data=data)
        x = self.node_embeddings(data)
        return global_mean_pool(x, data.batch, size=getattr(data, "num_graphs", None))

    def forward(self, data) -> Tensor:
        return self.classifier(self.graph_embeddings(data))

    #: Fields of :meth:`forward_padded` (before the mask), see :func:`pgjets.models.padded.pad_batch`.
    padded_inputs = ("x", "pos")

    def forward_padded(self, x: Tensor, pos: Tensor, mask: Tensor) -> Tensor:
        r"""Logits from padded jets (inference path for ``torch.compile`` and ONNX).

        .. math::
            f(X, M) = \mathrm{FC}\Big(\frac{1}{\sum_i M_i}\sum_i M_i\, \mathbf{h}_i^{(L)}\Big)

        Equal to :meth:`forward` on the same jets (eval mode).

        Shapes:
            - **input:** ``x`` :math:`(B, N, F)`, ``pos`` :math:`(B, N, 2)`, ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, \text{num\_classes})`
        """
        check_model_dtypes(self, padded=(x, pos, mask))
        check_inference(self)
        h = rowwise(self.input_norm, x)
        outputs = []
        for i, conv in enumerate(self.convs):
            h = conv.forward_padded(h, mask, pos=pos if i == 0 else None)
            outputs.append(h)
        if self.fusion is not None:
            h = rowwise(self.fusion, torch.cat(outputs, dim=-1))
        return self.classifier(masked_reduce(h, mask, "mean"))


def particlenet_lite(in_channels: int, num_classes: int = 2, **kwargs: Any) -> ParticleNet:
    """ParticleNet-Lite: 2 blocks, k = 7, channels 32 and 64, FC 128 (dropout 0.1); other
    :class:`ParticleNet` arguments (``pad_neighbours``, ``fusion``, ``input_norm``) pass through."""
    return ParticleNet(in_channels, num_classes, **{"blocks": PARTICLENET_LITE_BLOCKS, "fc": ((128, 0.1),), **kwargs})


__all__ = ["ParticleNet", "particlenet_lite", "PARTICLENET_BLOCKS", "PARTICLENET_LITE_BLOCKS"]
