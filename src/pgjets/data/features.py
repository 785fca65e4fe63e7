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

from typing import Any

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

#: ``|pdgid|`` of the charged hadrons (pi+-, K+-, p, and the rarer Sigma+-, Xi-, Omega-).
CHARGED_HADRONS = (211, 321, 2212, 3222, 3112, 3312, 3334)
#: ``|pdgid|`` of the neutral hadrons (K_L, n, K_S, Lambda, Xi0, pi0 if left undecayed).
NEUTRAL_HADRONS = (130, 2112, 310, 3122, 3322, 111)
#: Floor of the arguments of every logarithm: ``log(max(v, LOG_FLOOR))``.
LOG_FLOOR = 1e-8
_EPS = LOG_FLOOR


def feature_names(feature_set: str, has_pid: bool = True) -> list[str]:
    """Column names of :func:`constituent_features` for a feature set.

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


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    r"""Wrap angles to :math:`(-\pi, \pi]`.

    .. math::
        \operatorname{wrap}(\phi) = \pi - ((\pi - \phi) \bmod 2\pi)

    Shapes:
        - **input / output:** any shape.
    """
    return np.pi - np.mod(np.pi - dphi, 2 * np.pi)


def constituent_features(table: JetTable, feature_set: str = "particlenet") -> dict[str, Any]:
    r"""Features, coordinates, :math:`p_T` and four-momenta of all constituents.

    Vectorised over every constituent of every jet (no loop per jet). The jet
    axis :math:`(\eta_J, \phi_J)` and :math:`p_{T,J}`, :math:`E_J` come from
    the summed constituent four-momenta. Constituent pseudorapidity is
    :math:`\eta_i = \operatorname{asinh}(p_{z,i} / \max(p_{T,i}, 10^{-8}))`.

    .. math::
        x_i = \bigl(\Delta\eta_i, \Delta\phi_i, \log p_{T,i}, \log E_i,
        \log\tfrac{p_{T,i}}{p_{T,J}}, \log\tfrac{E_i}{E_J}, \Delta R_i
        [, q_i, \text{one-hots}]\bigr)

    Zero (or negative) :math:`p_T` and :math:`E` are clamped to
    :data:`LOG_FLOOR` inside every logarithm, so the result never holds NaN or
    inf. Column order is :func:`feature_names` / :data:`FEATURE_NAMES`:

    - ``"particlenet"``: ``deta, dphi, log_pt, log_e, log_pt_rel, log_e_rel,
      delta_r`` and, when ``table.pdgid`` is present, ``charge,
      is_charged_hadron, is_neutral_hadron, is_photon, is_electron, is_muon``
      (``|pdgid|`` in :data:`CHARGED_HADRONS`, :data:`NEUTRAL_HADRONS`, 22,
      11, 13; JetClass conventions). Without ``table.charge`` the charge is
      derived from the PDG id.
    - ``"kinematic"``: the seven kinematic columns only.
    - ``"angular"``: ``deta, dphi``.

    Args:
        table (JetTable): The jets.
        feature_set (str): ``"particlenet"`` (default), ``"kinematic"`` or ``"angular"``.

    Returns:
        dict: ``x``, ``pos`` = :math:`(\Delta\eta, \Delta\phi)`, ``pt``,
        ``p4`` = :math:`(E, p_x, p_y, p_z)` (float32 arrays) and ``names``
        (the column names of ``x``).

    Shapes:
        - **input:** ``P`` constituents in ``J`` jets.
        - **output:** ``x`` :math:`(P, F)`, ``pos`` :math:`(P, 2)`, ``pt``
          :math:`(P,)`, ``p4`` :math:`(P, 4)`.
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
        signed = np.asarray(table.pdgid).astype(np.int64)
        pid = np.abs(signed)
        charged_had = np.isin(pid, CHARGED_HADRONS)
        if table.charge is not None:
            charge = np.asarray(table.charge).astype(np.float64)
        else:
            # hadrons carry the sign of their id, leptons the opposite one (e- is 11)
            charge = np.where(charged_had, np.sign(signed), 0.0)
            charge = np.where((pid == 11) | (pid == 13), -np.sign(signed), charge).astype(np.float64)
        cols["charge"] = charge
        cols["is_charged_hadron"] = charged_had.astype(np.float64)
        cols["is_neutral_hadron"] = np.isin(pid, NEUTRAL_HADRONS).astype(np.float64)
        cols["is_photon"] = (pid == 22).astype(np.float64)
        cols["is_electron"] = (pid == 11).astype(np.float64)
        cols["is_muon"] = (pid == 13).astype(np.float64)
    # fill preallocated float32 arrays column by column (cheaper than stack + astype)
    x = np.empty((pt.size, len(names)), dtype=np.float32)
    for j, n in enumerate(names):
        x[:, j] = cols[n]
    pos = np.empty((pt.size, 2), dtype=np.float32)
    pos[:, 0], pos[:, 1] = deta, dphi
    p4 = np.empty((pt.size, 4), dtype=np.float32)
    p4[:, 0], p4[:, 1], p4[:, 2], p4[:, 3] = E, px, py, pz
    return {"x": x, "pos": pos, "pt": pt.astype(np.float32), "p4": p4, "names": names}


__all__ = [
    "constituent_features",
    "feature_names",
    "FEATURE_NAMES",
    "CHARGED_HADRONS",
    "NEUTRAL_HADRONS",
    "LOG_FLOOR",
    "wrap_phi",
]
