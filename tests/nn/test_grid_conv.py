from __future__ import annotations

import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs import image_to_graph, images_to_batch
from oracles import conv2d_reference
from pgjets.nn import GridConv


def _images(b=3, c=2, h=5, w=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, h, w, generator=g)


@pytest.mark.parametrize("bias", [True, False])
def test_equals_conv2d_on_full_batched_images(bias):
    torch.manual_seed(0)
    imgs = _images()
    conv = torch.nn.Conv2d(2, 4, 3, padding="same", bias=bias)
    gconv = GridConv.from_conv2d(conv)
    g = images_to_batch(imgs, connectivity=8)
    out = gconv(g.x, g.edge_index, g.edge_attr)
    ref = conv(imgs).permute(0, 2, 3, 1).reshape(-1, 4)  # row-major node order
    assert out.shape == (3 * 5 * 6, 4)
    assert (out - ref).abs().max() < 1e-5


def test_drop_zeros_equals_conv2d_on_zero_filled_image_at_kept_pixels():
    torch.manual_seed(1)
    imgs = _images(b=2, c=3, h=7, w=7, seed=1)
    imgs = imgs * (torch.rand(2, 1, 7, 7) > 0.6)  # sparse, like jet images
    conv = torch.nn.Conv2d(3, 5, 3, padding="same")
    gconv = GridConv(3, 5).load_conv2d_weights(conv)
    g = images_to_batch(imgs, connectivity=8, drop_zeros=True)
    assert g.num_nodes < 2 * 49
    out = gconv(g.x, g.edge_index, g.edge_attr)
    ref = conv2d_reference(conv, imgs, g.pos, g.batch)
    assert (out - ref).abs().max() < 1e-5


def test_kernel_5_on_8_neighbour_graph_ignores_unconnected_offsets():
    torch.manual_seed(2)
    img = _images(b=1, c=1, h=6, w=6, seed=2)
    conv = torch.nn.Conv2d(1, 2, 5, padding="same")
    with torch.no_grad():  # zero the outer ring: then Conv2d only uses |offset| <= 1
        conv.weight[:, :, [0, 4], :] = 0
        conv.weight[:, :, :, [0, 4]] = 0
    gconv = GridConv.from_conv2d(conv)
    g = image_to_graph(img[0])
    out = gconv(g.x, g.edge_index, g.edge_attr)
    assert (out - conv(img).permute(0, 2, 3, 1).reshape(-1, 2)).abs().max() < 1e-5


def test_offsets_outside_kernel_and_missing_neighbours():
    torch.manual_seed(3)
    layer = GridConv(2, 3, kernel_size=3, bias=False)
    x = torch.randn(3, 2)
    ei = torch.tensor([[1, 2], [0, 0]])
    ea = torch.tensor([[0.0, 1.0], [2.0, 0.0]])  # second edge lies outside the 3x3 kernel
    out = layer(x, ei, ea)
    w = layer.weight
    torch.testing.assert_close(out[0], x[0] @ w[4] + x[1] @ w[5])
    torch.testing.assert_close(out[1], x[1] @ w[4])  # no neighbour: centre only
    # edges are the sources (edge_index[0]) looked up at offset pos_j - pos_i
    out2 = layer(x, ei[:, :1], torch.tensor([[-1.0, -1.0]]))
    torch.testing.assert_close(out2[0], x[0] @ w[4] + x[1] @ w[0])


def test_gradients_and_4_connectivity_matches_cross_kernel():
    torch.manual_seed(4)
    imgs = _images(b=2, c=2, h=4, w=4, seed=4)
    conv = torch.nn.Conv2d(2, 2, 3, padding="same")
    with torch.no_grad():
        for r, c in [(0, 0), (0, 2), (2, 0), (2, 2)]:
            conv.weight[:, :, r, c] = 0
    gconv = GridConv.from_conv2d(conv)
    g = images_to_batch(imgs, connectivity=4)
    out = gconv(g.x, g.edge_index, g.edge_attr)
    assert (out - conv(imgs).permute(0, 2, 3, 1).reshape(-1, 2)).abs().max() < 1e-5
    out.sum().backward()
    assert gconv.weight.grad is not None and torch.isfinite(gconv.weight.grad).all()
    # corner offsets never occur in a 4-neighbour graph
    assert gconv.weight.grad[[1, 3, 5, 7]].abs().sum() > 0
    assert gconv.weight.grad[[0, 2, 6, 8]].abs().sum() == 0


