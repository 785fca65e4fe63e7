"""JetCLREncoder: IR safety, permutation invariance, bad input (training and the LCT: tests/train/test_jetclr.py)."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.models import JetCLREncoder
from pgjets.symmetry import add_soft_particles, permute_nodes


def test_output_shape_and_repr(clr):
    enc = clr.encoder().eval()
    b = clr.batch()
    out = enc(b)
    assert out.shape == (b.num_graphs, 8)
    assert torch.isfinite(out).all()
    assert enc.pooled(b).shape == (b.num_graphs, 16)
    assert "JetCLREncoder(3, 8" in repr(enc)


def test_single_jet_without_batch_vector(clr):
    enc = clr.encoder().eval()
    g = torch.Generator().manual_seed(3)
    d = clr.jet(7, 1, g)
    out = enc(d)
    assert out.shape == (1, 8)
    assert torch.allclose(out, enc(Batch.from_data_list([d])), atol=1e-6)


def test_permutation_invariance(clr):
    enc = clr.encoder().eval()
    b = clr.batch(6)
    with torch.no_grad():
        diff = (enc(b) - enc(permute_nodes(b, seed=4))).abs().max()
    assert diff < 1e-5


def test_soft_particle_invariance_pos_z(clr):
    enc = clr.encoder().eval()
    b = clr.batch(6)
    soft = add_soft_particles(b, n_soft=3, seed=2)
    assert soft.pt.numel() == b.pt.numel() + 3 * b.num_graphs
    with torch.no_grad():
        diff = (enc(b) - enc(soft)).abs().max()
    assert diff < 1e-6


def test_soft_particle_by_hand_zero_pt(clr):
    enc = clr.encoder().eval()
    g = torch.Generator().manual_seed(7)
    d = clr.jet(6, 0, g)
    extra = Data(x=torch.cat([d.x, torch.tensor([[0.5, -0.3, 0.0]])]),
                 pos=torch.cat([d.pos, torch.tensor([[0.5, -0.3]])]),
                 pt=torch.cat([d.pt, torch.zeros(1)]), y=d.y)
    with torch.no_grad():
        assert (enc(d) - enc(extra)).abs().max() < 1e-6


def test_plain_attention_is_not_ir_safe(clr):
    # Without the log z key bias soft particles leak into the attention: the check can fail.
    enc = clr.encoder(pt_weighted_attention=False).eval()
    b = clr.batch(6)
    with torch.no_grad():
        diff = (enc(b) - enc(add_soft_particles(b, n_soft=3, seed=2))).abs().max()
    assert diff > 1e-4


def test_features_x_mode(clr):
    enc = clr.encoder(features="x").eval()
    b = clr.batch(4)
    assert enc(b).shape == (4, 8)
    with pytest.raises(InputShapeError):
        clr.encoder(features="x", in_channels=5)(b)


def test_encoder_bad_input(clr):
    enc = clr.encoder()
    b = clr.batch(4)
    with pytest.raises(ValueError):
        JetCLREncoder(features="bogus")
    with pytest.raises(ValueError):
        JetCLREncoder(in_channels=4)
    with pytest.raises(ValueError):
        JetCLREncoder(channels=10, heads=4)
    nan = b.clone()
    nan.pos = nan.pos.clone()
    nan.pos[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        enc(nan)
    nopt = Data(pos=torch.zeros(3, 2))
    with pytest.raises(InputShapeError):
        enc(nopt)
    zero = Data(pos=torch.zeros(3, 2), pt=torch.zeros(3))
    with pytest.raises(EmptyGraphError):
        enc(zero)
    with pytest.raises(EmptyGraphError):
        enc(Data(pos=torch.zeros(0, 2), pt=torch.zeros(0)))
    with pytest.raises(InputShapeError):
        enc(Data(pos=torch.zeros(3, 3), pt=torch.ones(3)))
    with pytest.raises(InputShapeError):
        enc(Data(pos=torch.zeros(3, 2), pt=-torch.ones(3)))


def test_float64_model_on_float64_jets():
    """The momentum fractions follow the model's dtype (they were cast to the default float32, and a
    .double() model failed on a float64 batch)."""
    from torch_geometric.data import Batch, Data

    from pgjets.models import JetCLREncoder

    torch.manual_seed(0)
    m = JetCLREncoder().double().eval()
    jets = [Data(pos=torch.randn(5, 2, dtype=torch.float64), pt=torch.rand(5, dtype=torch.float64) + 1)
            for _ in range(2)]
    out = m(Batch.from_data_list(jets))
    assert out.dtype == torch.float64 and out.shape == (2, m.out_channels)
