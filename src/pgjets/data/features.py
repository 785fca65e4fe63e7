r"""Per-constituent input features of jet taggers, computed vectorised.

For constituent :math:`i` of jet :math:`J` (axis from the summed four-momentum):

.. math::
    \Delta\eta_i = \eta_i - \eta_J, \quad
    \Delta\phi_i = \phi_i - \phi_J \ \text{wrapped to } (-\pi, \pi], \quad
    \Delta R_i = \sqrt{\Delta\eta_i^2 + \Delta\phi_i^2},

plus :math:`\log p_{T,i}`, :math:`\log E_i`, :math:`\log(p_{T,i}/p_{T,J})`,
:math:`\log(E_i/E_J)` (the ParticleNet inputs) and, when the source carries
them, the charge and particle-type one-hots (charged hadron, neutral hadron,
photon, electron, muon). Logarithms of zero momenta are clamped at
:math:`\log 10^{-8}` so no feature is ever infinite.
"""

from __future__ import annotations

import numpy as np

from .table import JetTable

KINEMATIC = ["deta", "dphi", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r"]
PID = ["charge", "is_charged_hadron", "is_neutral_hadron", "is_photon", "is_electron", "is_muon"]

#: Feature names, in column order, per feature set (``particlenet`` adds ``PID`` when available).
FEATURE_NAMES: dict[str, list[str]] = {
    "kinematic": KINEMATIC,
    "particlenet": KINEMATIC + PID,
    "angular": ["deta", "dphi"],
}

_CHARGED_HADRONS = (211, 321, 2212)
_EPS = 1e-8


def feature_names(feature_set: str, has_pid: bool = True) -> list[str]:
    """Column names of :func:`constituent_features` for a feature set."""
    if feature_set not in FEATURE_NAMES:
        raise ValueError(f"unknown feature_set {feature_set!r}; choose one of {sorted(FEATURE_NAMES)}")
    if feature_set == "particlenet" and not has_pid:
        return list(KINEMATIC)
    return list(FEATURE_NAMES[feature_set])


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    """Wrap angles to :math:`(-\\pi, \\pi]`."""
    return np.pi - np.mod(np.pi - dphi, 2 * np.pi)


def constituent_features(table: JetTable, feature_set: str = "particlenet") -> dict[str, np.ndarray]:
    """Features, coordinates, :math:`p_T` and four-momenta of all constituents.

    Args:
        table: The jets.
        feature_set: ``"particlenet"`` (kinematics + charge/PID when the table
            has ``pdgid``), ``"kinematic"`` or ``"angular"``.

    Returns:
        ``{"x": (P, F), "pos": (P, 2), "pt": (P,), "p4": (P, 4), "names": [...]}``,
        float32 arrays.
    """
    has_pid = table.pdgid is not None
    names = feature_names(feature_set, has_pid)
    px, py, pz, E = (getattr(table, n).astype(np.float64) for n in ("px", "py", "pz", "E"))
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, _EPS))
    phi = np.arctan2(py, px)
    jet = table.jet_kinematics()
    jet_E = table.jet_p4()[:, 0]
    idx = table.jet_index
    deta = eta - jet["eta"][idx]
    dphi = wrap_phi(phi - jet["phi"][idx])
    cols = {
        "deta": deta,
        "dphi": dphi,
        "log_pt": np.log(np.maximum(pt, _EPS)),
        "log_e": np.log(np.maximum(E, _EPS)),
        "log_pt_rel": np.log(np.maximum(pt / np.maximum(jet["pt"][idx], _EPS), _EPS)),
        "log_e_rel": np.log(np.maximum(E / np.maximum(jet_E[idx], _EPS), _EPS)),
        "delta_r": np.hypot(deta, dphi),
    }
    if has_pid and any(n in PID for n in names):
        pid = np.abs(table.pdgid.astype(np.int64))
        charge = table.charge.astype(np.float64) if table.charge is not None else np.zeros_like(pt)
        cols["charge"] = charge
        cols["is_charged_hadron"] = np.isin(pid, _CHARGED_HADRONS).astype(np.float64)
        cols["is_photon"] = (pid == 22).astype(np.float64)
        cols["is_electron"] = (pid == 11).astype(np.float64)
        cols["is_muon"] = (pid == 13).astype(np.float64)
        cols["is_neutral_hadron"] = ((charge == 0) & (pid != 22) & (pid > 100)).astype(np.float64)
    x = np.stack([cols[n] for n in names], axis=1).astype(np.float32) if len(pt) else np.zeros((0, len(names)), np.float32)
    return {
        "x": x,
        "pos": np.stack([deta, dphi], 1).astype(np.float32).reshape(-1, 2),
        "pt": pt.astype(np.float32),
        "p4": np.stack([E, px, py, pz], 1).astype(np.float32).reshape(-1, 4),
        "names": names,
    }


__all__ = ["constituent_features", "feature_names", "FEATURE_NAMES", "wrap_phi"]
