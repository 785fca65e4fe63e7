from __future__ import annotations

import numpy as np
import pytest

from pgjets.data import JetTable
from pgjets.errors import InputShapeError


def _table() -> JetTable:
    # Three jets: 4, 0 and 3 constituents; pt = |(px, py)|.
    px = np.array([1.0, 5.0, 3.0, 2.0, 0.5, 7.0, 0.5])
    py = np.zeros(7)
    pz = np.arange(7, dtype=float)
    E = np.hypot(px, pz) + 0.01
    return JetTable(px=px, py=py, pz=pz, E=E, offsets=[0, 4, 4, 7], label=[1, 0, 1],
                    pdgid=np.arange(7), extra={"jet_pt": np.array([11.0, 0.0, 8.0])})


def test_hardest_keeps_the_n_highest_pt_in_order():
    t = _table()
    h = t.hardest(2)
    assert h.n_constituents.tolist() == [2, 0, 2]
    assert h.px.tolist() == [5.0, 3.0, 7.0, 0.5]
    # Every constituent column follows, ties (0.5, 0.5) keep the stored order, per-jet columns are unchanged.
    assert h.pdgid.tolist() == [1, 2, 5, 4]
    assert h.pz.tolist() == [1.0, 2.0, 5.0, 4.0]
    assert h.label.tolist() == [1, 0, 1] and h.extra["jet_pt"].tolist() == [11.0, 0.0, 8.0]
    # n at or above every jet's size: all constituents, sorted by decreasing pt.
    full = t.hardest(10)
    assert full.n_constituents.tolist() == [4, 0, 3]
    assert full.px.tolist() == [5.0, 3.0, 2.0, 1.0, 7.0, 0.5, 0.5]
    # pt from px and py together, not px alone.
    t2 = JetTable(px=[3.0, 0.0], py=[0.0, -4.0], pz=[0.0, 0.0], E=[3.0, 4.0], offsets=[0, 2], label=[0])
    assert t2.hardest(1).py.tolist() == [-4.0]


def test_hardest_bad_n():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        _table().hardest(0)


def test_take_slice_concat_round_trip():
    t = _table()
    back = JetTable.concat([t.take(np.array([2])), t.slice(0, 2)])
    assert back.n_constituents.tolist() == [3, 4, 0]
    assert back.px.tolist() == [0.5, 7.0, 0.5, 1.0, 5.0, 3.0, 2.0]
    with pytest.raises(InputShapeError):
        JetTable(px=[1.0], py=[0.0], pz=[0.0], E=[1.0], offsets=[0, 2], label=[0])


def test_track_impact_parameters_come_all_or_none_finite_and_follow_the_jets():
    from pgjets.errors import InputShapeError, NonFiniteError

    base = dict(px=np.ones(3), py=np.zeros(3), pz=np.zeros(3), E=np.ones(3) * 2, offsets=[0, 1, 3], label=[0, 1])
    ip = dict(d0val=np.array([0.1, 0.2, 0.3]), d0err=np.ones(3), dzval=np.zeros(3), dzerr=np.ones(3))
    t = JetTable(**base, **ip)
    assert t.has_track_ip and t.d0val.dtype == np.float32
    assert t.take(np.array([1])).d0val.tolist() == pytest.approx([0.2, 0.3])
    assert JetTable.concat([t, t.slice(0, 1)]).d0val.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.1])
    assert not JetTable(**base).has_track_ip
    with pytest.raises(InputShapeError, match="all of d0val"):
        JetTable(**base, d0val=ip["d0val"])
    with pytest.raises(NonFiniteError, match="dzerr"):
        JetTable(**base, **{**ip, "dzerr": np.array([1.0, np.nan, 1.0])})


def test_pt_eta_phi_by_hand_and_along_the_beam():
    from pgjets.data.table import pt_eta_phi

    pt, eta, phi = pt_eta_phi(np.array([3.0, 0.0, -1.0]), np.array([4.0, 0.0, 0.0]), np.array([0.0, 2.0, -1.0]))
    np.testing.assert_allclose(pt, [5.0, 0.0, 1.0])
    np.testing.assert_allclose(eta, [0.0, 0.0, np.arcsinh(-1.0)])  # pT = 0: eta = 0, not inf
    np.testing.assert_allclose(phi, [np.arctan2(4.0, 3.0), 0.0, np.pi])


def test_offsets_from_counts():
    from pgjets.data.table import offsets_from_counts

    got = offsets_from_counts(np.array([2, 0, 3], dtype=np.int32))
    assert got.dtype == np.int64 and got.tolist() == [0, 2, 2, 5]
    assert offsets_from_counts([4]).tolist() == [0, 4] and offsets_from_counts([]).tolist() == [0]
    assert offsets_from_counts(np.zeros(0, dtype=np.float64)).tolist() == [0]  # nothing to add
    big = np.full(3, 2**31 - 1, dtype=np.int32)  # sums past int32 stay exact
    assert offsets_from_counts(big)[-1] == 3 * (2**31 - 1)
    with pytest.raises(TypeError, match="integers, got float64"):
        offsets_from_counts([1.5, 2.0])
