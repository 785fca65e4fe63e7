"""JetCLR training and evaluation: the contrastive loss of two views, train_jetclr, representations, LCT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.train import (
    CollinearSplitting, RandomPermutation, RandomRotation, RandomTranslation, SoftSmearing, jetclr_loss,
    linear_classifier_test, representations, rotation_invariance, train_jetclr,
)

ALL_AUGS = [
    RandomRotation(),
    RandomTranslation(scale=0.1),
    SoftSmearing(lambda_soft=0.1),
    CollinearSplitting(max_splits=5),
    RandomPermutation(),
]


def test_loss_and_gradients_finite(clr):
    enc = clr.encoder()
    loss = jetclr_loss(enc, clr.batch(8), ALL_AUGS, temperature=0.1, seed=1)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert sum(float(gr.abs().sum()) for gr in grads) > 0


def test_loss_reproducible_with_seed(clr):
    enc = clr.encoder()
    b = clr.batch(8)
    a1 = jetclr_loss(enc, b, ALL_AUGS, seed=5)
    a2 = jetclr_loss(enc, b, ALL_AUGS, seed=5)
    a3 = jetclr_loss(enc, b, ALL_AUGS, seed=6)
    assert torch.equal(a1, a2)
    assert not torch.equal(a1, a3)


def test_rotation_invariance_value(clr):
    enc = clr.encoder().eval()
    b = clr.batch(8)
    s = rotation_invariance(enc, b, seed=0)
    assert -1.0 <= s <= 1.0 + 1e-6
    assert s < 1.0 - 1e-6  # an untrained encoder on pos is not exactly rotation invariant
    assert s == rotation_invariance(enc, b, seed=0)
    assert not enc.training


def test_train_jetclr_reproducible_and_decreasing(clr):
    batches = [clr.batch(16, seed=s) for s in range(3)]
    augs = [RandomRotation(), RandomPermutation()]
    l1 = train_jetclr(clr.encoder(), batches, augs, epochs=12, lr=3e-3, temperature=0.2, seed=0)
    l2 = train_jetclr(clr.encoder(), lambda epoch: batches[:1], augs, epochs=2, lr=3e-3, temperature=0.2, seed=0)
    l3 = train_jetclr(clr.encoder(), lambda epoch: batches[:1], augs, epochs=2, lr=3e-3, temperature=0.2, seed=0)
    assert len(l1) == 12 and all(math.isfinite(v) for v in l1)
    assert l2 == pytest.approx(l3, rel=1e-5)
    assert np.mean(l1[-3:]) < 0.8 * l1[0]


def test_train_jetclr_epoch_callback_and_second_view(clr):
    batches = [clr.batch(8, seed=s) for s in range(2)]
    augs, second = [RandomRotation()], [CollinearSplitting(4, p=1.0), SoftSmearing(0.1, pt_min=0.1)]
    seen = []
    enc = clr.encoder()

    def record(epoch, loss):
        assert not enc.training  # evaluation mode inside the callback
        seen.append((epoch, loss))

    with_cb = train_jetclr(enc, batches, augs, epochs=3, seed=0, second_view=second, on_epoch_end=record)
    without = train_jetclr(clr.encoder(), batches, augs, epochs=3, seed=0, second_view=second)
    assert seen == list(enumerate(with_cb))
    assert with_cb == without  # the callback changes nothing in the training
    plain = train_jetclr(clr.encoder(), batches, augs, epochs=3, seed=0)
    assert plain != with_cb  # the second view's distortions enter the loss


def test_train_jetclr_bad_args(clr):
    with pytest.raises(ValueError):
        train_jetclr(clr.encoder(), [clr.batch(4)], [], epochs=0)
    with pytest.raises(ValueError):
        train_jetclr(clr.encoder(), [clr.batch(4)], [], epochs=1, lr=-1.0)
    with pytest.raises(EmptyGraphError):
        train_jetclr(clr.encoder(), [], [], epochs=1)


def test_representations_shapes(clr):
    enc = clr.encoder()
    enc.train()
    batches = [clr.batch(5, seed=1), clr.batch(3, seed=2)]
    f, y = representations(enc, batches)
    assert f.shape == (8, 8) and y.shape == (8,)
    assert y.dtype == torch.long
    assert enc.training  # mode restored
    fp, _ = representations(enc, batches, pooled=True)
    assert fp.shape == (8, 16)
    with pytest.raises(EmptyGraphError):
        representations(enc, [])
    nolabel = clr.batch(3)
    del nolabel.y
    with pytest.raises(InputShapeError):
        representations(enc, [nolabel])


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


@pytest.mark.slow
def test_jetclr_on_generated_top_vs_qcd(clr):
    from pgjets.data import generate_jets, JetDataset, JetTable

    n = 80
    table = JetTable.concat([
        generate_jets("top", n, seed=11, fast=True, label=1),
        generate_jets("qcd", n, seed=12, fast=True, label=0),
    ])
    ds = JetDataset.from_table(table, representation="cloud", k=None, feature_set="angular")
    enc = clr.encoder(channels=16, heads=4, out_channels=16)
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


def test_old_import_paths_are_the_same_functions():
    import pgjets.models
    import pgjets.models.jetclr as old

    assert old.train_jetclr is train_jetclr and pgjets.models.linear_classifier_test is linear_classifier_test
    with pytest.raises(AttributeError):
        old.does_not_exist
