from __future__ import annotations

import pytest

from pgjets.ops import FEATURE_NAMES, KINEMATIC, PID, feature_names
from pgjets.ops.features import TRACK_IP, split_feature_set


def test_layout():
    assert FEATURE_NAMES["particlenet"] == KINEMATIC + PID
    assert feature_names("particlenet", has_pid=False) == KINEMATIC
    assert feature_names("angular") == ["deta", "dphi"]
    names = feature_names("kinematic")
    names.append("extra")  # a copy: the table is not changed
    assert FEATURE_NAMES["kinematic"] == KINEMATIC and "extra" not in KINEMATIC
    with pytest.raises(ValueError, match="unknown feature_set"):
        feature_names("nope")


def test_data_features_use_the_same_layout():
    from pgjets.data import features

    assert features.FEATURE_NAMES is FEATURE_NAMES and features.feature_names is feature_names


def test_etasign_feature_sets_have_the_columns_of_their_base():
    for base in ("particlenet", "kinematic", "angular"):
        signed = base + "_etasign"
        assert split_feature_set(signed) == (base, True) and split_feature_set(base) == (base, False)
        assert FEATURE_NAMES[signed] == FEATURE_NAMES[base]
        for pid in (False, True):
            assert feature_names(signed, has_pid=pid, has_track_ip=True) == feature_names(base, pid, True)
    assert feature_names("particlenet_etasign", has_track_ip=True) == KINEMATIC + PID + TRACK_IP
    for bad in ("nope_etasign", "_etasign", "particlenet_etasign_etasign"):
        with pytest.raises(ValueError, match="unknown feature_set"):
            split_feature_set(bad)
