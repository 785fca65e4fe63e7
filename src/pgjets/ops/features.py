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

#: The track impact-parameter columns (``particlenet`` on jets with impact parameters, as JetClass):
#: :math:`\tanh d_0`, :math:`\sigma_{d_0}` clipped to [0, 1], :math:`\tanh d_z`, :math:`\sigma_{d_z}`
#: clipped to [0, 1] (the preprocessing of the Particle Transformer paper).
TRACK_IP = ["d0", "d0_err", "dz", "dz_err"]

#: Feature names, in column order, per feature set (``particlenet`` adds ``PID`` when available).
FEATURE_NAMES: dict[str, list[str]] = {
    "kinematic": KINEMATIC,
    "particlenet": KINEMATIC + PID,
    "angular": ["deta", "dphi"],
}


def feature_names(feature_set: str, has_pid: bool = True, has_track_ip: bool = False) -> list[str]:
    """Column names of :func:`~pgjets.data.features.constituent_features` for a feature set.

    Args:
        feature_set (str): ``"particlenet"``, ``"kinematic"`` or ``"angular"``.
        has_pid (bool): Whether the jets carry PDG ids (``"particlenet"`` adds
            the charge and PID columns only then).
        has_track_ip (bool): Whether they carry track impact parameters
            (``"particlenet"`` then ends with :data:`TRACK_IP`: the 17 JetClass inputs).

    Raises:
        ValueError: Unknown feature set.
    """
    if feature_set not in FEATURE_NAMES:
        raise ValueError(f"unknown feature_set {feature_set!r}; choose one of {sorted(FEATURE_NAMES)}")
    if feature_set != "particlenet":
        return list(FEATURE_NAMES[feature_set])
    return list(KINEMATIC) + (list(PID) if has_pid else []) + (list(TRACK_IP) if has_track_ip else [])


__all__ = ["KINEMATIC", "PID", "TRACK_IP", "FEATURE_NAMES", "feature_names"]
