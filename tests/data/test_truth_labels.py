from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from pgjets.data import JetTable, from_w_labels, same_parent_labels, truth_batch
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
def test_node_and_edge_gallery_example_learns():
    """The gallery example (the one copy of the node and edge tasks) runs and learns both tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(__file__).resolve().parents[2] / "examples" / "gallery" / "plot_02_node_edge_tasks.py"
    threads = torch.get_num_threads()
    try:
        res = runpy.run_path(str(path), run_name="__main__")
    finally:  # the example sets one thread and draws figures
        torch.set_num_threads(threads)
        plt.close("all")
    assert res["node_auc"] > 0.6 and res["edge_auc"] > 0.7, (res["node_auc"], res["edge_auc"])
