r"""The seed's jet-image CNN (5x5 kernels, unpadded) as a graph network.

The lecture on jet images (seed 003) classifies 20x20 jet images with

.. code-block:: text

    Conv2d(1, 5, 5) -> ReLU -> MaxPool2d(2)      20x20 -> 16x16 -> 8x8
    Conv2d(5, 10, 5) -> ReLU -> MaxPool2d(2)     8x8   -> 4x4   -> 2x2
    Linear(40, 30) -> ReLU -> Linear(30, 20) -> ReLU -> Linear(20, 10) -> ReLU -> Linear(10, C)

:class:`SeedImageCNN` computes exactly this on grid graphs built with
``radius=2`` (:func:`~pgjets.graphs.image.images_to_batch`): each
:class:`~pgjets.nn.grid_conv.GridConv` (``kernel_size=5``) gives the
zero-padded result at every pixel, :func:`~pgjets.graphs.image.conv_output_grid`
keeps the pixels of the unpadded (``"valid"``) output, and
:class:`~pgjets.nn.grid_pool.GridPool` pools 2x2 windows.  The 2x2x10
feature map is flattened in ``torch.flatten`` order (channel, row, column).
:func:`seed_image_cnn` builds the reference ``nn.Module`` and
:meth:`SeedImageCNN.load_reference` copies its weights, so both give the same
logits (tested).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from .._checks import check_positive_int
from ..errors import InputShapeError
from ..graphs.image import conv_output_grid, grid_neighbours
from ..nn.grid_conv import GridConv
from ..nn.grid_pool import GridPool


class _SeedReference(nn.Module):
    def __init__(self, in_channels: int, channels: Sequence[int], kernel_size: int, hidden: Sequence[int],
                 num_classes: int, flat: int) -> None:
        super().__init__()
        dims = [in_channels, *channels]
        self.convs = nn.ModuleList([nn.Conv2d(a, b, kernel_size) for a, b in zip(dims[:-1], dims[1:])])
        sizes = [flat, *hidden, num_classes]
        self.fc = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def forward(self, images: Tensor) -> Tensor:
        x = images
        for conv in self.convs:
            x = torch.max_pool2d(torch.relu(conv(x)), 2)
        x = torch.flatten(x, 1)
        for i, lin in enumerate(self.fc):
            x = lin(x)
            if i < len(self.fc) - 1:
                x = torch.relu(x)
        return x


def _flat_size(image_size: int, n_blocks: int, kernel_size: int) -> int:
    s = image_size
    for _ in range(n_blocks):
        s = (s - kernel_size + 1) // 2
        if s < 1:
            raise ValueError(f"image_size {image_size} is too small for {n_blocks} blocks of "
                             f"{kernel_size}x{kernel_size} convolutions and 2x2 pooling")
    return s


def seed_image_cnn(in_channels: int = 1, num_classes: int = 5, image_size: int = 20,
                   channels: Sequence[int] = (5, 10), kernel_size: int = 5,
                   hidden: Sequence[int] = (30, 20, 10)) -> nn.Module:
    r"""The seed's ``Conv2d`` network (reference for :class:`SeedImageCNN`).

    Blocks :math:`\mathrm{MaxPool}_2 \circ \mathrm{ReLU} \circ \mathrm{Conv}_{K}` (no padding),
    flatten, then an MLP with ReLU between the layers of ``hidden``.

    Args:
        in_channels: Image channels.
        num_classes: Output logits (5 in the seed: g, q, W, Z, t).
        image_size: Square image size (20 in the seed).
        channels: Output channels of the conv blocks.
        kernel_size: Convolution kernel size.
        hidden: Hidden sizes of the MLP.

    Shapes:
        - **input:** :math:`(B, C, H, W)`
        - **output:** :math:`(B, \text{num\_classes})`
    """
    side = _flat_size(image_size, len(channels), kernel_size)
    return _SeedReference(in_channels, channels, kernel_size, hidden, num_classes, channels[-1] * side * side)


class SeedImageCNN(nn.Module):
    r"""The seed's 5x5 jet-image CNN on ``radius=2`` grid graphs (same numbers as :func:`seed_image_cnn`).

    .. math::
        h^{(l+1)} = \mathrm{pool}_2\Big(\mathrm{ReLU}\big(\mathrm{valid}_K\,
            \mathrm{GridConv}_K(h^{(l)})\big)\Big),\qquad
        f = \mathrm{MLP}\big(\mathrm{flatten}(h^{(L)})\big)

    where :math:`\mathrm{valid}_K` keeps the pixels of the unpadded output
    (:func:`~pgjets.graphs.image.conv_output_grid`).  The input must be full
    (not ``drop_zeros``) ``image_size`` x ``image_size`` grid graphs with
    ``radius >= K // 2`` neighbourhoods, e.g.
    ``images_to_batch(images, radius=2)``; deeper layers rebuild their
    edges themselves.

    Args:
        in_channels: Image channels.
        num_classes: Output logits.
        image_size: Square image size.
        channels: Output channels of the conv blocks.
        kernel_size: Odd kernel size :math:`K`.
        hidden: Hidden sizes of the MLP.

    Shapes:
        - **input:** grid-graph ``Batch`` with ``x`` :math:`(B H W, C)`, ``edge_index``,
          ``edge_attr``, ``pos``, ``batch``, ``grid_size`` :math:`(B, 2)`
        - **output:** :math:`(B, \text{num\_classes})`
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 5, image_size: int = 20,
                 channels: Sequence[int] = (5, 10), kernel_size: int = 5,
                 hidden: Sequence[int] = (30, 20, 10)) -> None:
        super().__init__()
        self.image_size = check_positive_int(image_size, "image_size")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.side = _flat_size(image_size, len(channels), kernel_size)
        dims = [in_channels, *channels]
        self.convs = nn.ModuleList([GridConv(a, b, kernel_size) for a, b in zip(dims[:-1], dims[1:])])
        self.pool = GridPool(2, "max")
        sizes = [channels[-1] * self.side * self.side, *hidden, num_classes]
        self.fc = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])

    def load_reference(self, ref: nn.Module) -> "SeedImageCNN":
        """Copy the weights of a :func:`seed_image_cnn` module with the same sizes; returns ``self``."""
        if len(getattr(ref, "convs", ())) != len(self.convs) or len(getattr(ref, "fc", ())) != len(self.fc):
            raise InputShapeError("ref must be a seed_image_cnn(...) with the same number of layers")
        for g, c in zip(self.convs, ref.convs):
            g.load_conv2d_weights(c)
        with torch.no_grad():
            for a, b in zip(self.fc, ref.fc):
                if a.weight.shape != b.weight.shape:
                    raise InputShapeError(f"MLP layer shapes differ: {tuple(a.weight.shape)} vs {tuple(b.weight.shape)}")
                a.weight.copy_(b.weight)
                a.bias.copy_(b.bias)
        return self

    def feature_maps(self, data: Any) -> Tensor:
        """The last pooled feature map, flattened like ``torch.flatten(x, 1)``: ``(B, C_L * side^2)``."""
        x, ei, ea, pos = data.x, data.edge_index, data.edge_attr, data.pos
        num_graphs = int(data.num_graphs) if hasattr(data, "num_graphs") else 1
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        if x.size(0) != num_graphs * self.image_size * self.image_size:
            raise InputShapeError(f"SeedImageCNN needs full {self.image_size}x{self.image_size} grid graphs "
                                  f"({num_graphs * self.image_size ** 2} nodes), got {x.size(0)} nodes")
        need = num_graphs * self.convs[0].full_grid_edges(self.image_size, self.image_size)
        if ei.size(1) < need:  # shapes only: no value read back
            raise InputShapeError(f"SeedImageCNN needs grid graphs with radius >= {self.kernel_size // 2} "
                                  f"neighbourhoods ({need} edges), got {ei.size(1)} edges: build them with "
                                  f"images_to_batch(images, radius={self.kernel_size // 2})")
        grid = torch.tensor([[self.image_size, self.image_size]], device=x.device).repeat(num_graphs, 1)
        rho = self.kernel_size // 2
        for conv in self.convs:
            x = conv(x, ei, ea)
            out = conv_output_grid(x, pos, batch, grid, self.kernel_size, padding="valid")
            # 2x2 max pooling as MaxPool2d (floor mode): an odd last row or column is left out
            grid = torch.div(out.grid_size, 2, rounding_mode="floor")
            keep = (out.pos < 2 * grid[out.batch]).all(dim=1)
            g = self.pool(torch.relu(out.x[keep]), out.pos[keep], out.batch[keep])
            x, pos, batch = g.x, g.pos, g.batch
            ei, ea = grid_neighbours(pos, batch, 8, rho)
        c = x.size(1)
        return x.view(num_graphs, self.side * self.side, c).transpose(1, 2).reshape(num_graphs, -1)

    def forward(self, data: Any) -> Tensor:
        x = self.feature_maps(data)
        for i, lin in enumerate(self.fc):
            x = lin(x)
            if i < len(self.fc) - 1:
                x = torch.relu(x)
        return x


__all__ = ["SeedImageCNN", "seed_image_cnn"]
