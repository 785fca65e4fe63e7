from __future__ import annotations

import torch
from torch import nn

from pgjets.ops import key_padding_mask, rowwise


def test_key_padding_mask_hides_padding_and_keeps_bias():
    key_mask = torch.tensor([[True, True, False], [False, False, False], [True, False, False]])
    mask, empty = key_padding_mask(key_mask)
    assert mask.shape == (3, 1, 1, 3) and empty.shape == (3, 1, 1, 1)
    assert empty.view(-1).tolist() == [False, True, False]
    assert torch.isinf(mask[0, 0, 0, 2]) and (mask[0, 0, 0, :2] == 0).all()
    assert (mask[1] == 0).all()  # no valid key: attend anywhere (zeroed afterwards), never all -inf
    bias = torch.randn(3, 2, 4, 3)
    mb, _ = key_padding_mask(key_mask, bias, torch.float64)
    assert mb.dtype == torch.float64 and mb.shape == bias.shape
    torch.testing.assert_close(mb[0, :, :, :2], bias[0, :, :, :2].double())
    assert torch.isinf(mb[0, :, :, 2]).all() and torch.isinf(mb[2, :, :, 1:]).all()
    # softmax over the keys never sees a row of only -inf
    assert torch.isfinite(torch.softmax(mb, -1)).all()


def test_rowwise_applies_a_per_row_module_to_the_last_axis():
    torch.manual_seed(0)
    lin = nn.Linear(4, 3)
    x = torch.randn(2, 5, 6, 4)
    out = rowwise(lin, x)
    assert out.shape == (2, 5, 6, 3)
    torch.testing.assert_close(out, lin(x))
    bn = nn.BatchNorm1d(4).eval()
    bn.running_mean.fill_(1.0)
    torch.testing.assert_close(rowwise(bn, x), bn(x.reshape(-1, 4)).reshape(x.shape))
