from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch._dynamo

from pgjets.ops import wrap_phi
from pgjets.ops.angles import wrap_phi as home


def _numpy_reference(phi):  # the NumPy wrap graphs.event had (its _wrap_phi)
    return np.where((phi > np.pi) | (phi <= -np.pi), np.pi - np.remainder(np.pi - phi, 2.0 * np.pi), phi)


def _torch_reference(phi):  # the tensor wrap transforms had
    wrapped = math.pi - torch.remainder(math.pi - phi, 2.0 * math.pi)
    return torch.where((phi > math.pi) | (phi <= -math.pi), wrapped, phi)


EDGES = [0.0, -0.0, math.pi, -math.pi, np.nextafter(math.pi, 4.0), np.nextafter(-math.pi, -4.0),
         np.nextafter(-math.pi, 0.0), 3 * math.pi, -3 * math.pi, 2 * math.pi, -2 * math.pi, 1e6, -1e6, math.nan]


def _values(dtype):
    rng = np.random.default_rng(0)
    return np.concatenate([EDGES, rng.uniform(-50, 50, 2000), rng.uniform(-4, 4, 2000)]).astype(dtype)


def test_one_function_for_ops_and_transforms():
    from pgjets.transforms import wrap_phi as in_transforms

    assert wrap_phi is home and in_transforms is home


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_bit_for_bit_as_before_and_in_range(dtype):
    phi = _values(dtype)
    out = wrap_phi(phi)
    assert isinstance(out, np.ndarray) and out.dtype == dtype
    np.testing.assert_array_equal(out, _numpy_reference(phi))  # NaN at the same places
    finite = out[~np.isnan(out)]
    # within [-pi, pi]: just above pi, pi - (2 pi - ulp) rounds to -pi (as before: no value is changed)
    assert (np.abs(finite) <= np.asarray(np.pi, dtype)).all()
    inside = (phi > -np.pi) & (phi <= np.pi)
    np.testing.assert_array_equal(out[inside], phi[inside])  # in range: unchanged
    assert out[EDGES.index(-math.pi)] == np.asarray(np.pi, dtype)  # -pi goes to pi, pi stays


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tensor_bit_for_bit_as_before(dtype):
    phi = torch.from_numpy(_values(np.float64)).to(dtype)
    out = wrap_phi(phi)
    assert isinstance(out, torch.Tensor) and out.dtype == dtype
    assert torch.equal(torch.nan_to_num(out, 7.0), torch.nan_to_num(_torch_reference(phi), 7.0))
    assert bool(torch.isnan(out).eq(torch.isnan(phi)).all())


def test_empty_single_and_other_shapes():
    assert wrap_phi(np.zeros(0)).shape == (0,) and wrap_phi(torch.zeros(0)).shape == (0,)
    assert wrap_phi(np.array([4.0]))[0] == pytest.approx(4.0 - 2 * math.pi)
    grid = torch.tensor([[3.5, -0.1], [7.0, math.pi]], dtype=torch.float64)
    assert wrap_phi(grid).shape == (2, 2) and float(wrap_phi(grid)[1, 1]) == math.pi


def test_tensor_wrap_reads_nothing_back_and_traces():
    assert wrap_phi(torch.zeros(3, device="meta")).device.type == "meta"
    torch._dynamo.reset()
    expl = torch._dynamo.explain(wrap_phi)(torch.linspace(-9, 9, 11))
    torch._dynamo.reset()
    assert expl.graph_break_count == 0 and expl.graph_count == 1
