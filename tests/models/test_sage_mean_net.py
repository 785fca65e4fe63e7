from __future__ import annotations

import warnings

import pytest
import torch
from torch_geometric.data import Data

from pgjets.models import SAGEMeanNet, build_model
from pgjets.nn import SAGEMeanConv
from pgjets.ops import knn_graph

F = 7


def _graphs(batch_of, sizes=(9, 3, 14)):
    b = batch_of(list(sizes))
    b.edge_index = knn_graph(b.pos, 4, b.batch)
    return b


def test_layers_readout_and_outputs(batch_of):
    torch.manual_seed(0)
    model = SAGEMeanNet(F, 3, hidden=(16, 8)).eval()
    assert [type(c) for c in model.convs] == [SAGEMeanConv, SAGEMeanConv]
    assert [(c.in_channels, c.out_channels) for c in model.convs] == [(F, 16), (16, 8)]
    b = _graphs(batch_of)
    out = model(b)
    assert out.shape == (3, 3) and torch.isfinite(out).all()
    # the mean readout of the layers, then the head (the formula of the module docstring)
    adj = torch.zeros(b.num_nodes, b.num_nodes)
    adj.index_put_((b.edge_index[1], b.edge_index[0]), torch.ones(b.num_edges), accumulate=True)
    mean = adj / adj.sum(1, keepdim=True).clamp_min(1)  # neighbour mean over the incoming edges
    h = model.norm(b.x)
    for conv in model.convs:
        h = torch.relu(conv.lin_neigh(mean @ h) + conv.lin_self(h))
    pooled = torch.stack([h[b.batch == g].mean(0) for g in range(3)])
    torch.testing.assert_close(out, model.head(pooled), atol=1e-5, rtol=1e-5)
    one = Data(x=b.x[b.batch == 1], edge_index=knn_graph(b.pos[b.batch == 1], 4))  # no batch vector
    torch.testing.assert_close(model(one), out[1:2], atol=1e-5, rtol=1e-5)
    assert SAGEMeanNet(F, 1)(b).shape == (3, 1)  # regression


def test_registry_name_gcn_builds_it_with_the_recorded_state_dict_keys():
    """Runs recorded under the registry name ``gcn`` load into SAGEMeanNet: same name, same keys."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the registry does not use the deprecated alias
        model = build_model("gcn", F, 2, hidden=(16, 8))
    assert type(model) is SAGEMeanNet
    conv_keys = [f"convs.{i}.{k}" for i in range(2) for k in ("lin_neigh.weight", "lin_self.weight", "lin_self.bias")]
    assert list(model.state_dict()) == [
        "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked",
        *conv_keys, "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias",
    ]


def test_deprecated_gcn_alias_warns_and_gives_the_same_outputs(batch_of):
    from pgjets.models import GCN

    b = _graphs(batch_of)
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning, match="SAGEMeanNet"):
        old = GCN(F, 3, hidden=(16, 8)).eval()
    torch.manual_seed(0)
    new = SAGEMeanNet(F, 3, hidden=(16, 8)).eval()
    assert isinstance(old, SAGEMeanNet)
    assert list(old.state_dict()) == list(new.state_dict())  # old checkpoints load into either
    torch.testing.assert_close(old(b), new(b), rtol=0, atol=0)
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="torch_geometric.nn.GCN"):
        GCN(4, 16, 2)  # PyG's GCN(in_channels, hidden_channels, num_layers): a clear pointer
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="torch_geometric.nn.GCN"):
        GCN(4, hidden_channels=16, num_layers=2)
