"""Column layout of the per-constituent jet features (names and order).

:func:`pgjets.data.features.constituent_features` writes its columns in this
order; models that read particular columns (the invariant PID one-hots of
:class:`~pgjets.models.InvariantParticleNet`) look them up here, so the data
and the models share one definition of the layout.
"""

from __future__ import annotations

#: The kinematic columns (every feature set but ``angular`` starts with them).
KINEMATIC = ["deta", "dphi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r"]
#: The charge and particle-type one-hot columns (``particlenet`` on jets with PDG ids).
PID = ["charge", "is_charged_hadron", "is_neutral_hadron", "is_photon", "is_electron", "is_muon"]

#: Feature names, in column order, per feature set (``particlenet`` adds ``PID`` when available).
FEATURE_NAMES: dict[str, list[str]] = {
    "kinematic": KINEMATIC,
    "particlenet": KINEMATIC + PID,
    "angular": ["deta", "dphi"],
}


def feature_names(feature_set: str, has_pid: bool = True) -> list[str]:
    """Column names of :func:`~pgjets.data.features.constituent_features` for a feature set.

    Args:
        feature_set (str): ``"particlenet"``, ``"kinematic"`` or ``"angular"``.
        has_pid (bool): Whether the jets carry PDG ids (``"particlenet"`` adds
            the charge and PID columns only then).

    Raises:
        ValueError: Unknown feature set.
    """
    if feature_set not in FEATURE_NAMES:
        raise ValueError(f"unknown feature_set {feature_set!r}; choose one of {sorted(FEATURE_NAMES)}")
    if feature_set == "particlenet" and not has_pid:
        return list(KINEMATIC)
    return list(FEATURE_NAMES[feature_set])


__all__ = ["KINEMATIC", "PID", "FEATURE_NAMES", "feature_names"]
