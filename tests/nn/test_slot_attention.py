from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import SlotAttention
from pgjets.nn.slot_attention import bipartite_complete_edges


def _setup(seed=0):
    torch.manual_seed(seed)
    layer = SlotAttention(4, 8, num_slots=3, iters=3, hidden=16).double().eval()
    g = torch.Generator().manual_seed(seed)
    sizes = torch.tensor([5, 1, 7])
    x = torch.randn(int(sizes.sum()), 4, generator=g, dtype=torch.float64)
    batch = torch.repeat_interleave(torch.arange(3), sizes)
    slot_sizes = torch.tensor([2, 4, 1])
    slots = torch.randn(int(slot_sizes.sum()), 8, generator=g, dtype=torch.float64)
    slot_batch = torch.repeat_interleave(torch.arange(3), slot_sizes)
    return layer, x, batch, slots, slot_batch


def test_edges_complete_bipartite():
    batch = torch.tensor([0, 0, 1, 2, 2, 2])
    slot_batch = torch.tensor([0, 1, 1, 2])
    ei = bipartite_complete_edges(batch, slot_batch, 3)
    pairs = set(map(tuple, ei.t().tolist()))
    expected = {(i, s) for i in range(6) for s in range(4) if batch[i] == slot_batch[s]}
    assert pairs == expected and ei.size(1) == len(expected)


def test_shapes_uneven_and_attention_normalised():
    layer, x, batch, slots, slot_batch = _setup()
    out, (ei, attn) = layer(x, batch, slots, slot_batch, return_attention=True)
    assert out.shape == (7, 8) and torch.isfinite(out).all()
    assert ei.size(1) == 5 * 2 + 1 * 4 + 7 * 1
    per_node = torch.zeros(x.size(0), dtype=attn.dtype).index_add(0, ei[0], attn)
    torch.testing.assert_close(per_node, torch.ones_like(per_node))  # softmax over slots
    learned = layer(x, batch, generator=torch.Generator().manual_seed(1))
    assert learned.shape == (9, 8)
    again = layer(x, batch, generator=torch.Generator().manual_seed(1))
    assert torch.equal(learned, again)


def test_input_permutation_invariance():
    layer, x, batch, slots, slot_batch = _setup(1)
    perm = torch.cat([torch.randperm(5) , torch.tensor([5]), 6 + torch.randperm(7)])
    a = layer(x, batch, slots, slot_batch)
    b = layer(x[perm], batch, slots, slot_batch)
    assert (a - b).abs().max() < 1e-5
    assert (a - slots).abs().max() > 1e-3  # slots actually change


def test_slot_permutation_equivariance():
    layer, x, batch, slots, slot_batch = _setup(2)
    perm = torch.tensor([1, 0, 5, 3, 2, 4, 6])  # within graphs
    a = layer(x, batch, slots, slot_batch)
    b = layer(x, batch, slots[perm], slot_batch)
    assert (a[perm] - b).abs().max() < 1e-5


def test_no_leakage_between_graphs():
    layer, x, batch, slots, slot_batch = _setup(3)
    full = layer(x, batch, slots, slot_batch)
    for gi in range(3):
        alone = layer(x[batch == gi], None, slots[slot_batch == gi])
        assert (alone - full[slot_batch == gi]).abs().max() < 1e-10
    # changing graph 0's nodes leaves the other graphs' slots untouched
    x2 = x.clone()
    # (a constant shift would be removed by the input LayerNorm)
    x2[batch == 0] = torch.randn(5, 4, generator=torch.Generator().manual_seed(9), dtype=x.dtype)
    other = layer(x2, batch, slots, slot_batch)
    assert torch.equal(other[slot_batch != 0], full[slot_batch != 0])
    assert not torch.allclose(other[slot_batch == 0], full[slot_batch == 0])


def test_gradients_and_train_mode():
    layer, x, batch, _, _ = _setup(4)
    layer.train()
    x = x.clone().requires_grad_(True)
    out = layer(x, batch)
    out.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert layer.slots_mu.grad is not None and layer.lin_q.weight.grad is not None


def test_bad_input(debug):
    layer, x, batch, slots, slot_batch = _setup()
    with pytest.raises(InputShapeError):
        layer(x[:, :3], batch)
    with pytest.raises(InputShapeError):
        layer(x, batch, slots[:, :5], slot_batch)
    with pytest.raises(InputShapeError):
        layer(x, batch.flip(0))
    with pytest.raises(InputShapeError):
        layer(x, batch[:-1])
    with pytest.raises(NonFiniteError):
        layer(torch.full_like(x, float("nan")), batch)
    with pytest.raises(ValueError):
        SlotAttention(4, 8)(x.float())  # neither num_slots nor slots
    with pytest.raises(ValueError):
        SlotAttention(4, 8, iters=0)


def test_no_learned_init_parameters_without_num_slots():
    """Without num_slots the slots are always given: no parameter without gradient (plain DDP refuses those)."""
    layer = SlotAttention(4, 8)
    assert layer.slots_mu is None and "slots_mu" not in dict(layer.named_parameters())
    old = {**layer.state_dict(), "slots_mu": torch.zeros(1, 8), "slots_log_sigma": torch.zeros(1, 8)}
    layer.load_state_dict(old)  # checkpoints written when the parameters existed still load
    torch.manual_seed(0)
    a = torch.nn.Sequential(SlotAttention(4, 8), torch.nn.Linear(3, 3))
    torch.manual_seed(0)
    b = torch.nn.Sequential(SlotAttention(4, 8, num_slots=2), torch.nn.Linear(3, 3))
    assert torch.equal(a[1].weight, b[1].weight)  # the same random stream either way
    x = torch.randn(5, 4)
    out = layer(x, slots=torch.randn(3, 8))
    out.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_forward_reads_nothing_back_from_the_device_when_num_graphs_is_given():
    """Outside debug mode the batch checks (sorted, >= 0, < num_graphs) are skipped: on the meta device,
    which has no values to read, the layer runs (a host read there raises)."""
    layer = SlotAttention(8, 8, num_slots=3).to("meta")
    x, batch = torch.randn(12, 8, device="meta"), torch.tensor([0] * 5 + [1] * 7, device="meta")
    assert layer(x, batch, num_graphs=2).shape == (6, 8)


def test_learned_slots_meet_the_nodes_of_their_graph_as_bipartite_complete_edges():
    """The shape-static edges of learned slots are those of bipartite_complete_edges."""
    from pgjets.nn.slot_attention import bipartite_complete_edges

    layer = SlotAttention(4, 8, num_slots=3)
    batch = torch.tensor([0, 0, 2, 2, 2])  # graph 1 without nodes
    x = torch.randn(5, 4)
    slots, slot_batch = layer.init_slots(3, x.device, torch.Generator().manual_seed(0))
    out, (edge_index, _) = layer(x, batch, num_graphs=3, return_attention=True,
                                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(edge_index, bipartite_complete_edges(batch, slot_batch, 3))
    given = layer(x, batch, slots=slots, slot_batch=slot_batch, num_graphs=3)
    torch.testing.assert_close(out, given, rtol=0, atol=0)
