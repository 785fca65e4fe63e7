r"""Images to grid graphs.

Each pixel :math:`(r, c)` becomes a node with its channels as features and
``pos = (r, c)``; it receives an edge from each of its 4 (von Neumann) or 8
(Moore) neighbours :math:`(r + \delta_r, c + \delta_c)`, with the offset as
edge attribute

.. math::
    \mathbf{e}_{j \to i} = \mathbf{pos}_j - \mathbf{pos}_i
    = (\delta_r, \delta_c) \in \{-1, 0, 1\}^2 \setminus \{(0, 0)\}.

With ``edge_index[0] = j`` (source) and ``edge_index[1] = i`` (target), a layer
computing :math:`\mathbf{x}'_i = \sum_{j} W_{1+\delta_r,\,1+\delta_c}\,
\mathbf{x}_j` (plus the centre term) reproduces a :math:`3 \times 3`
``torch.nn.Conv2d`` (cross-correlation, ``padding="same"``).  Pixels outside
the image contribute nothing, exactly like zero padding, and dropping zero
pixels (``drop_zeros=True``) keeps the original positions, so the offsets and
the convolution result on the kept pixels stay the same.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.data.data import BaseData
from torch_geometric.transforms import BaseTransform

from .._checks import as_tensor, check_finite, check_ndim
from ..errors import EmptyGraphError, InputShapeError
from .cloud import batch_from_flat

_OFFSETS = {
    4: ((-1, 0), (0, -1), (0, 1), (1, 0)),
    8: ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
}


def _check_connectivity(connectivity: int) -> int:
    if isinstance(connectivity, bool) or connectivity not in _OFFSETS:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    return int(connectivity)


def _grid(images: Tensor, connectivity: int, drop_zeros: bool) -> tuple[dict, Tensor, Tensor, Tensor]:
    """Core builder for ``(B, C, H, W)``: nodes, counts, edge_index, edge_attr.

    Work is proportional to the number of kept pixels times the number of
    offsets (sparse jet images with ``drop_zeros`` stay cheap).  Edges are
    ordered by target node, then by offset.
    """
    b, c, h, w = images.shape
    device = images.device
    hw = h * w
    x = images.permute(0, 2, 3, 1).reshape(b * hw, c)
    if drop_zeros:
        keep = (x != 0).any(dim=1)
        counts = keep.view(b, hw).sum(1)
        if bool((counts == 0).any()):
            i = int(torch.nonzero(counts == 0)[0])
            raise EmptyGraphError(f"image {i} has no non-zero pixel (drop_zeros=True)")
        flat = torch.nonzero(keep).view(-1)  # global pixel index of each node
        new_index = torch.cumsum(keep.long(), 0) - 1
        x = x[flat]
    else:
        keep = None
        counts = torch.full((b,), hw, dtype=torch.long, device=device)
        flat = torch.arange(b * hw, device=device)
    img, local = flat // hw, flat % hw
    pos = torch.stack([local // w, local % w], 1)  # (N, 2) = (row, col)
    offsets = torch.tensor(_OFFSETS[connectivity], dtype=torch.long, device=device)  # (O, 2)
    nb = pos.unsqueeze(1) + offsets.unsqueeze(0)  # (N, O, 2)
    valid = (nb[..., 0] >= 0) & (nb[..., 0] < h) & (nb[..., 1] >= 0) & (nb[..., 1] < w)
    src_pixel = img.unsqueeze(1) * hw + nb[..., 0].clamp(0, h - 1) * w + nb[..., 1].clamp(0, w - 1)
    if keep is not None:
        valid &= keep[src_pixel]
        src = new_index[src_pixel[valid]]
    else:
        src = src_pixel[valid]
    tgt = torch.arange(flat.numel(), device=device).unsqueeze(1).expand_as(valid)[valid]
    attr = offsets.unsqueeze(0).expand(flat.numel(), -1, -1)[valid]
    nodes = {"x": x, "pos": pos.to(images.dtype)}
    return nodes, counts, torch.stack([src, tgt]), attr.to(images.dtype)


def _as_images(image: Any, name: str, batched: bool) -> Tensor:
    t = as_tensor(image, name)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if batched:
        check_ndim(t, 4, name, "(batch, channels, height, width)")
    else:
        check_ndim(t, (2, 3), name, "(channels, height, width) or (height, width)")
        t = t.unsqueeze(0) if t.dim() == 3 else t.view(1, 1, *t.shape)
    if t.numel() == 0:
        raise EmptyGraphError(f"{name} has no pixels, got shape {tuple(t.shape)}")
    check_finite(t, name)
    return t


def image_to_graph(image: Any, connectivity: int = 8, drop_zeros: bool = False) -> Data:
    r"""One image to a grid graph (vectorised, no loop over pixels).

    .. math::
        \mathbf{x}_{rW + c} = \mathrm{image}[:, r, c], \qquad
        \mathbf{e}_{j \to i} = \mathbf{pos}_j - \mathbf{pos}_i

    Edges are sorted by target pixel (row-major), then by offset.

    Args:
        image: ``(C, H, W)`` or ``(H, W)`` tensor or numpy array.
        connectivity: 4 (edge neighbours) or 8 (edge and corner neighbours).
        drop_zeros: Keep only pixels with a non-zero channel; ``pos`` keeps the
            original ``(row, col)``, edges join only kept pixels.

    Returns:
        ``Data`` with ``x`` (pixel channels), ``pos`` (row, col), ``edge_index``,
        ``edge_attr`` (offset source minus target) and ``grid_size``
        ``[[H, W]]``.

    Shapes:
        - **input:** :math:`(C, H, W)` or :math:`(H, W)`
        - **output:** ``x`` :math:`(N, C)`, ``pos`` :math:`(N, 2)`,
          ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, 2)`,
          ``grid_size`` :math:`(1, 2)`; without dropping :math:`N = HW` and
          :math:`E = 2[H(W-1) + W(H-1)]` (4) or that plus
          :math:`4(H-1)(W-1)` (8).
    """
    connectivity = _check_connectivity(connectivity)
    img = _as_images(image, "image", batched=False)
    nodes, _, edge_index, edge_attr = _grid(img, connectivity, drop_zeros)
    h, w = img.shape[-2:]
    return Data(edge_index=edge_index, edge_attr=edge_attr,
                grid_size=torch.tensor([[h, w]], dtype=torch.long, device=img.device), **nodes)


def images_to_batch(images: Any, connectivity: int = 8, drop_zeros: bool = False) -> Batch:
    r"""A stack of images to one PyG ``Batch`` of grid graphs (vectorised).

    Same graphs as ``Batch.from_data_list([image_to_graph(im) for im in
    images])`` but built with tensor operations over the whole stack; the
    ``Batch`` internals are set, so ``to_data_list()`` and ``batch[i]`` work.

    Args:
        images: ``(B, C, H, W)`` tensor or numpy array.
        connectivity: 4 or 8.
        drop_zeros: Keep only non-zero pixels (an all-zero image raises
            :class:`~pgjets.errors.EmptyGraphError`).

    Shapes:
        - **input:** :math:`(B, C, H, W)`
        - **output:** ``Batch`` with ``x`` :math:`(N, C)`, ``pos`` :math:`(N, 2)`,
          ``edge_attr`` :math:`(E, 2)`, ``grid_size`` :math:`(B, 2)`
    """
    connectivity = _check_connectivity(connectivity)
    imgs = _as_images(images, "images", batched=True)
    nodes, counts, edge_index, edge_attr = _grid(imgs, connectivity, drop_zeros)
    b, _, h, w = imgs.shape
    grid_size = torch.tensor([[h, w]], dtype=torch.long, device=imgs.device).repeat(b, 1)
    return batch_from_flat(nodes, counts, edge_index=edge_index,
                           edge_attrs={"edge_attr": edge_attr},
                           graph_attrs={"grid_size": grid_size})


class ImageToGraph(BaseTransform):
    r"""Transform an image into a grid graph (see :func:`image_to_graph`).

    The input is either the image itself (tensor or numpy array) or a ``Data``
    holding it as ``data.image``; in the latter case every other attribute of
    the ``Data`` (e.g. the label ``y``) is copied to the output graph.

    .. math::
        \mathbf{e}_{j \to i} = \mathbf{pos}_j - \mathbf{pos}_i

    Args:
        connectivity: 4 or 8.
        drop_zeros: Keep only non-zero pixels.

    Shapes:
        - **input:** :math:`(C, H, W)` or :math:`(H, W)` (or ``data.image``)
        - **output:** ``Data`` as returned by :func:`image_to_graph`
    """

    def __init__(self, connectivity: int = 8, drop_zeros: bool = False) -> None:
        self.connectivity = _check_connectivity(connectivity)
        self.drop_zeros = drop_zeros

    def forward(self, data: Any) -> Data:
        if not isinstance(data, BaseData):
            return image_to_graph(data, self.connectivity, self.drop_zeros)
        if "image" not in data:
            raise InputShapeError("ImageToGraph needs an image or a Data with data.image")
        out = image_to_graph(data.image, self.connectivity, self.drop_zeros)
        for key, value in data.items():
            if key != "image" and key not in out:
                out[key] = value
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(connectivity={self.connectivity}, "
                f"drop_zeros={self.drop_zeros})")


__all__ = ["image_to_graph", "images_to_batch", "ImageToGraph"]
