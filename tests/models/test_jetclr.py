"""Tests of the JetCLR encoder, loss, training loop and linear classifier test."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.models.jetclr import (
    JetCLREncoder,
    jetclr_loss,
    linear_classifier_test,
    representations,
    rotation_invariance,
    train_jetclr,
)
from pgjets.symmetry import add_soft_particles, permute_nodes
from pgjets.train.augment import (
    CollinearSplitting,
    RandomPermutation,
    RandomRotation,
    RandomTranslation,
    SoftSmearing,
)

@pytest.fixture(autouse=True)
def _one_thread():
    # The tensors here are tiny: intra-op threads only add overhead (and stall badly on busy machines).
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


ALL_AUGS = [
    RandomRotation(),
    RandomTranslation(scale=0.1),
    SoftSmearing(lambda_soft=0.1),
    CollinearSplitting(max_splits=5),
    RandomPermutation(),
]


def _jet(n: int, label: int, g: torch.Generator) -> Data:
    # Class 1 jets are wider than class 0 jets: a simple, learnable difference.
    width = 0.4 if label else 0.1
    pos = width * torch.randn(n, 2, generator=g)
    pt = 1.0 + 100.0 * torch.rand(n, generator=g)
    return Data(x=torch.cat([pos, pt.log().unsqueeze(-1)], -1), pos=pos, pt=pt, y=torch.tensor([label]))


def _batch(num_jets: int = 6, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(3, 12, (num_jets,), generator=g).tolist()
    return Batch.from_data_list([_jet(n, i % 2, g) for i, n in enumerate(sizes)])


def _encoder(**kw) -> JetCLREncoder:
    torch.manual_seed(0)
    kw = {"channels": 16, "heads": 2, "num_layers": 2, "out_channels": 8, **kw}
    return JetCLREncoder(**kw)


# ----------------------------------------------------------------------------- encoder
def test_output_shape_and_repr():
    enc = _encoder().eval()
    b = _batch()
    out = enc(b)
    assert out.shape == (b.num_graphs, 8)
    assert torch.isfinite(out).all()
    assert enc.pooled(b).shape == (b.num_graphs, 16)
    assert "JetCLREncoder(3, 8" in repr(enc)


def test_single_jet_without_batch_vector():
    enc = _encoder().eval()
    g = torch.Generator().manual_seed(3)
    d = _jet(7, 1, g)
    out = enc(d)
    assert out.shape == (1, 8)
    assert torch.allclose(out, enc(Batch.from_data_list([d])), atol=1e-6)


def test_loss_and_gradients_finite():
    enc = _encoder()
    loss = jetclr_loss(enc, _batch(8), ALL_AUGS, temperature=0.1, seed=1)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert sum(float(gr.abs().sum()) for gr in grads) > 0


def test_loss_reproducible_with_seed():
    enc = _encoder()
    b = _batch(8)
    a1 = jetclr_loss(enc, b, ALL_AUGS, seed=5)
    a2 = jetclr_loss(enc, b, ALL_AUGS, seed=5)
    a3 = jetclr_loss(enc, b, ALL_AUGS, seed=6)
    assert torch.equal(a1, a2)
    assert not torch.equal(a1, a3)


def test_permutation_invariance():
    enc = _encoder().eval()
    b = _batch(6)
    with torch.no_grad():
        diff = (enc(b) - enc(permute_nodes(b, seed=4))).abs().max()
    assert diff < 1e-5


def test_soft_particle_invariance_pos_z():
    enc = _encoder().eval()
    b = _batch(6)
    soft = add_soft_particles(b, n_soft=3, seed=2)
    assert soft.pt.numel() == b.pt.numel() + 3 * b.num_graphs
    with torch.no_grad():
        diff = (enc(b) - enc(soft)).abs().max()
    assert diff < 1e-6


def test_soft_particle_by_hand_zero_pt():
    enc = _encoder().eval()
    g = torch.Generator().manual_seed(7)
    d = _jet(6, 0, g)
    extra = Data(x=torch.cat([d.x, torch.tensor([[0.5, -0.3, 0.0]])]),
                 pos=torch.cat([d.pos, torch.tensor([[0.5, -0.3]])]),
                 pt=torch.cat([d.pt, torch.zeros(1)]), y=d.y)
    with torch.no_grad():
        assert (enc(d) - enc(extra)).abs().max() < 1e-6


def test_plain_attention_is_not_ir_safe():
    # Without the log z key bias soft particles leak into the attention: the check can fail.
    enc = _encoder(pt_weighted_attention=False).eval()
    b = _batch(6)
    with torch.no_grad():
        diff = (enc(b) - enc(add_soft_particles(b, n_soft=3, seed=2))).abs().max()
    assert diff > 1e-4


def test_features_x_mode():
    enc = _encoder(features="x").eval()
    b = _batch(4)
    assert enc(b).shape == (4, 8)
    with pytest.raises(InputShapeError):
        _encoder(features="x", in_channels=5)(b)


def test_rotation_invariance_value():
    enc = _encoder().eval()
    b = _batch(8)
    s = rotation_invariance(enc, b, seed=0)
    assert -1.0 <= s <= 1.0 + 1e-6
    assert s < 1.0 - 1e-6  # an untrained encoder on pos is not exactly rotation invariant
    assert s == rotation_invariance(enc, b, seed=0)
    assert not enc.training


def test_encoder_bad_input():
    enc = _encoder()
    b = _batch(4)
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


# ----------------------------------------------------------------------------- training
def test_train_jetclr_reproducible_and_decreasing():
    batches = [_batch(16, seed=s) for s in range(3)]
    augs = [RandomRotation(), RandomPermutation()]
    l1 = train_jetclr(_encoder(), batches, augs, epochs=12, lr=3e-3, temperature=0.2, seed=0)
    l2 = train_jetclr(_encoder(), lambda epoch: batches[:1], augs, epochs=2, lr=3e-3, temperature=0.2, seed=0)
    l3 = train_jetclr(_encoder(), lambda epoch: batches[:1], augs, epochs=2, lr=3e-3, temperature=0.2, seed=0)
    assert len(l1) == 12 and all(math.isfinite(v) for v in l1)
    assert l2 == pytest.approx(l3, rel=1e-5)
    assert np.mean(l1[-3:]) < 0.8 * l1[0]


def test_train_jetclr_bad_args():
    with pytest.raises(ValueError):
        train_jetclr(_encoder(), [_batch(4)], [], epochs=0)
    with pytest.raises(ValueError):
        train_jetclr(_encoder(), [_batch(4)], [], epochs=1, lr=-1.0)
    with pytest.raises(EmptyGraphError):
        train_jetclr(_encoder(), [], [], epochs=1)


def test_representations_shapes():
    enc = _encoder()
    enc.train()
    batches = [_batch(5, seed=1), _batch(3, seed=2)]
    f, y = representations(enc, batches)
    assert f.shape == (8, 8) and y.shape == (8,)
    assert y.dtype == torch.long
    assert enc.training  # mode restored
    fp, _ = representations(enc, batches, pooled=True)
    assert fp.shape == (8, 16)
    with pytest.raises(EmptyGraphError):
        representations(enc, [])
    nolabel = _batch(3)
    del nolabel.y
    with pytest.raises(InputShapeError):
        representations(enc, [nolabel])


# ----------------------------------------------------------------------------- LCT
def test_lct_separable_and_noise():
    rng = np.random.default_rng(0)
    n = 1000
    y = np.repeat([0, 1], n // 2)
    noise = rng.normal(size=(n, 4))
    sep = noise.copy()
    sep[:, 0] += 6.0 * y
    good = linear_classifier_test(sep, y, seed=0)
    bad = linear_classifier_test(torch.tensor(noise), torch.tensor(y), seed=0)
    assert good["auc"] > 0.99
    assert good["rejection"] > 50
    assert abs(bad["auc"] - 0.5) < 0.08
    assert bad["rejection"] < 4
    assert good["n_test"] == pytest.approx(0.3 * n, abs=1)
    assert 0.0 <= good["accuracy"] <= 1.0 and good["accuracy"] > 0.95


def test_lct_bad_input():
    x = np.random.default_rng(1).normal(size=(20, 3))
    y = np.repeat([0, 1], 10)
    with pytest.raises(InputShapeError):
        linear_classifier_test(x, np.zeros(20))
    with pytest.raises(InputShapeError):
        linear_classifier_test(x, y[:10])
    with pytest.raises(InputShapeError):
        linear_classifier_test(x[:, 0], y)
    with pytest.raises(ValueError):
        linear_classifier_test(x, y, test_fraction=1.5)
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        linear_classifier_test(xn, y)
    with pytest.raises(InputShapeError):
        linear_classifier_test(x[:3], np.array([0, 1, 1]))


# ----------------------------------------------------------------------------- real jets
@pytest.mark.slow
def test_jetclr_on_generated_top_vs_qcd():
    from pgjets.data.generate import generate_jets
    from pgjets.data.jet_dataset import JetDataset
    from pgjets.data.table import JetTable

    n = 80
    table = JetTable.concat([
        generate_jets("top", n, seed=11, fast=True, label=1),
        generate_jets("qcd", n, seed=12, fast=True, label=0),
    ])
    ds = JetDataset.from_table(table, representation="cloud", k=None, feature_set="angular")
    enc = _encoder(channels=16, heads=4, out_channels=16)
    augs = [RandomRotation(), RandomTranslation(scale=0.05), SoftSmearing(), CollinearSplitting(max_splits=10)]
    losses = train_jetclr(enc, lambda e: ds.batches(40, shuffle=True, seed=e), augs,
                          epochs=4, lr=2e-3, temperature=0.2, seed=0)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    f, y = representations(enc, ds.batches(64))
    assert f.shape == (2 * n, 16)
    res = linear_classifier_test(f, y, test_fraction=0.3, seed=0)
    assert res["auc"] > 0.6
    s = rotation_invariance(enc, next(iter(ds.batches(64))), seed=0)
    assert -1.0 <= s <= 1.0 + 1e-6
