"""Slow end-to-end checks: every jet model learns top vs QCD on real generated jets."""

from __future__ import annotations

import numpy as np
import pytest

from pgjets.data import generate_jets, JetDataset, JetTable
from pgjets.models import MODELS, build_model, representation_of
from pgjets.train import TrainConfig, Trainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jets():
    qcd = generate_jets("qcd", 150, seed=11, fast=True, label=0)
    top = generate_jets("top", 150, seed=12, fast=True, label=1)
    table = JetTable.concat([qcd, top])
    table.label_names = ["qcd", "top"]
    perm = np.random.default_rng(0).permutation(len(table))
    return table.take(perm[:220]), table.take(perm[220:])


SMALL = {
    "particlenet": dict(blocks=((8, (32, 32, 32)), (8, (64, 64, 64))), fc=((64, 0.1),)),
    "part": dict(embed_dims=(32, 64, 32), pair_embed_dims=(16, 16), heads=4, num_layers=2, num_cls_layers=1),
    "lorentznet": dict(hidden_channels=32, num_layers=4),  # all pairs of particles: the paper size is slow on CPU
    "particlenet_inv": dict(blocks=((8, (32, 32, 32)), (8, (64, 64, 64))), fc=(64,)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_learns_top_vs_qcd(name, jets):
    train, test = jets
    rep, k = representation_of(name)
    ds_train = JetDataset.from_table(train, representation=rep, k=k)
    ds_test = JetDataset.from_table(test, representation=rep, k=k)
    model = build_model(name, ds_train.num_features, 2, **SMALL.get(name, {}))
    cfg = TrainConfig(epochs=6, batch_size=32, lr=3e-3, progress=False, verbose=False, seed=0, schedule="cosine")
    trainer = Trainer(model, cfg)
    trainer.fit(ds_train)
    auc = trainer.evaluate(ds_test)["val_auc"]
    assert auc > 0.7, f"{name}: test AUC {auc:.3f}"


def test_sage_mean_net_learns_the_z_candidate_label_of_events():
    from pgjets.data import EventDataset
    from pgjets.models import SAGEMeanNet

    ds = EventDataset()
    graphs = [ds[i] for i in range(len(ds))]
    train, test = graphs[:1600], graphs[1600:]
    model = SAGEMeanNet(ds.num_features, 2)
    cfg = TrainConfig(epochs=8, batch_size=64, lr=3e-3, progress=False, verbose=False, seed=0)
    trainer = Trainer(model, cfg)
    trainer.fit(train)
    assert trainer.evaluate(test)["val_auc"] > 0.7


def test_sage_mean_net_regresses_freesolv():
    from pgjets.data import MoleculeDataset
    from pgjets.models import SAGEMeanNet

    ds = MoleculeDataset("freesolv")
    tr, _, te = ds.split(seed=0)
    model = SAGEMeanNet(ds.num_features, 1)
    cfg = TrainConfig(epochs=15, batch_size=32, lr=3e-3, task="regression", progress=False, verbose=False)
    trainer = Trainer(model, cfg)
    trainer.fit([ds[int(i)] for i in tr])
    pred, y = trainer.predict([ds[int(i)] for i in te])
    y = y.view(-1)
    baseline = float((y - ds.targets[tr].mean()).abs().mean())
    mae = float((pred.view(-1) - y).abs().mean())
    assert mae < 0.8 * baseline, (mae, baseline)
