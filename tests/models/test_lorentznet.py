from __future__ import annotations

import pytest
import torch

from pgjets import symmetry as S
from pgjets.errors import InputShapeError
from pgjets.models import LorentzNet, pad_batch, build_model

SMALL = dict(hidden_channels=16, num_layers=3)


def double(batch):
    out = batch.clone()
    for key in ("x", "pos", "pt", "p4"):
        out[key] = batch[key].double()
    return out


def model(beams=True, seed=0, batch=None, **kw):
    torch.manual_seed(seed)
    m = LorentzNet(7, 2, beams=beams, **{**SMALL, **kw})
    if batch is not None:  # non-trivial batch-norm statistics
        m.train()
        with torch.no_grad():
            m(batch)
    return m.double().eval()


def test_registry_default_is_the_paper_configuration():
    m = build_model("lorentznet", 13, 2)
    assert isinstance(m, LorentzNet) and len(m.convs) == 6 and m.embedding_size == 72
    assert [c.last_layer for c in m.convs] == [False] * 5 + [True]
    assert m.convs[0].c_weight == 0.005 and m.beams
    assert 200_000 < sum(p.numel() for p in m.parameters()) < 250_000  # the paper: 224k


def test_with_beams_invariant_under_rotations_about_the_beam_axis_only(batch_of):
    b = batch_of([9, 3, 14, 6])
    m = model(True, batch=b)
    bd = double(b)
    for angle in (0.7, 2.5, -1.3):
        assert S.azimuthal_rotation_error(m, bd, angle, relative=True) < 1e-6
    assert S.permutation_error(m, bd) < 1e-9
    # boosts change the jet relative to the beams: not invariant
    assert S.lorentz_error(m, bd, relative=True) > 1e-4


def test_without_beams_invariant_under_the_full_lorentz_group(batch_of):
    b = batch_of([9, 3, 14, 6])
    m = model(False, batch=b)
    bd = double(b)
    for seed in range(3):
        assert S.lorentz_error(m, bd, max_rapidity=2.0, seed=seed, relative=True) < 1e-6
    assert S.permutation_error(m, bd) < 1e-9


def test_beams_are_appended_per_jet(batch_of):
    b = batch_of([4, 2])
    m = model(True)
    scalars, p4, batch, edge_index, num = m._inputs(double(b))
    assert num == 2 and batch.tolist() == [0] * 6 + [1] * 4
    r2 = 2 ** 0.5
    torch.testing.assert_close(p4[4:6], torch.tensor([[r2, 0, 0, 1.0], [r2, 0, 0, -1.0]], dtype=torch.float64))
    assert scalars[:4].tolist() == [[1.0, 0.0]] * 4 and scalars[4:6].tolist() == [[0.0, 1.0]] * 2
    assert edge_index.size(1) == 6 * 5 + 4 * 3


def test_padded_path_equals_reference_with_and_without_beams(batch_of):
    b = batch_of([9, 3, 1, 6])
    for beams in (True, False):
        m = model(beams, batch=b).float()
        with torch.no_grad():
            ref = m(b)
            out = m.forward_padded(*pad_batch(b, m.padded_inputs))
            wider = m.forward_padded(*pad_batch(b, m.padded_inputs, max_num_nodes=20))
        torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(wider, ref, atol=2e-5, rtol=1e-4)


def test_scalar_columns_read_x(batch_of):
    b = batch_of([5, 4])
    m = model(True, scalar_columns=(3, 4), batch=b).float()
    assert m.padded_inputs == ("x", "p4") and m.num_scalars == 4
    with torch.no_grad():
        ref = m(b)
        torch.testing.assert_close(m.forward_padded(*pad_batch(b, m.padded_inputs)), ref, atol=2e-5, rtol=1e-4)
        changed = b.clone()
        changed.x = b.x.clone()
        changed.x[:, 3] += 1.0
        assert (m(changed) - ref).abs().max() > 1e-6
    with pytest.raises(ValueError, match="out of range"):
        LorentzNet(7, scalar_columns=(7,))
    with pytest.raises(ValueError, match="in_channels"):
        LorentzNet(None, scalar_columns=(1,))


def test_missing_p4_is_a_typed_error(batch_of):
    b = batch_of([3, 4])
    del b.p4
    with pytest.raises(InputShapeError, match="p4"):
        LorentzNet(7)(b)
    with pytest.raises(ValueError, match="num_layers"):
        LorentzNet(7, num_layers=0)


def test_four_momenta_only_batch_takes_its_sizes_from_the_host():
    """No ``x``: the sizes come from the slice table of ``p4``; on the meta device any read back fails."""
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(0)
    b = Batch.from_data_list([Data(p4=torch.rand(n, 4, generator=g) + 1, num_nodes=n) for n in (3, 5)])
    torch.manual_seed(0)
    model = LorentzNet(7, 2).eval()
    with torch.no_grad():
        ref = model(b)
    assert ref.shape == (2, 2)
    assert model.to("meta")(b.to("meta")).shape == (2, 2)


def test_batch_of_four_momenta_without_num_nodes_is_not_one_jet():
    """PyG makes no ``batch`` vector for graphs with only ``p4``: each jet must still get its own row."""
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(1)
    jets = [Data(p4=torch.rand(n, 4, generator=g) + 1) for n in (3, 5, 2)]
    b = Batch.from_data_list(jets)
    assert getattr(b, "batch", None) is None  # the PyG behaviour this guards against
    torch.manual_seed(0)
    model = LorentzNet(7, 2).eval()
    with torch.no_grad():
        out = model(b)
        each = torch.cat([model(j) for j in jets])
    assert out.shape == (3, 2)
    torch.testing.assert_close(out, each, rtol=1e-5, atol=1e-6)
    assert model.to("meta")(b.to("meta")).shape == (3, 2)  # rebuilt on the host: nothing read back


def test_batch_without_batch_vector_or_slice_table_is_a_typed_error():
    from torch_geometric.data import Batch, Data

    b = Batch.from_data_list([Data(p4=torch.rand(n, 4) + 1) for n in (3, 5)])
    b._slice_dict = {}
    with pytest.raises(InputShapeError, match="batch vector"):
        LorentzNet(7, 2)(b)
