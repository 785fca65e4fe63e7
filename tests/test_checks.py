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
