from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import wasserstein_distance

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.train import resolution, wasserstein_1d


def test_w1_of_shift_equals_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 2))
    b = a + np.array([0.7, -1.5])
    w = wasserstein_1d(a, b, names=["pt", "eta"])
    assert set(w) == {"pt", "eta"}
    assert abs(w["pt"] - 0.7) < 1e-9
    assert abs(w["eta"] - 1.5) < 1e-9
    assert wasserstein_1d(torch.as_tensor(a[:, 0]), torch.as_tensor(a[:, 0])) == {"0": 0.0}


def test_w1_matches_scipy_for_unequal_sizes():
    rng = np.random.default_rng(1)
    a = rng.exponential(size=(137, 3))
    b = rng.normal(size=(90, 3))
    w = wasserstein_1d(a, b)
    for i in range(3):
        assert abs(w[str(i)] - wasserstein_distance(a[:, i], b[:, i])) < 1e-10
    # two point masses
    assert abs(wasserstein_1d([0.0, 0.0], [1.0, 3.0])["0"] - 2.0) < 1e-12


def test_resolution_closed_form():
    truth = np.array([[1.0, 2.0], [2.0, 4.0], [4.0, 8.0], [8.0, 16.0]])
    pred = truth * np.array([1.1, 0.9])  # constant relative bias, no spread
    r = resolution(pred, truth, names=["pt", "m"])
    assert abs(r["pt"]["mean"] - 0.1) < 1e-12 and r["pt"]["std"] < 1e-12
    assert abs(r["m"]["median"] + 0.1) < 1e-12 and r["m"]["iqr"] < 1e-12
    rng = np.random.default_rng(2)
    t = rng.uniform(1.0, 2.0, size=20000)
    p = t * (1.0 + 0.05 * rng.normal(size=t.size))
    r = resolution(torch.as_tensor(p), torch.as_tensor(t))["0"]
    assert abs(r["mean"]) < 2e-3 and abs(r["std"] - 0.05) < 2e-3 and abs(r["iqr_sigma"] - 0.05) < 3e-3
    a = resolution(np.array([1.0, 3.0]), np.array([0.0, 1.0]), relative=False)["0"]
    assert a["mean"] == 1.5


def test_bad_input():
    with pytest.raises(NonFiniteError):
        resolution([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(InputShapeError):
        resolution(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(InputShapeError):
        wasserstein_1d(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(InputShapeError):
        wasserstein_1d(np.ones((3, 2, 1)), np.ones((3, 2, 1)))
    with pytest.raises(InputShapeError):
        wasserstein_1d(np.ones((3, 2)), np.ones((3, 2)), names=["a"])
    with pytest.raises(EmptyGraphError):
        wasserstein_1d(np.ones((0, 2)), np.ones((3, 2)))
    with pytest.raises(NonFiniteError):
        wasserstein_1d([np.nan, 1.0], [1.0, 2.0])
