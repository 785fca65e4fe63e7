r"""High-level jet observables: mass, :math:`p_T`, multiplicity and N-subjettiness.

N-subjettiness (Thaler & Van Tilburg, arXiv:1011.2268) measures how well a jet
is described by :math:`N` axes :math:`\hat n_1, \dots, \hat n_N`:

.. math::
    \tau_N = \frac{1}{d_0} \sum_{k} p_{T,k}\,
        \min\big(\Delta R_{k,1}^{\beta}, \dots, \Delta R_{k,N}^{\beta}\big),
    \qquad d_0 = \sum_k p_{T,k}\, R_0^{\beta}

(the normalised measure of FastJet contrib's ``Nsubjettiness`` with
``NormalizedMeasure(beta, R0)``).  The axes are the **exclusive-kt axes**:
the constituents are clustered with the :math:`k_t` algorithm (E-scheme,
:math:`R = 1000`, FastJet's ``max_allowable_R``) until exactly :math:`N`
pseudojets remain (``exclusive_jets(N)``), whose directions are the axes -
the ``KT_Axes`` of contrib, without the one-pass minimisation.  With
``axes="wta_kt"`` the clustering recombines by the winner-takes-all :math:`p_T`
scheme (FastJet's ``WTA_pt_scheme``): the axes then lie along the hardest
constituent of each exclusive jet, contrib's ``WTA_KT_Axes``, which contrib
recommends for :math:`\beta = 1`.  The E-scheme axes are not minimal: on
Pythia quark and gluon jets :math:`\tau_2 > \tau_1` (and :math:`\tau_3 > \tau_2`)
in about 10 % of the jets, against none with the WTA axes, so :math:`\tau_{21}`
can exceed 1 with the default.  Distances
:math:`\Delta R^2 = \Delta y^2 + \Delta\phi^2` use the rapidity :math:`y`
(FastJet's convention).  A jet with fewer than :math:`N` constituents has
:math:`\tau_N = 0`.  The ratios :math:`\tau_{21} = \tau_2/\tau_1` and
:math:`\tau_{32} = \tau_3/\tau_2` (0 where the denominator is 0) separate
two-prong (W) and three-prong (top) jets from QCD jets.

The installed ``fastjet`` Python package does not ship the contrib
``Nsubjettiness`` plugin, so pgjets computes :math:`\tau_N` itself from the
FastJet exclusive-kt axes (FastJet is used for the clustering only).
"""

from __future__ import annotations

import numpy as np

from .._checks import require
from .table import JetTable


#: FastJet's rapidity of a four-vector along the beam (``MaxRap``).
MAX_RAPIDITY = 1e5


def rapidity(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray) -> np.ndarray:
    r"""Rapidity of four-vectors, as FastJet's ``PseudoJet.rap()`` computes it.

    .. math::
        y = \operatorname{sign}(p_z)\,\frac12 \ln\frac{(E + |p_z|)^2}{p_T^2 + \max(m^2, 0)},
        \qquad m^2 = E^2 - p_T^2 - p_z^2

    which equals :math:`\frac12\ln\frac{E + p_z}{E - p_z}` for physical momenta and stays
    finite when rounding makes :math:`m^2 < 0` (the mass term is then dropped:
    :math:`\operatorname{sign}(p_z)\ln\frac{E + |p_z|}{p_T}`, which is not the pseudorapidity
    unless :math:`E = |\vec p|`).  Momenta
    along the beam (:math:`p_T = 0`, :math:`E = |p_z|`), zero four-vectors included, get
    :math:`\pm` :data:`MAX_RAPIDITY`.

    Args:
        px, py, pz, e: Momentum components and energy (GeV), any one shape.

    Shapes:
        - **input:** four arrays of one shape; **output:** that shape
    """
    px, py, pz, e = (np.asarray(v, dtype=np.float64) for v in (px, py, pz, e))
    pt2 = px * px + py * py
    m2 = np.maximum(e * e - pt2 - pz * pz, 0.0)
    e_plus = e + np.abs(pz)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = 0.5 * np.log(np.maximum(pt2 + m2, 1e-300) / np.maximum(e_plus * e_plus, 1e-300))
    y = np.where(pz > 0, -y, y)
    beam = (pt2 == 0) & (e == np.abs(pz))
    y = np.where(beam, np.where(pz < 0, -1.0, 1.0) * (MAX_RAPIDITY + np.abs(pz)), y)
    return np.clip(y, -MAX_RAPIDITY - np.abs(pz), MAX_RAPIDITY + np.abs(pz))


def _rap_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rapidity(px, py, pz, e), np.arctan2(py, px)


def tau_n(pt: np.ndarray, y: np.ndarray, phi: np.ndarray, axes: np.ndarray, beta: float = 1.0,
          r0: float = 0.8) -> float:
    r"""N-subjettiness :math:`\tau_N` of one jet given its axes.

    .. math::
        \tau_N = \frac{\sum_k p_{T,k} \min_a \Delta R_{k,a}^\beta}{\sum_k p_{T,k} R_0^\beta}

    Args:
        pt: Constituent :math:`p_T`.
        y: Constituent rapidities.
        phi: Constituent azimuths.
        axes: ``(N, 2)`` axis ``(y, phi)``.
        beta: Angular exponent :math:`\beta`.
        r0: Characteristic radius :math:`R_0`.

    Shapes:
        - **input:** :math:`(n,)` three times, ``axes`` :math:`(N, 2)`
        - **output:** a float
    """
    if axes.shape[0] == 0:
        return 0.0
    dphi = np.abs(phi[:, None] - axes[None, :, 1])
    dphi = np.minimum(dphi, 2 * np.pi - dphi)
    dr = np.sqrt((y[:, None] - axes[None, :, 0]) ** 2 + dphi**2)
    d0 = float(pt.sum()) * r0**beta
    return float((pt * (dr**beta).min(axis=1)).sum() / d0) if d0 > 0 else 0.0


