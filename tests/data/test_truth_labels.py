from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from pgjets.data.table import JetTable
from pgjets.data.truth_labels import from_w_labels, same_parent_labels, truth_batch
from pgjets.errors import InputShapeError


def table(parent=None):
    n = 6
    rng = np.random.default_rng(0)
    pt = rng.uniform(5, 50, n)
    eta, phi = rng.normal(0, 0.2, n), rng.normal(0, 0.2, n)
    return JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
                    offsets=[0, 4, 6], label=[1, 1], parent=parent)


def test_labels():
    assert from_w_labels([0, 1, 2, -1]).tolist() == [0, 1, 1, 0]
    ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    assert same_parent_labels(ei, [1, 1, -1, -1]).tolist() == [1, 1, 0, 0]
    b = truth_batch(table(np.array([0, 1, 1, -1, 2, 2])), k=2)
    assert b.node_y.tolist() == [0, 1, 1, 0, 1, 1]
    assert b.edge_y.shape == (b.edge_index.size(1),)
    with pytest.raises(InputShapeError, match="parent"):
        truth_batch(table(None))


@pytest.mark.slow
def test_node_and_edge_examples_learn():
    path = Path(__file__).resolve().parents[2] / "examples" / "node_and_edge_tasks.py"
    spec = importlib.util.spec_from_file_location("node_and_edge_tasks", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.run(n_train=100, n_test=40, epochs=40)
    assert res["node_auc"] > 0.6 and res["edge_auc"] > 0.7, res
