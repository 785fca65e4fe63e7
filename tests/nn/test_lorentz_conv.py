from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.utils import to_dense_batch

from pgjets.errors import InputShapeError
from pgjets.graphs import fully_connected_edge_index
from pgjets.nn import LorentzConv
from pgjets.nn.lorentz_conv import minkowski_dot, psi
from pgjets.symmetry import lorentz_conv_errors


def jets(counts=(5, 7, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor(counts)
    n = int(counts.sum())
    p = torch.randn(n, 3, generator=g, dtype=torch.float64) * 30
    m = torch.rand(n, generator=g, dtype=torch.float64)
    x = torch.cat([(p.square().sum(1) + m.square()).sqrt().unsqueeze(1), p], 1)
    batch = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    return x, fully_connected_edge_index(counts), batch


def layer(last_layer=False, attr=2, seed=0):
    """A float64 LGEB with non-trivial batch-norm statistics and a large four-vector step."""
    torch.manual_seed(seed)
    conv = LorentzConv(8, hidden_channels=12, attr_channels=attr, c_weight=0.5, last_layer=last_layer).double()
    if conv.phi_x is not None:  # the release's gain-1e-3 init makes the x update tiny; test a large one
        torch.nn.init.normal_(conv.phi_x[-1].weight)
    x, ei, _ = jets(seed=seed + 10)
    conv.train()
    conv(torch.randn(x.size(0), 8, dtype=torch.float64), x, ei,
         node_attr=torch.randn(x.size(0), attr, dtype=torch.float64) if attr else None)
    return conv.eval()


def test_minkowski_products_and_psi():
    a = torch.tensor([[5.0, 1.0, 2.0, 3.0]])
    b = torch.tensor([[2.0, -1.0, 0.5, 1.0]])
    assert minkowski_dot(a, b).item() == pytest.approx(10 + 1 - 1 - 3)
    assert minkowski_dot(a, a).item() == pytest.approx(25 - 14)
    z = torch.tensor([-3.0, 0.0, 2.0])
    torch.testing.assert_close(psi(z), torch.tensor([-math.log(4), 0.0, math.log(3)]))


def test_message_sum_and_mean_update_match_a_direct_computation():
    conv = layer()
    x, ei, _ = jets()
    h = torch.randn(x.size(0), 8, dtype=torch.float64)
    a = torch.randn(x.size(0), 2, dtype=torch.float64)
    with torch.no_grad():
        h_out, x_out = conv(h, x, ei, node_attr=a)
        j, i = ei
        m = conv.edge_message(h[i], h[j], x[i], x[j])
        agg = torch.zeros(x.size(0), 12, dtype=torch.float64).index_add_(0, i, m)
        trans = conv.phi_x(m) * (x[i] - x[j])
        deg = torch.bincount(i, minlength=x.size(0)).double().unsqueeze(1)
        ref_x = x + 0.5 * torch.zeros_like(x).index_add_(0, i, trans) / deg
        ref_h = h + conv.phi_h(torch.cat([h, agg, a], 1))
    torch.testing.assert_close(h_out, ref_h)
    torch.testing.assert_close(x_out, ref_x)
    assert (x_out - x).abs().max() > 1e-2  # the update is not negligible in this test


@pytest.mark.parametrize("last_layer", [False, True])
def test_h_invariant_and_x_equivariant_under_lorentz_transformations(last_layer):
    conv = layer(last_layer)
    x, ei, batch = jets(seed=3)
    h = torch.randn(x.size(0), 8, dtype=torch.float64)
    a = torch.randn(x.size(0), 2, dtype=torch.float64)
    for seed in range(3):
        err = lorentz_conv_errors(conv, h, x, ei, batch=batch, seed=seed, node_attr=a)
        assert err["h"] < 1e-6 and err["x"] < 1e-6, err
    assert conv.training is False


def test_a_non_invariant_layer_fails_the_check():
    class Euclidean(torch.nn.Module):
        def forward(self, h, x, edge_index):
            return h + x.square().sum(1, keepdim=True), 2 * x

    x, ei, batch = jets()
    err = lorentz_conv_errors(Euclidean(), torch.zeros(x.size(0), 1, dtype=torch.float64), x, ei, batch=batch)
    assert err["h"] > 1e-3 and err["x"] < 1e-12


def test_last_layer_keeps_x_and_has_no_phi_x():
    conv = layer(last_layer=True, attr=0)
    x, ei, _ = jets()
    h = torch.randn(x.size(0), 8, dtype=torch.float64)
    _, x_out = conv(h, x, ei)
    assert conv.phi_x is None and x_out is x


def test_permutation_equivariance():
    conv = layer()
    x, ei, _ = jets(counts=(9,))
    h = torch.randn(9, 8, dtype=torch.float64)
    a = torch.randn(9, 2, dtype=torch.float64)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h0, x0 = conv(h, x, ei, node_attr=a)
        h1, x1 = conv(h[perm], x[perm], ei, node_attr=a[perm])  # the complete graph is its own relabelling
    torch.testing.assert_close(h1, h0[perm])
    torch.testing.assert_close(x1, x0[perm])


def test_padded_path_equals_graph_path():
    conv = layer()
    x, ei, batch = jets(counts=(5, 1, 8))
    h = torch.randn(x.size(0), 8, dtype=torch.float64)
    a = torch.randn(x.size(0), 2, dtype=torch.float64)
    with torch.no_grad():
        h0, x0 = conv(h, x, ei, node_attr=a)
        hd, mask = to_dense_batch(h, batch, max_num_nodes=10)
        xd, _ = to_dense_batch(x, batch, max_num_nodes=10)
        ad, _ = to_dense_batch(a, batch, max_num_nodes=10)
        h1, x1 = conv.forward_padded(hd, xd, mask, node_attr=ad)
    torch.testing.assert_close(h1[mask], h0)
    torch.testing.assert_close(x1[mask], x0)
    # the isolated particle (jet of one) keeps its four-vector
    torch.testing.assert_close(x0[5], x[5])


def test_bad_shapes_raise_typed_errors():
    conv = LorentzConv(4, attr_channels=1)
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(InputShapeError, match="h must be"):
        conv(torch.randn(2, 3), torch.randn(2, 4), ei, node_attr=torch.randn(2, 1))
    with pytest.raises(InputShapeError, match="x must be"):
        conv(torch.randn(2, 4), torch.randn(2, 3), ei, node_attr=torch.randn(2, 1))
    with pytest.raises(InputShapeError, match="node_attr"):
        conv(torch.randn(2, 4), torch.randn(2, 4), ei)
    with pytest.raises(ValueError, match="attr_channels"):
        LorentzConv(4, attr_channels=-1)
    assert "LorentzConv(4" in repr(conv)


def test_float32_training_step_backpropagates():
    torch.manual_seed(0)
    conv = LorentzConv(6)
    x, ei, _ = jets()
    h = torch.randn(x.size(0), 6, requires_grad=True)
    h_out, x_out = conv(h, x.float(), ei)
    (h_out.square().mean() + x_out.mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in conv.parameters())


def test_x_error_is_relative_to_the_update():
    """With the release's small step (c = 0.005, gain 1e-3) the update is ~1e-6 of |x|: a layer whose
    four-vector update uses a Euclidean metric must still fail the x check (it passed relative to |x'|)."""
    import pgjets.nn.lorentz_conv as lc

    torch.manual_seed(0)
    conv = LorentzConv(8, hidden_channels=12).double().eval()
    x, ei, batch = jets(seed=5)
    h = torch.randn(x.size(0), 8, dtype=torch.float64)
    good = lorentz_conv_errors(conv, h, x, ei, batch=batch)
    assert good["h"] < 1e-6 and good["x"] < 1e-6, good
    real = lc.minkowski_dot
    lc.minkowski_dot = lambda a, b: (a * b).sum(-1)  # Euclidean: not Lorentz covariant
    try:
        bad = lorentz_conv_errors(conv, h, x, ei, batch=batch)
    finally:
        lc.minkowski_dot = real
    assert bad["x"] > 1e-3 and bad["h"] > 1e-3, bad
