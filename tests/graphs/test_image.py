from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs import (
    ImageToGraph, image_to_graph, images_to_batch, conv_output_grid, grid_neighbours, grid_offsets,
)


def grid_conv_reference(data, weight):
    """out_i = W[1,1] x_i + sum_j W[1+drow, 1+dcol] x_j with the stored offsets."""
    src, dst = data.edge_index
    off = data.edge_attr.long() + 1
    w_edge = weight[:, :, off[:, 0], off[:, 1]].permute(2, 0, 1)  # (E, Cout, Cin)
    msg = torch.bmm(w_edge, data.x[src].unsqueeze(-1)).squeeze(-1)
    out = data.x @ weight[:, :, 1, 1].T
    return out.index_add(0, dst, msg)


def test_edge_counts_3x3():
    img = torch.rand(3, 3)
    # 4-connectivity: 6 horizontal + 6 vertical undirected pairs = 24 directed edges.
    assert image_to_graph(img, connectivity=4).num_edges == 24
    # 8-connectivity adds 2 diagonals in each of the 4 2x2 blocks: 24 + 16 = 40.
    assert image_to_graph(img, connectivity=8).num_edges == 40
    h, w = 4, 5
    d4 = image_to_graph(torch.rand(h, w), 4)
    d8 = image_to_graph(torch.rand(h, w), 8)
    assert d4.num_edges == 2 * (h * (w - 1) + w * (h - 1))
    assert d8.num_edges == d4.num_edges + 4 * (h - 1) * (w - 1)


def test_shapes_positions_and_offsets():
    img = torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(0))
    d = image_to_graph(img)
    assert d.x.shape == (20, 2) and d.pos.shape == (20, 2) and d.edge_attr.shape == (d.num_edges, 2)
    assert d.grid_size.tolist() == [[4, 5]]
    assert d.pos.dtype == torch.float32 and d.edge_attr.dtype == torch.float32
    # node r*W + c holds pixel (r, c)
    assert torch.equal(d.x[2 * 5 + 3], img[:, 2, 3])
    assert d.pos[2 * 5 + 3].tolist() == [2.0, 3.0]
    src, dst = d.edge_index
    assert torch.equal(d.edge_attr, d.pos[src] - d.pos[dst])
    assert bool((src != dst).all())
    assert d.edge_attr.abs().max() == 1 and bool((d.edge_attr.abs().sum(1) > 0).all())
    # no duplicate edges
    assert torch.unique(src * 100 + dst).numel() == d.num_edges


def test_offsets_reproduce_conv2d():
    g = torch.Generator().manual_seed(1)
    img = torch.randn(2, 6, 7, generator=g)
    weight = torch.randn(3, 2, 3, 3, generator=g)
    ref = F.conv2d(img.unsqueeze(0), weight, padding="same")[0]  # (3, H, W)
    out = grid_conv_reference(image_to_graph(img, 8), weight)
    assert torch.allclose(out, ref.permute(1, 2, 0).reshape(-1, 3), atol=1e-5)


def test_drop_zeros_keeps_offsets_right():
    g = torch.Generator().manual_seed(2)
    img = torch.randn(2, 6, 6, generator=g)
    img = img * (torch.rand(1, 6, 6, generator=g) > 0.5)
    weight = torch.randn(4, 2, 3, 3, generator=g)
    d = image_to_graph(img, 8, drop_zeros=True)
    keep = (img != 0).any(0)
    assert d.num_nodes == int(keep.sum())
    rows, cols = torch.nonzero(keep, as_tuple=True)
    assert torch.equal(d.pos, torch.stack([rows, cols], 1).float())
    assert torch.equal(d.edge_attr, d.pos[d.edge_index[0]] - d.pos[d.edge_index[1]])
    ref = F.conv2d(img.unsqueeze(0), weight, padding=1)[0][:, rows, cols].T
    assert torch.allclose(grid_conv_reference(d, weight), ref, atol=1e-5)
    assert d.grid_size.tolist() == [[6, 6]]


@pytest.mark.parametrize("drop_zeros", [False, True])
@pytest.mark.parametrize("connectivity", [4, 8])
def test_images_to_batch_matches_from_data_list(drop_zeros, connectivity):
    g = torch.Generator().manual_seed(3)
    imgs = torch.randn(4, 3, 5, 4, generator=g) * (torch.rand(4, 1, 5, 4, generator=g) > 0.4)
    b = images_to_batch(imgs, connectivity, drop_zeros)
    data_list = [image_to_graph(im, connectivity, drop_zeros) for im in imgs]
    ref = Batch.from_data_list(data_list)
    assert b.num_graphs == 4
    for key in ("x", "pos", "edge_index", "edge_attr", "grid_size", "batch", "ptr"):
        assert torch.equal(b[key], ref[key]), key
    assert b.grid_size.shape == (4, 2)
    for i, d in enumerate(b.to_data_list()):
        for key in data_list[i].keys():
            assert torch.equal(d[key], data_list[i][key]), (i, key)
    assert torch.equal(b[3].edge_index, data_list[3].edge_index)