def test_bad_input(debug):
    layer = GridConv(2, 3)
    ei = torch.tensor([[1], [0]])
    ea = torch.tensor([[0.0, 1.0]])
    with pytest.raises(InputShapeError, match="2-D"):
        layer(torch.randn(4), ei, ea)
    with pytest.raises(InputShapeError, match="channels"):
        layer(torch.randn(2, 5), ei, ea)
    with pytest.raises(InputShapeError, match="edge_attr"):
        layer(torch.randn(2, 2), ei, torch.zeros(1, 3))
    with pytest.raises(InputShapeError, match="edge_attr"):
        layer(torch.randn(2, 2), ei, torch.zeros(2, 2))
    with pytest.raises(InputShapeError, match="node"):
        layer(torch.randn(2, 2), torch.tensor([[5], [0]]), ea)
    with pytest.raises(NonFiniteError):
        layer(torch.full((2, 2), float("nan")), ei, ea)
    with pytest.raises(NonFiniteError):
        layer(torch.randn(2, 2), ei, torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(EmptyGraphError):
        layer(torch.zeros(0, 2), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 2))
    with pytest.raises(ValueError, match="odd"):
        GridConv(2, 3, kernel_size=4)
    with pytest.raises(ValueError, match="stride"):
        GridConv.from_conv2d(torch.nn.Conv2d(2, 3, 3, stride=2))
    with pytest.raises(InputShapeError, match="weight"):
        GridConv(2, 3).load_conv2d_weights(torch.nn.Conv2d(3, 3, 3))
    with pytest.raises(TypeError):
        GridConv.from_conv2d(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("bias", [True, False])
def test_dense_full_grid_path_equals_message_passing(bias):
    torch.manual_seed(2)
    imgs = _images(b=3, c=2, h=5, w=6, seed=2)
    conv = torch.nn.Conv2d(2, 4, 3, padding="same", bias=bias)
    gconv = GridConv.from_conv2d(conv)
    g = images_to_batch(imgs, connectivity=8)
    assert g.edge_index.size(1) == 3 * gconv.full_grid_edges(5, 6)
    ref = gconv(g.x, g.edge_index, g.edge_attr)  # message passing (reference)
    x = g.x.clone().requires_grad_(True)
    out = gconv(x, g.edge_index, g.edge_attr, grid_size=(5, 6))  # one conv2d
    assert (out - ref).abs().max() < 1e-5
    assert (out - conv(imgs).permute(0, 2, 3, 1).reshape(-1, 4)).abs().max() < 1e-5
    out.sum().backward()
    assert x.grad is not None and gconv.weight.grad is not None


def test_dense_path_falls_back_where_the_graph_misses_kernel_offsets():
    torch.manual_seed(3)
    imgs = _images(b=2, c=2, h=5, w=5, seed=3)
    # 4-connectivity lacks the diagonal offsets: not a conv2d, message passing must run
    g4 = images_to_batch(imgs, connectivity=4)
    gconv = GridConv(2, 3)
    ref = gconv(g4.x, g4.edge_index, g4.edge_attr)
    out = gconv(g4.x, g4.edge_index, g4.edge_attr, grid_size=(5, 5))
    assert torch.equal(out, ref)
    # kernel 5 on an 8-neighbour graph: offsets of 2 are never connected
    g8 = images_to_batch(imgs, connectivity=8)
    gconv5 = GridConv(2, 3, kernel_size=5)
    ref5 = gconv5(g8.x, g8.edge_index, g8.edge_attr)
    assert torch.equal(gconv5(g8.x, g8.edge_index, g8.edge_attr, grid_size=(5, 5)), ref5)
    # sparse images (dropped zeros) are not full grids
    keep = (torch.arange(25) % 3 != 0).view(1, 1, 5, 5)  # 16 of 25 pixels per image
    gs = images_to_batch(imgs * keep, connectivity=8, drop_zeros=True)
    assert gs.num_nodes == 32
    ref_s = gconv(gs.x, gs.edge_index, gs.edge_attr)
    assert torch.equal(gconv(gs.x, gs.edge_index, gs.edge_attr, grid_size=(5, 5)), ref_s)


def test_grid_size_tensor_of_the_builders_and_missing_edge_attr():
    from pgjets.errors import InputShapeError
    from pgjets.graphs import images_to_batch

    torch.manual_seed(0)
    images = torch.rand(2, 1, 5, 5)
    b = images_to_batch(images, radius=1, drop_zeros=False)
    conv = GridConv(1, 3, 3)
    ref = conv(b.x, b.edge_index, b.edge_attr)
    torch.testing.assert_close(conv(b.x, b.edge_index, b.edge_attr, grid_size=b.grid_size), ref)
    with pytest.raises(InputShapeError, match="edge_attr"):
        conv(b.x, b.edge_index, None)


def test_dense_path_only_for_the_builders_layout():
    """A full grid in another layout (PyG's grid(): pos = (col, H-1-row); or nodes column-major) has the
    edge count of a full grid: the fast path must not reshape it row-major (it gave other numbers)."""
    from torch_geometric.utils import grid, remove_self_loops

    torch.manual_seed(4)
    h, w = 5, 6
    gconv = GridConv(2, 3)
    edge_index, pos = grid(h, w)
    edge_index, _ = remove_self_loops(edge_index)
    edge_attr = pos[edge_index[0]] - pos[edge_index[1]]
    x = torch.randn(h * w, 2)
    assert edge_index.size(1) == gconv.full_grid_edges(h, w)  # passes the edge-count test
    ref = gconv(x, edge_index, edge_attr)
    assert torch.equal(gconv(x, edge_index, edge_attr, grid_size=(h, w)), ref)
    g = images_to_batch(_images(b=1, c=2, h=h, w=w, seed=4), connectivity=8)
    order = torch.arange(h * w).view(h, w).t().reshape(-1)  # column-major nodes
    inv = torch.empty_like(order)
    inv[order] = torch.arange(h * w)
    ei = inv[g.edge_index]
    ref = gconv(g.x[order], ei, g.edge_attr)
    assert torch.equal(gconv(g.x[order], ei, g.edge_attr, grid_size=(h, w)), ref)


def test_from_conv2d_refuses_padding_modes_and_groups_without_a_graph_counterpart():
    for mode in ("circular", "reflect", "replicate"):
        with pytest.raises(ValueError, match=f"padding_mode='zeros'.*got '{mode}'"):
            GridConv.from_conv2d(torch.nn.Conv2d(2, 4, 3, padding=1, padding_mode=mode))
    with pytest.raises(ValueError, match="groups=1"):
        GridConv.from_conv2d(torch.nn.Conv2d(4, 4, 3, padding=1, groups=2))
