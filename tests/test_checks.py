from __future__ import annotations

import pytest
import torch

from pgjets._checks import check_finite
from pgjets.errors import NonFiniteError


def test_check_finite_one_reduction_shortcut_is_exact():
    big = torch.full((4,), 3e38)  # finite, but the sum overflows: must still pass
    check_finite(big, "big")
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.zeros(5)
        x[2] = bad
        with pytest.raises(NonFiniteError):
            check_finite(x, "x")
    x = torch.tensor([float("inf"), -float("inf")])  # inf - inf = NaN in the sum: still caught
    with pytest.raises(NonFiniteError):
        check_finite(x, "x")


def test_check_sorted():
    from pgjets._checks import check_sorted
    from pgjets.errors import InputShapeError

    for ok in ([], [3], [0, 0, 1, 4]):
        check_sorted(torch.tensor(ok, dtype=torch.long), "unused")
    with pytest.raises(InputShapeError, match="the message"):
        check_sorted(torch.tensor([0, 2, 1]), "the message")


@pytest.mark.parametrize("make", ["linear_layers", "attention", "edge_conv", "transformer"])
def test_one_input_dtype_policy_for_every_layer(make):
    # CONTRIBUTING.md "Input dtypes": layers compute in their parameters' dtype and never cast
    from pgjets.errors import InputDtypeError
    from pgjets.nn import DeepSetsLayer, EdgeConvBlock, MultiHeadAttention, TransformerBlock

    torch.manual_seed(0)
    layer = {"linear_layers": lambda: DeepSetsLayer(4, 8), "attention": lambda: MultiHeadAttention(4, heads=2),
             "edge_conv": lambda: EdgeConvBlock(4, (8,), k=2),
             "transformer": lambda: TransformerBlock(4, 2)}[make]()
    call = {"attention": lambda m, x: m(x, None, dense=True), "transformer": lambda m, x: m(x, dense=True)}.get(
        make, lambda m, x: m(x))
    x = torch.randn(6, 4)
    call(layer, x)
    with pytest.raises(InputDtypeError, match="float64 but .* computes in torch.float32"):
        call(layer, x.double())
    with pytest.raises(InputDtypeError, match="floating-point"):
        call(layer, x.long())
    call(layer.double(), x.double())  # a float64 model takes float64 inputs


def test_require_tells_a_missing_module_from_a_broken_one(tmp_path, monkeypatch):
    """Not installed: the extra to install; installed but failing to import: the cause, not a reinstall."""
    from pgjets._checks import require
    from pgjets.errors import MissingExtraError

    with pytest.raises(MissingExtraError, match=r"'no_such_mod_xyz' is needed for tests but is not installed; "
                                                r"install it with: pip install 'pgjets\[physics\]'"):
        require("no_such_mod_xyz", "physics", "tests")
    (tmp_path / "broken_mod_xyz.py").write_text("raise ImportError('numpy.core.multiarray failed to import')\n")
    (tmp_path / "needy_mod_xyz.py").write_text("import absent_dep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingExtraError, match=r"installed but fails to import: ImportError: numpy.core.multiarray"):
        require("broken_mod_xyz", "physics")
    with pytest.raises(MissingExtraError, match=r"installed but needs 'absent_dep_xyz', which is not"):
        require("needy_mod_xyz", "physics")