def test_numpy_2d_input_and_transform():
    arr = np.arange(12, dtype=np.float64).reshape(3, 4)
    d = ImageToGraph(connectivity=4)(arr)
    assert d.x.shape == (12, 1) and d.x.dtype == torch.float32
    assert d.x[:, 0].tolist() == list(range(12))
    assert "connectivity=4" in repr(ImageToGraph(4))


def test_bad_input():
    with pytest.raises(InputShapeError, match="2-D or 3-D"):
        image_to_graph(torch.rand(5))
    with pytest.raises(InputShapeError, match="4-D"):
        images_to_batch(torch.rand(2, 3, 3))
    bad = torch.rand(3, 3)
    bad[1, 1] = float("nan")
    with pytest.raises(NonFiniteError):
        image_to_graph(bad)
    with pytest.raises(ValueError, match="4 or 8"):
        image_to_graph(torch.rand(3, 3), connectivity=6)
    with pytest.raises(ValueError, match="4 or 8"):
        ImageToGraph(connectivity=True)
    with pytest.raises(EmptyGraphError):
        image_to_graph(torch.zeros(1, 0, 3))
    with pytest.raises(EmptyGraphError, match="image 1"):
        images_to_batch(torch.stack([torch.ones(1, 2, 2), torch.zeros(1, 2, 2)]), drop_zeros=True)


def test_batch_internals_and_transform_on_data():
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(4)
    imgs = torch.randn(3, 2, 4, 4, generator=g) * (torch.rand(3, 1, 4, 4, generator=g) > 0.5)
    imgs[:, 0, 0, 0] = 1.0  # no empty image
    b = images_to_batch(imgs.numpy(), 4, drop_zeros=True)
    ref = Batch.from_data_list([image_to_graph(im, 4, drop_zeros=True) for im in imgs])
    assert b._num_graphs == 3 and set(b._slice_dict) == set(ref._slice_dict)
    for key in ref._slice_dict:
        assert torch.equal(b._slice_dict[key], ref._slice_dict[key]), key
        assert torch.equal(b._inc_dict[key], ref._inc_dict[key]), key
    d = ImageToGraph(4)(Data(image=imgs[1], y=torch.tensor([1])))
    assert d.y.tolist() == [1] and "image" not in d and torch.equal(d.x, image_to_graph(imgs[1], 4).x)
    with pytest.raises(InputShapeError, match="data.image"):
        ImageToGraph()(Data(x=torch.rand(3, 1)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("drop_zeros", [False, True])
def test_cuda_batch_matches_cpu(drop_zeros):
    g = torch.Generator().manual_seed(5)
    imgs = torch.randn(3, 2, 5, 6, generator=g) * (torch.rand(3, 1, 5, 6, generator=g) > 0.5)
    imgs[:, 0, 2, 2] = 1.0
    cpu = images_to_batch(imgs, 8, drop_zeros)
    gpu = images_to_batch(imgs.cuda(), 8, drop_zeros)
    for key in ("x", "pos", "edge_index", "edge_attr", "grid_size", "batch", "ptr"):
        assert gpu[key].device.type == "cuda", key
        assert torch.equal(gpu[key].cpu(), cpu[key]), key
    single = image_to_graph(imgs[1].cuda(), 8, drop_zeros)
    assert all(single[k].device.type == "cuda" for k in single.keys())
    assert torch.equal(gpu[1].edge_attr, single.edge_attr)


# ------------------------------------------------ radius-2 neighbourhoods, valid and strided outputs
from pgjets.nn import GridConv


def test_radius2_edges_and_neighbours_agree():
    img = torch.rand(6, 7, generator=torch.Generator().manual_seed(0))
    d = image_to_graph(img, radius=2)
    # (dr, dc) with |d|_inf <= 2: sum over offsets of (H - |dr|)(W - |dc|)
    expect = sum((6 - abs(r)) * (7 - abs(c)) for r, c in grid_offsets(8, 2))
    assert d.num_edges == expect
    ei, ea = grid_neighbours(d.pos, torch.zeros(42, dtype=torch.long), radius=2)
    assert torch.equal(ei, d.edge_index) and torch.equal(ea, d.edge_attr)


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "valid"), (3, "valid"), (2, "same"), (1, "same")])
def test_5x5_valid_and_strided_equal_conv2d(stride, padding):
    torch.manual_seed(0)
    imgs = torch.randn(3, 2, 11, 9)
    conv = torch.nn.Conv2d(2, 4, 5, stride=stride, padding=0 if padding == "valid" else 2)
    ref = conv(imgs)  # (B, 4, H', W')
    same = torch.nn.Conv2d(2, 4, 5)
    same.load_state_dict(conv.state_dict())
    g = GridConv.from_conv2d(same)
    batch = images_to_batch(imgs, radius=2)
    y = g(batch.x, batch.edge_index, batch.edge_attr)
    out = conv_output_grid(y, batch.pos, batch.batch, batch.grid_size, 5, stride=stride, padding=padding)
    h, w = ref.shape[-2:]
    assert out.grid_size.tolist() == [[h, w]] * 3
    assert torch.allclose(out.x.view(3, h, w, 4).permute(0, 3, 1, 2), ref, atol=1e-5)
    assert torch.equal(out.pos.long(), torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w),
                                                                  indexing="ij"), -1).view(-1, 2).repeat(3, 1))


