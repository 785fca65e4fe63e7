r"""A convolutional network on grid graphs (jet images, digits, galaxy images).

Blocks of :class:`~pgjets.nn.grid_conv.GridConv` (a :math:`K\times K`
convolution as message passing, equal to ``nn.Conv2d`` on full images) with
ReLU, each followed by :class:`~pgjets.nn.grid_pool.GridPool` (2x2 max
pooling on the graph), then a global mean over the remaining pixels and an MLP:

.. math::
    f(I) = \mathrm{MLP}\Big(\frac{1}{|V_L|} \sum_{v \in V_L}
        \big(\mathrm{pool} \circ \mathrm{ReLU} \circ \mathrm{conv}\big)^{L}(I)_v\Big).

On sparse jet images (``drop_zeros=True``) only the non-zero pixels are nodes,
so the cost follows the number of particles rather than the image size.
Convolution is translation equivariant and the global mean makes the output
(nearly) translation invariant, as in the seed-era CNN taggers.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from ..graphs.image import grid_neighbours
from ..nn.grid_conv import GridConv
from ..nn.grid_pool import GridPool
from .padded import check_inference, check_model_dtypes


class GridCNN(nn.Module):
    """CNN on grid graphs.

    Args:
        in_channels: Pixel channels.
        num_classes: Output logits.
        channels: Output channels of each conv + pool block, default ``(32, 64)``.
        kernel_size: Odd convolution kernel size :math:`K`.  For :math:`K = 3` the
            first block uses the input graph's edges (8- or 4-connected); for
            :math:`K > 3` every block builds the :math:`K\times K` neighbourhoods of
            its pixels itself (:func:`~pgjets.graphs.image.grid_neighbours`, radius
            :math:`K // 2`), so the whole kernel is used whatever radius the input
            graph was built with.

    Shapes:
        - **input:** grid-graph ``Batch`` with ``x`` :math:`(N, C)`, ``edge_index``,
          ``edge_attr`` (offsets), ``pos`` (row, col), ``batch``
        - **output:** :math:`(B, \\text{num\\_classes})`
    """

    def __init__(self, in_channels: int, num_classes: int = 2, channels: Sequence[int] = (32, 64),
                 kernel_size: int = 3) -> None:
        super().__init__()
        dims = [in_channels, *channels]
        self.convs = nn.ModuleList([GridConv(a, b, kernel_size) for a, b in zip(dims[:-1], dims[1:])])
        self.pool = GridPool(2, "max")
        self.head = nn.Sequential(nn.Linear(dims[-1], 64), nn.ReLU(), nn.Linear(64, num_classes))

    def graph_embeddings(self, data) -> Tensor:
        check_model_dtypes(self, data=data)
        x, ei, ea, pos = data.x, data.edge_index, data.edge_attr, data.pos
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        grid_size = getattr(data, "grid_size", None)  # full images: the first block runs as one conv2d
        for conv in self.convs:
            if conv.radius > 1:  # the pool (and a radius-1 input graph) give 3x3 neighbourhoods only
                ei, ea = grid_neighbours(torch.round(pos), batch, 8, conv.radius)
            x = torch.relu(conv(x, ei, ea, grid_size=grid_size))
            grid_size = None  # after a pooling: message passing
            g = self.pool(x, pos, batch)
            x, ei, ea, pos, batch = g.x, g.edge_index, g.edge_attr, g.pos, g.batch
        return global_mean_pool(x, batch, size=getattr(data, "num_graphs", None))

    def forward(self, data) -> Tensor:
        return self.head(self.graph_embeddings(data))

    #: Fields of :meth:`forward_padded` (before the mask): the zero-filled images.
    padded_inputs = ("image",)

    def forward_padded(self, image: Tensor, mask: Tensor) -> Tensor:
        r"""Logits from zero-filled images and their pixel masks (``torch.compile`` / export path).

        Each block is a ``Conv2d`` with the graph layer's weights, ReLU, the
        mask (pixels that are not nodes stay zero) and
        ``MaxPool2d(2, 2, ceil_mode=True)`` of features and mask:

        .. math::
            X^{(l+1)} = \mathrm{pool}\big(M^{(l)} \odot \mathrm{ReLU}(W^{(l)} * X^{(l)})\big), \qquad
            M^{(l+1)} = \mathrm{pool}(M^{(l)}),

        then the mean over the remaining mask.  On 8-connected grid graphs (those of
        :class:`~pgjets.data.jet_dataset.JetDataset` and
        :func:`~pgjets.graphs.image.images_to_batch`) this equals :meth:`forward`:
        after the ReLU every feature is non-negative, so zeros at missing pixels
        do not change a window's maximum.

        Shapes:
            - **input:** ``image`` :math:`(B, C, H, W)`, ``mask`` :math:`(B, 1, H, W)`
            - **output:** :math:`(B, \text{num\_classes})`
        """
        check_model_dtypes(self, padded=(image, mask))
        check_inference(self)
        x, m = image, mask.to(image.dtype)
        s = self.pool.kernel
        for conv in self.convs:
            x = torch.relu(F.conv2d(x, conv.conv2d_weight(), conv.bias, padding=conv.radius)) * m
            if self.pool.mode == "max":
                x = F.max_pool2d(x, s, s, ceil_mode=True)
            else:
                total = F.avg_pool2d(x, s, s, ceil_mode=True, divisor_override=1)
                x = total / F.avg_pool2d(m, s, s, ceil_mode=True, divisor_override=1).clamp_min(1.0)
            m = F.max_pool2d(m, s, s, ceil_mode=True)
        pooled = (x * m).sum((2, 3)) / m.sum((2, 3)).clamp_min(1.0)
        return self.head(pooled)


__all__ = ["GridCNN"]
