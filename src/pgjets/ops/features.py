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

#: Suffix of the feature sets of jets reflected into :math:`\eta_J \ge 0`: ``particlenet_etasign``
#: is ``particlenet`` with :math:`\Delta\eta` multiplied by :math:`\mathrm{sign}(\eta_J)`, the
#: convention of the published ParticleNet and ParT conversions (``eta_sign=True`` of
#: :func:`~pgjets.data.features.constituent_features`).
ETA_SIGN_SUFFIX = "_etasign"

_BASE_FEATURE_NAMES: dict[str, list[str]] = {
    "kinematic": KINEMATIC,
    "particlenet": KINEMATIC + PID,
    "angular": ["deta", "dphi"],
}
#: Feature names, in column order, per feature set (``particlenet`` adds ``PID`` when available);
#: each ``NAME_etasign`` has the columns of ``NAME``.
FEATURE_NAMES: dict[str, list[str]] = {
    **_BASE_FEATURE_NAMES,
    **{name + ETA_SIGN_SUFFIX: cols for name, cols in _BASE_FEATURE_NAMES.items()},
}


def split_feature_set(feature_set: str) -> tuple[str, bool]:
    """A feature-set name as ``(base name, eta_sign)``: ``"kinematic_etasign"`` -> ``("kinematic", True)``.

    Args:
        feature_set (str): A key of :data:`FEATURE_NAMES`.

    Raises:
        ValueError: Unknown feature set.
    """
    if feature_set not in FEATURE_NAMES:
        raise ValueError(f"unknown feature_set {feature_set!r}; choose one of {sorted(FEATURE_NAMES)}")
    if feature_set.endswith(ETA_SIGN_SUFFIX):
        return feature_set[:-len(ETA_SIGN_SUFFIX)], True
    return feature_set, False


def feature_names(feature_set: str, has_pid: bool = True, has_track_ip: bool = False) -> list[str]:
    """Column names of :func:`~pgjets.data.features.constituent_features` for a feature set.

    Args:
        feature_set (str): ``"particlenet"``, ``"kinematic"`` or ``"angular"``, or one of them
            with the suffix ``"_etasign"`` (same columns, see :data:`ETA_SIGN_SUFFIX`).
        has_pid (bool): Whether the jets carry PDG ids (``"particlenet"`` adds
            the charge and PID columns only then).
        has_track_ip (bool): Whether they carry track impact parameters
            (``"particlenet"`` then ends with :data:`TRACK_IP`: the 17 JetClass inputs).

    Raises:
        ValueError: Unknown feature set.
    """
    base, _ = split_feature_set(feature_set)
    if base != "particlenet":
        return list(FEATURE_NAMES[base])
    return list(KINEMATIC) + (list(PID) if has_pid else []) + (list(TRACK_IP) if has_track_ip else [])


__all__ = ["KINEMATIC", "PID", "TRACK_IP", "ETA_SIGN_SUFFIX", "FEATURE_NAMES", "feature_names", "split_feature_set"]