def nsubjettiness(table: JetTable, n_max: int = 3, beta: float = 1.0, r0: float = 0.8,
                  axes: str = "kt") -> np.ndarray:
    r""":math:`\tau_1, \dots, \tau_{N_{max}}` of every jet with exclusive-kt axes, E-scheme or
    winner-takes-all (``axes``; see the module docstring).

    Args:
        table: The jets.
        n_max: Largest :math:`N`.
        beta: Angular exponent.
        r0: Normalisation radius (0.8 for AK8-like jets).
        axes: ``"kt"`` (E-scheme exclusive-kt axes, contrib's ``KT_Axes``) or ``"wta_kt"``
            (winner-takes-all, contrib's ``WTA_KT_Axes``).

    Returns:
        ``(J, n_max)`` float64 array.

    Shapes:
        - **output:** :math:`(J, N_{max})`
    """
    if not isinstance(table, JetTable):
        raise TypeError(f"table must be a JetTable, got {type(table).__name__}")
    if not (isinstance(n_max, int) and not isinstance(n_max, bool) and n_max >= 1):
        raise ValueError(f"n_max must be an integer >= 1, got {n_max!r}")
    if not (beta > 0 and r0 > 0):
        raise ValueError(f"beta and r0 must be > 0, got {beta!r}, {r0!r}")
    if axes not in ("kt", "wta_kt"):
        raise ValueError(f"axes must be 'kt' or 'wta_kt', got {axes!r}")
    fj = require("fastjet", "physics", "N-subjettiness axes")
    jet_def = (fj.JetDefinition(fj.kt_algorithm, 1000.0) if axes == "kt"
               else fj.JetDefinition(fj.kt_algorithm, 1000.0, fj.WTA_pt_scheme))
    px, py, pz, e = (np.asarray(getattr(table, k), dtype=np.float64) for k in ("px", "py", "pz", "E"))
    pt_all = np.hypot(px, py)
    y_all, phi_all = _rap_phi(px, py, pz, e)
    off = table.offsets
    out = np.zeros((len(table), n_max))
    for j in range(len(table)):
        a, b = int(off[j]), int(off[j + 1])
        if b == a:
            continue
        parts = [fj.PseudoJet(float(px[i]), float(py[i]), float(pz[i]), float(e[i])) for i in range(a, b)]
        cs = fj.ClusterSequence(parts, jet_def)
        for n in range(1, min(n_max, b - a) + 1):
            axes = np.array([[p.rap(), p.phi()] for p in cs.exclusive_jets(n)])
            out[j, n - 1] = tau_n(pt_all[a:b], y_all[a:b], phi_all[a:b], axes, beta, r0)
    return out


def jet_observables(table: JetTable, beta: float = 1.0, r0: float = 0.8, axes: str = "kt") -> dict[str, np.ndarray]:
    r"""Per-jet high-level features: ``mass``, ``pt``, ``n_constituents``, ``tau1..3``, ``tau21``, ``tau32``.

    .. math::
        m = \sqrt{\max\big((\textstyle\sum E)^2 - |\sum \vec p|^2, 0\big)},\quad
        \tau_{21} = \tau_2/\tau_1,\quad \tau_{32} = \tau_3/\tau_2

    Args:
        table: The jets.
        beta: N-subjettiness :math:`\beta`.
        r0: N-subjettiness :math:`R_0`.
        axes: N-subjettiness axes, ``"kt"`` or ``"wta_kt"`` (see :func:`nsubjettiness`).

    Returns:
        dict of ``(J,)`` float64 arrays.

    Shapes:
        - **output:** :math:`(J,)` per key
    """
    if not isinstance(table, JetTable):
        raise TypeError(f"table must be a JetTable, got {type(table).__name__}")
    off = table.offsets
    sums = {k: np.add.reduceat(np.append(np.asarray(getattr(table, k), dtype=np.float64), 0.0), off[:-1])
            for k in ("px", "py", "pz", "E")}
    n = np.diff(off)
    for k in sums:
        sums[k] = np.where(n > 0, sums[k], 0.0)
    m2 = sums["E"] ** 2 - sums["px"] ** 2 - sums["py"] ** 2 - sums["pz"] ** 2
    tau = nsubjettiness(table, 3, beta, r0, axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        t21 = np.where(tau[:, 0] > 0, tau[:, 1] / tau[:, 0], 0.0)
        t32 = np.where(tau[:, 1] > 0, tau[:, 2] / tau[:, 1], 0.0)
    return {"mass": np.sqrt(np.maximum(m2, 0.0)), "pt": np.hypot(sums["px"], sums["py"]),
            "n_constituents": n.astype(np.float64), "tau1": tau[:, 0], "tau2": tau[:, 1], "tau3": tau[:, 2],
            "tau21": t21, "tau32": t32}


__all__ = ["MAX_RAPIDITY", "jet_observables", "nsubjettiness", "rapidity", "tau_n"]
