r"""A convolutional network on grid graphs (jet images, digits, galaxy images).

Blocks of :class:`~pgjets.nn.grid_conv.GridConv` (a :math:`3\times3`
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
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from ..nn.grid_conv import GridConv
from ..nn.grid_pool import GridPool


class GridCNN(nn.Module):
    """CNN on grid graphs.

    Args:
        in_channels: Pixel channels.
        num_classes: Output logits.
        channels: Output channels of each conv + pool block, default ``(32, 64)``.
        kernel_size: Convolution kernel size.

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
        x, ei, ea, pos = data.x, data.edge_index, data.edge_attr, data.pos
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        for conv in self.convs:
            x = torch.relu(conv(x, ei, ea))
            g = self.pool(x, pos, batch)
            x, ei, ea, pos, batch = g.x, g.edge_index, g.edge_attr, g.pos, g.batch
        return global_mean_pool(x, batch, size=getattr(data, "num_graphs", None))

    def forward(self, data) -> Tensor:
        return self.head(self.graph_embeddings(data))


__all__ = ["GridCNN"]
