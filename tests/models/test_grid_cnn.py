from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pgjets.graphs import images_to_batch
from pgjets.models import GridCNN


def dense_reference(model: GridCNN, images: torch.Tensor) -> torch.Tensor:
    """The same network written with nn.Conv2d / max_pool2d on dense images."""
    h = images
    for conv in model.convs:
        w = conv_weight(conv)
        h = F.relu(F.conv2d(h, w, conv_bias(conv), padding="same"))
        h = F.max_pool2d(h, 2, ceil_mode=True)
    return model.head(h.mean((2, 3)))


def conv_weight(conv):
    return to_conv2d(conv).weight


def conv_bias(conv):
    return to_conv2d(conv).bias


def to_conv2d(conv):
    """Recover Conv2d weights from a GridConv by probing it with unit images."""
    k = conv.kernel_size
    c_in, c_out = conv.in_channels, conv.out_channels
    weight = torch.zeros(c_out, c_in, k, k)
    bias = conv(torch.zeros(1, c_in), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 2))[0].detach()
    size = 2 * k + 1
    centre = size // 2
    for c in range(c_in):
        img = torch.zeros(1, c_in, size, size)
        img[0, c, centre, centre] = 1.0
        b = images_to_batch(img)
        out = conv(b.x, b.edge_index, b.edge_attr).detach() - bias
        out = out.view(size, size, c_out)
        for dr in range(k):
            for dc in range(k):
                # output at (centre - (dr - k//2), ...) sees the unit pixel at offset (dr - k//2)
                weight[:, c, dr, dc] = out[centre - (dr - k // 2), centre - (dc - k // 2)]
    m = torch.nn.Conv2d(c_in, c_out, k, padding="same")
    m.weight.data, m.bias.data = weight, bias
    return m


def test_full_images_match_dense_cnn():
    torch.manual_seed(0)
    model = GridCNN(2, 3, channels=(4, 5)).eval()
    images = torch.rand(3, 2, 8, 8)
    out = model(images_to_batch(images))
    torch.testing.assert_close(out, dense_reference(model, images), atol=1e-5, rtol=1e-5)


def test_permutation_of_pixels_does_not_matter():
    torch.manual_seed(1)
    model = GridCNN(1, 2).eval()
    b = images_to_batch(torch.rand(2, 1, 6, 6))
    perm = torch.cat([torch.randperm(36), 36 + torch.randperm(36)])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(72)
    pb = b.clone()
    pb.x, pb.pos = b.x[perm], b.pos[perm]
    pb.edge_index = inv[b.edge_index]
    torch.testing.assert_close(model(pb), model(b), atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_learns_digits():
    from sklearn.datasets import load_digits

    from pgjets.train import TrainConfig, Trainer

    d = load_digits()
    images = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target)
    graphs = images_to_batch(images[:1200]).to_data_list()
    for g, label in zip(graphs, y[:1200]):
        g.y = label.view(1)
    test = images_to_batch(images[1500:1700])
    test.y = y[1500:1700]
    torch.manual_seed(0)
    trainer = Trainer(GridCNN(1, 10, channels=(16, 32)),
                      TrainConfig(epochs=10, batch_size=32, lr=5e-3, progress=False, verbose=False))
    trainer.fit(graphs)
    acc = (trainer.model.eval()(test).argmax(-1) == test.y).float().mean().item()
    assert acc > 0.8, acc


@pytest.mark.parametrize("radius", [1, 2])
def test_kernel_five_uses_the_whole_kernel_in_every_block(radius):
    """K = 5: the graph path equals Conv2d(5x5) + MaxPool2d whatever radius the input graph has
    (a radius-1 graph, and the pool's 3x3 neighbourhoods, made it a 3x3 network before)."""
    torch.manual_seed(3)
    model = GridCNN(1, 3, channels=(4, 5), kernel_size=5).eval()
    images = torch.rand(2, 1, 9, 7)
    with torch.no_grad():
        out = model(images_to_batch(images, radius=radius))
        dense = model.forward_padded(images, torch.ones(2, 1, 9, 7))
        h = images
        for conv in model.convs:
            h = F.max_pool2d(F.relu(F.conv2d(h, conv.conv2d_weight(), conv.bias, padding=2)), 2, ceil_mode=True)
        plain = model.head(h.mean((2, 3)))
    torch.testing.assert_close(out, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dense, plain, atol=1e-5, rtol=1e-5)
    sparse = images * (images > 0.5)
    with torch.no_grad():
        torch.testing.assert_close(model(images_to_batch(sparse, drop_zeros=True)),
                                   model.forward_padded(sparse, (sparse > 0).float()), atol=1e-5, rtol=1e-5)


def test_full_images_take_the_conv2d_path_with_the_same_result():
    """Full 8-connected images with their grid_size: the first block runs as one conv2d (GridConv's dense
    path), with the logits of message passing."""
    import torch

    from pgjets.graphs import images_to_batch
    from pgjets.models import GridCNN
    from pgjets.nn import GridConv

    torch.manual_seed(0)
    g = images_to_batch(torch.rand(3, 1, 8, 8), connectivity=8)
    model = GridCNN(1, 3, channels=(4, 6)).eval()
    calls = []
    dense = GridConv._dense_grid

    def spy(self, *args):
        out = dense(self, *args)
        calls.append(out is not None)
        return out

    GridConv._dense_grid = spy
    try:
        fast = model(g)
    finally:
        GridConv._dense_grid = dense
    assert calls == [True]  # the first block only (pooled graphs are not full images)
    del g.grid_size
    torch.testing.assert_close(fast, model(g), rtol=1e-5, atol=1e-6)


def test_padded_images_of_4_connected_graphs_warn():
    import pytest
    import torch

    from pgjets.errors import PgjetsWarning
    from pgjets.graphs import images_to_batch
    from pgjets.models.padded import pad_images

    with pytest.warns(PgjetsWarning, match="4-connected"):
        pad_images(images_to_batch(torch.rand(2, 1, 4, 4), connectivity=4))
