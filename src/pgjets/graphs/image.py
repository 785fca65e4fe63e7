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

**Larger kernels.**  With ``radius=rho`` every pixel receives an edge from
every pixel with :math:`\max(|\delta_r|, |\delta_c|) \le \rho`
(8-connectivity; :math:`|\delta_r| + |\delta_c| \le \rho` with 4), so a
:math:`(2\rho + 1) \times (2\rho + 1)` kernel, e.g.
``GridConv(kernel_size=5)`` on ``radius=2`` graphs, is a full ``5x5``
``Conv2d(padding=2)``.  On the standard ``radius=1`` graphs a 5x5 kernel acts
as 3x3 (its outer ring never gets an edge).  Unpadded (``"valid"``) and strided
convolutions are a selection of output pixels: :func:`conv_output_grid` keeps
the pixels at which ``Conv2d(kernel_size, stride, padding=0)`` (or
``padding=K//2``) places its outputs, renumbers them on the output grid and
rebuilds the neighbourhood edges there (:func:`grid_neighbours`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.data.data import BaseData
from torch_geometric.transforms import BaseTransform

from .._checks import as_float_tensor, as_tensor, check_finite, check_ndim
from ..errors import EmptyGraphError, InputShapeError
from ..ops.grid import check_connectivity, check_radius, grid_offsets
from .cloud import batch_from_flat, refuse_hetero


def _grid(images: Tensor, connectivity: int, drop_zeros: bool, radius: int = 1
          ) -> tuple[dict, Tensor, Tensor, Tensor]:
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
    offsets = torch.tensor(grid_offsets(connectivity, radius), dtype=torch.long, device=device)  # (O, 2)
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
    t = as_float_tensor(image, name)  # the builders' dtype policy: the default dtype, complex refused
    if batched:
        check_ndim(t, 4, name, "(batch, channels, height, width)")
    else:
        check_ndim(t, (2, 3), name, "(channels, height, width) or (height, width)")
        t = t.unsqueeze(0) if t.dim() == 3 else t.view(1, 1, *t.shape)
    if t.numel() == 0:
        raise EmptyGraphError(f"{name} has no pixels, got shape {tuple(t.shape)}")
    check_finite(t, name)
    return t


def image_to_graph(image: Any, connectivity: int = 8, drop_zeros: bool = False, radius: int = 1) -> Data:
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
        radius: Neighbourhood radius :math:`\rho` (see :func:`grid_offsets`);
            ``radius=2`` makes 5x5 kernels complete.

    Returns:
        ``Data`` with ``x`` (pixel channels), ``pos`` (row, col), ``edge_index``,
        ``edge_attr`` (offset source minus target) and ``grid_size``
        ``[[H, W]]``.

    Shapes:
        - **input:** :math:`(C, H, W)` or :math:`(H, W)`
        - **output:** ``x`` :math:`(N, C)`, ``pos`` :math:`(N, 2)`,
          ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, 2)`,
          ``grid_size`` :math:`(1, 2)`; without dropping :math:`N = HW` and
          :math:`E = \sum_{\delta} (H - |\delta_r|)(W - |\delta_c|)` over the
          offsets :math:`\delta` of :func:`grid_offsets` ``(connectivity, radius)``;
          for ``radius=1`` :math:`E = 2[H(W-1) + W(H-1)]` (4) or that plus
          :math:`4(H-1)(W-1)` (8).
    """
    connectivity = check_connectivity(connectivity)
    radius = check_radius(radius)
    img = _as_images(image, "image", batched=False)
    nodes, _, edge_index, edge_attr = _grid(img, connectivity, drop_zeros, radius)
    h, w = img.shape[-2:]
    return Data(edge_index=edge_index, edge_attr=edge_attr,
                grid_size=torch.tensor([[h, w]], dtype=torch.long, device=img.device), **nodes)


def images_to_batch(images: Any, connectivity: int = 8, drop_zeros: bool = False, radius: int = 1) -> Batch:
    r"""A stack of images to one PyG ``Batch`` of grid graphs (vectorised).

    Same graphs as ``Batch.from_data_list([image_to_graph(im) for im in
    images])`` but built with tensor operations over the whole stack; the
    ``Batch`` internals are set, so ``to_data_list()`` and ``batch[i]`` work.

    Args:
        images: ``(B, C, H, W)`` tensor or numpy array.
        connectivity: 4 or 8.
        drop_zeros: Keep only non-zero pixels (an all-zero image raises
            :class:`~pgjets.errors.EmptyGraphError`).
        radius: Neighbourhood radius (see :func:`grid_offsets`).

    Shapes:
        - **input:** :math:`(B, C, H, W)`
        - **output:** ``Batch`` with ``x`` :math:`(N, C)`, ``pos`` :math:`(N, 2)`,
          ``edge_attr`` :math:`(E, 2)`, ``grid_size`` :math:`(B, 2)`
    """
    connectivity = check_connectivity(connectivity)
    radius = check_radius(radius)
    imgs = _as_images(images, "images", batched=True)
    nodes, counts, edge_index, edge_attr = _grid(imgs, connectivity, drop_zeros, radius)
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
        radius: Neighbourhood radius (see :func:`grid_offsets`).

    Shapes:
        - **input:** :math:`(C, H, W)` or :math:`(H, W)` (or ``data.image``)
        - **output:** ``Data`` as returned by :func:`image_to_graph`
    """

    def __init__(self, connectivity: int = 8, drop_zeros: bool = False, radius: int = 1) -> None:
        self.connectivity = check_connectivity(connectivity)
        self.drop_zeros = drop_zeros
        self.radius = check_radius(radius)

    def forward(self, data: Any) -> Data:
        if not isinstance(data, BaseData):
            return image_to_graph(data, self.connectivity, self.drop_zeros, self.radius)
        refuse_hetero(data, self.__class__.__name__)
        if isinstance(data, Batch):  # its images are concatenated along the channels: one graph per image
            return Batch.from_data_list([self.forward(d) for d in data.to_data_list()])
        if "image" not in data:
            raise InputShapeError("ImageToGraph needs an image or a Data with data.image")
        out = image_to_graph(data.image, self.connectivity, self.drop_zeros, self.radius)
        for key, value in data.items():
            if key != "image" and key not in out:
                out[key] = value
        return out

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(connectivity={self.connectivity}, "
                f"drop_zeros={self.drop_zeros}, radius={self.radius})")


def grid_neighbours(pos: Tensor, batch: Tensor, connectivity: int = 8, radius: int = 1) -> tuple[Tensor, Tensor]:
    r"""Neighbourhood edges between the existing cells of a batch of grids (vectorised).

    An edge :math:`j \to i` for every node :math:`j` of the same graph at
    :math:`\mathbf{pos}_i + \boldsymbol\delta`, :math:`\boldsymbol\delta` in
    :func:`grid_offsets` ``(connectivity, radius)``; ``edge_attr`` is
    :math:`\boldsymbol\delta = \mathbf{pos}_j - \mathbf{pos}_i`.  Edges are
    sorted by target node, then by offset (as :func:`image_to_graph`).

    Args:
        pos: Integer-valued ``(row, col)`` of each node, no two nodes of one
            graph in the same cell.
        batch: Graph index of each node.
        connectivity: 4 or 8.
        radius: Neighbourhood radius :math:`\rho`.

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``batch`` :math:`(N,)`
        - **output:** ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, 2)`
    """
    offs_t = grid_offsets(connectivity, radius)
    check_ndim(pos, 2, "pos", "(num_nodes, 2)")
    device = pos.device
    dtype = pos.dtype if pos.is_floating_point() else torch.get_default_dtype()
    n = pos.size(0)
    if n == 0:
        return torch.empty(2, 0, dtype=torch.long, device=device), torch.empty(0, 2, dtype=dtype, device=device)
    p = torch.round(pos).to(torch.long)
    p = p - p.min(0).values + radius  # neighbour lookups stay non-negative
    h = int(p[:, 0].max()) + radius + 1
    w = int(p[:, 1].max()) + radius + 1
    b = batch.to(torch.long)
    key = (b * h + p[:, 0]) * w + p[:, 1]
    sorted_key, order = torch.sort(key)
    offs = torch.tensor(offs_t, dtype=torch.long, device=device)
    nb = p.unsqueeze(1) + offs.unsqueeze(0)  # (N, O, 2)
    nb_key = ((b.unsqueeze(1) * h + nb[..., 0]) * w + nb[..., 1]).reshape(-1)
    loc = torch.searchsorted(sorted_key, nb_key).clamp_max(n - 1)
    found = sorted_key[loc] == nb_key
    src = order[loc][found]
    tgt = torch.arange(n, device=device).repeat_interleave(offs.size(0))[found]
    return torch.stack([src, tgt]), offs.repeat(n, 1)[found].to(dtype)


def conv_output_grid(
    x: Tensor,
    pos: Tensor,
    batch: Tensor,
    grid_size: Tensor,
    kernel_size: int,
    stride: int = 1,
    padding: str = "valid",
    connectivity: int = 8,
    radius: int = 1,
) -> Data:
    r"""Keep the pixels where ``Conv2d(kernel_size, stride, padding)`` puts its outputs.

    A graph convolution on a grid graph (e.g.
    :class:`~pgjets.nn.grid_conv.GridConv`) computes the zero-padded
    (``"same"``) result at every pixel.  The unpadded and strided results are
    a subset of those pixels: with :math:`\rho = \lfloor K/2 \rfloor`,
    output pixel :math:`(r', c')` sits at input pixel

    .. math::
        (r, c) = (\rho + s\,r',\ \rho + s\,c')\ \ (\texttt{"valid"}),\qquad
        (r, c) = (s\,r',\ s\,c')\ \ (\texttt{"same"}),

    for :math:`r' < \lfloor (H - K)/s \rfloor + 1` (valid) or
    :math:`\lceil H/s \rceil` (same, i.e. ``padding=K//2``).  The kept
    nodes get ``pos = (r', c')``, the output ``grid_size`` and fresh
    neighbourhood edges (:func:`grid_neighbours`), so the next layer can run
    on them.  Node order is preserved (row-major stays row-major), so on full
    images the result reshapes to the ``Conv2d`` output.

    Args:
        x: Node features after the (same-padded) graph convolution ``(N, F)``.
        pos: ``(row, col)`` of each node ``(N, 2)``.
        batch: Sorted image index of each node ``(N,)``.
        grid_size: ``(B, 2)`` image sizes ``(H, W)``.
        kernel_size: Odd kernel size :math:`K`.
        stride: Stride :math:`s`.
        padding: ``"valid"`` (``padding=0``) or ``"same"`` (``padding=K//2``).
        connectivity: Neighbourhood shape of the new edges.
        radius: Neighbourhood radius of the new edges.

    Returns:
        ``Data`` with ``x``, ``pos``, ``batch``, ``edge_index``, ``edge_attr``
        and ``grid_size`` of the output grid.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``pos`` :math:`(N, 2)`, ``grid_size`` :math:`(B, 2)`
        - **output:** ``x`` :math:`(M, F)`, :math:`M \le N`
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd integer >= 1, got {kernel_size!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    check_ndim(x, 2, "x", "(num_nodes, channels)")
    check_ndim(pos, 2, "pos", "(num_nodes, 2)")
    gs = as_tensor(grid_size, "grid_size").to(device=x.device, dtype=torch.long).reshape(-1, 2)
    b = batch.to(torch.long)
    if pos.size(0) != x.size(0) or b.numel() != x.size(0):
        raise InputShapeError(f"x, pos and batch must have the same number of nodes, got "
                              f"{x.size(0)}, {pos.size(0)}, {b.numel()}")
    rho = kernel_size // 2
    if padding == "valid":
        out_hw = torch.div(gs - kernel_size, stride, rounding_mode="floor") + 1
        if bool((gs < kernel_size).any()):
            raise InputShapeError(f"images smaller than the kernel ({kernel_size}) have no valid output")
        start = rho
    else:
        out_hw = torch.div(gs - 1, stride, rounding_mode="floor") + 1
        start = 0
    p = torch.round(pos).to(torch.long) - start
    q = torch.div(p, stride, rounding_mode="floor")
    keep = (p >= 0).all(1) & (p % stride == 0).all(1) & (q < out_hw[b]).all(1)
    new_pos = q[keep].to(pos.dtype if pos.is_floating_point() else torch.get_default_dtype())
    new_batch = b[keep]
    edge_index, edge_attr = grid_neighbours(new_pos, new_batch, connectivity, radius)
    return Data(x=x[keep], pos=new_pos, batch=new_batch, edge_index=edge_index, edge_attr=edge_attr,
                grid_size=out_hw)


__all__ = ["image_to_graph", "images_to_batch", "ImageToGraph", "grid_offsets", "grid_neighbours",
           "conv_output_grid"]