def test_5x5_kernel_on_radius1_graph_acts_as_3x3():
    torch.manual_seed(1)
    img = torch.randn(1, 1, 8, 8)
    conv = torch.nn.Conv2d(1, 2, 5, padding=2)
    g = GridConv.from_conv2d(conv)
    d1 = images_to_batch(img, radius=1)
    d2 = images_to_batch(img, radius=2)
    full = g(d2.x, d2.edge_index, d2.edge_attr)
    assert torch.allclose(full.view(8, 8, 2).permute(2, 0, 1), conv(img)[0], atol=1e-5)
    inner = torch.nn.Conv2d(1, 2, 3, padding=1)
    with torch.no_grad():
        inner.weight.copy_(conv.weight[:, :, 1:4, 1:4])
        inner.bias.copy_(conv.bias)
    assert torch.allclose(g(d1.x, d1.edge_index, d1.edge_attr).view(8, 8, 2).permute(2, 0, 1), inner(img)[0],
                          atol=1e-5)


def test_conv_output_grid_bad_input():
    b = images_to_batch(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError):
        conv_output_grid(b.x, b.pos, b.batch, b.grid_size, 4)
    with pytest.raises(InputShapeError):
        conv_output_grid(b.x, b.pos, b.batch, b.grid_size, 5)
    with pytest.raises(ValueError):
        conv_output_grid(b.x, b.pos, b.batch, b.grid_size, 3, padding="full")


def test_builders_cast_to_the_default_dtype_and_refuse_complex():
    """CONTRIBUTING.md "Input dtypes": every float width becomes the default dtype (a float64 tensor
    stayed float64, and the float32 GridConv after it raised)."""
    from pgjets.data.jet_image import jet_image
    from pgjets.errors import InputDtypeError
    from pgjets.nn import GridConv

    for dtype in (torch.float64, torch.float16, torch.int64):
        g = image_to_graph(torch.ones(3, 4, dtype=dtype))
        assert g.x.dtype == g.pos.dtype == g.edge_attr.dtype == torch.float32
        assert GridConv(1, 2)(g.x, g.edge_index, g.edge_attr).dtype == torch.float32
    with pytest.raises(InputDtypeError, match="real"):
        image_to_graph(torch.ones(3, 3, dtype=torch.complex64))
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        pos = torch.tensor([[0.1, 0.2], [-0.1, 0.0], [0.05, -0.2]])
        img = jet_image((pos, torch.tensor([3.0, 2.0, 1.0]), torch.tensor([3])), npix=6)
        assert img.dtype == torch.float64
        b = images_to_batch(img.float())
        assert b.x.dtype == torch.float64 and GridConv(1, 2)(b.x, b.edge_index, b.edge_attr).dtype == torch.float64
    finally:
        torch.set_default_dtype(old)


def test_transform_on_a_batch_builds_one_graph_per_image():
    from torch_geometric.data import Data, HeteroData

    from pgjets.graphs import ImageToGraph

    g = torch.Generator().manual_seed(0)
    images = [torch.rand(1, 4, 4, generator=g) for _ in range(3)]
    b = Batch.from_data_list([Data(image=im, y=torch.tensor([i])) for i, im in enumerate(images)])
    out = ImageToGraph()(b)
    assert out.num_graphs == 3 and out.x.shape == (48, 1) and out.y.tolist() == [0, 1, 2]
    for i, im in enumerate(images):
        alone = image_to_graph(im)
        assert torch.equal(out.get_example(i).x, alone.x) and torch.equal(out.get_example(i).edge_index,
                                                                          alone.edge_index)
    h = HeteroData()
    h["pixel"].image = images[0]
    with pytest.raises(InputShapeError, match="HeteroData"):
        ImageToGraph()(h)


@pytest.mark.parametrize("connectivity,radius", [(4, 1), (8, 1), (8, 2), (4, 3)])
def test_edge_count_follows_the_offsets(connectivity, radius):
    H, W = 5, 6
    expected = sum((H - abs(int(r))) * (W - abs(int(c))) for r, c in grid_offsets(connectivity, radius))
    assert image_to_graph(torch.rand(H, W), connectivity, radius=radius).edge_index.size(1) == expected
    if radius == 1:
        assert expected == 2 * (H * (W - 1) + W * (H - 1)) + (4 * (H - 1) * (W - 1) if connectivity == 8 else 0)
