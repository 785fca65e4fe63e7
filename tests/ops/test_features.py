from __future__ import annotations

import pytest

from pgjets.ops import FEATURE_NAMES, KINEMATIC, PID, feature_names


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
