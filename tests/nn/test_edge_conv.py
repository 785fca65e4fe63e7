from __future__ import annotations

import pytest
import torch

from pgjets.nn.edge_conv import EdgeConvLayer


@pytest.mark.parametrize("aggr", ["max", "mean"])
def test_message_and_aggregation(aggr):
    torch.manual_seed(0)
    x = torch.randn(3, 2)
    ei = torch.tensor([[1, 2], [0, 0]])
    layer = EdgeConvLayer(in_channels=2, out_channels=4, aggr=aggr)
    out = layer(x, ei)
    msgs = layer.nn(torch.stack([torch.cat([x[0], x[j] - x[0]]) for j in (1, 2)]))
    ref = msgs.max(0).values if aggr == "max" else msgs.mean(0)
    torch.testing.assert_close(out[0], ref)


def test_translation_of_neighbour_offsets_and_equivariance():
    torch.manual_seed(1)
    x = torch.randn(5, 2)
    ei = torch.randint(0, 5, (2, 12))
    layer = EdgeConvLayer(in_channels=2, out_channels=3)
    perm = torch.randperm(5)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(5)
    torch.testing.assert_close(layer(x[perm], inv[ei]), layer(x, ei)[perm], atol=1e-6, rtol=1e-6)


def test_needs_sizes_without_nn():
    with pytest.raises(ValueError, match="in_channels"):
        EdgeConvLayer()
    with pytest.raises(ValueError, match="aggr"):
        EdgeConvLayer(in_channels=2, out_channels=2, aggr="sum")
