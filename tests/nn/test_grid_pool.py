from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs import images_to_batch
from pgjets.nn import GridConv, GridGraph, GridPool
from pgjets.nn.grid_pool import grid_edges


def _images(b, c, h, w, seed=0):
    return torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_equals_pool2d_on_full_even_images(mode):
    imgs = _images(3, 2, 6, 8)
    g = images_to_batch(imgs)
    out = GridPool(2, mode)(g.x, g.pos, g.batch)
    assert isinstance(out, GridGraph)
    ref = F.max_pool2d(imgs, 2) if mode == "max" else F.avg_pool2d(imgs, 2)
    torch.testing.assert_close(out.x, ref.permute(0, 2, 3, 1).reshape(-1, 2))
    assert out.x.shape == (3 * 3 * 4, 2)
    # coarse graph equals a fresh grid graph of the pooled images
    coarse = images_to_batch(ref)
    torch.testing.assert_close(out.pos, coarse.pos)
    assert torch.equal(out.batch, coarse.batch)
    assert torch.equal(out.edge_index, coarse.edge_index)
    torch.testing.assert_close(out.edge_attr, coarse.edge_attr)


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_odd_sizes_match_ceil_mode(mode):
    imgs = _images(2, 1, 5, 7, seed=1)
    g = images_to_batch(imgs)
    out = GridPool(2, mode)(g.x, g.pos, g.batch)
    if mode == "max":
        ref = F.max_pool2d(imgs, 2, ceil_mode=True)
    else:
        ref = F.avg_pool2d(imgs, 2, ceil_mode=True)
    assert ref.shape[-2:] == (3, 4)
    torch.testing.assert_close(out.x, ref.permute(0, 2, 3, 1).reshape(-1, 1))


def test_sparse_images_pool_present_pixels_only():
    x = torch.tensor([[-1.0], [-3.0], [2.0], [4.0]])
    pos = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 4.0], [1.0, 5.0]])
    out = GridPool(2, "max")(x, pos)
    torch.testing.assert_close(out.x, torch.tensor([[-1.0], [4.0]]))  # -1, not 0
    torch.testing.assert_close(out.pos, torch.tensor([[0.0, 0.0], [0.0, 2.0]]))
    assert out.edge_index.numel() == 0  # coarse cells (0,0) and (0,2) are not neighbours
    mean = GridPool(2, "mean")(x, pos)
    torch.testing.assert_close(mean.x, torch.tensor([[-2.0], [3.0]]))  # divided by 2, not 4


def test_pooled_graph_feeds_grid_conv_like_a_cnn():
    torch.manual_seed(3)
    imgs = _images(2, 2, 8, 8, seed=3)
    conv = torch.nn.Conv2d(2, 3, 3, padding="same")
    g = images_to_batch(imgs)
    p = GridPool(2)(g.x, g.pos, g.batch)
    out = GridConv.from_conv2d(conv)(p.x, p.edge_index, p.edge_attr)
    ref = conv(F.max_pool2d(imgs, 2)).permute(0, 2, 3, 1).reshape(-1, 3)
    assert (out - ref).abs().max() < 1e-5


def test_grid_edges_4_and_8():
    pos = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    batch = torch.tensor([0, 0, 0, 0, 1])
    ei8, ea8 = grid_edges(pos, batch, 8)
    ei4, ea4 = grid_edges(pos, batch, 4)
    assert ei8.size(1) == 12 and ei4.size(1) == 8  # node 4 (other graph) is isolated
    torch.testing.assert_close(ea8, pos[ei8[0]] - pos[ei8[1]])
    assert (ei8 != 4).all()


def test_bad_input(debug):
    pool = GridPool()
    with pytest.raises(InputShapeError):
        pool(torch.randn(4), torch.zeros(4, 2))
    with pytest.raises(InputShapeError):
        pool(torch.randn(4, 1), torch.zeros(4, 3))
    with pytest.raises(InputShapeError):
        pool(torch.randn(4, 1), -torch.ones(4, 2))
    with pytest.raises(NonFiniteError):
        pool(torch.full((4, 1), float("nan")), torch.zeros(4, 2))
    with pytest.raises(EmptyGraphError):
        pool(torch.zeros(0, 1), torch.zeros(0, 2))
    with pytest.raises(ValueError, match="mode"):
        GridPool(2, "sum")
    with pytest.raises(ValueError, match="connectivity"):
        pool(torch.randn(4, 1), torch.zeros(4, 2), connectivity=6)
