r"""A parametric detector model: truth and reconstructed particle sets per jet.

Fast simulation as set generation needs pairs of sets per jet: the
generator-level (truth) charged particles and the same particles after a
detector.  :func:`truth_and_reco_sets` builds both, vectorised over every
constituent, with a simple, documented tracker model:

1. **Tracking efficiency.**  Each truth particle is reconstructed with
   probability

   .. math::
       \varepsilon(p_T) = \begin{cases}
           \varepsilon_{\mathrm{lo}} + (\varepsilon_{\mathrm{hi}} - \varepsilon_{\mathrm{lo}})\,
           p_T / p_{T,\mathrm{turn}} & p_T < p_{T,\mathrm{turn}} \\
           \varepsilon_{\mathrm{hi}} & p_T \ge p_{T,\mathrm{turn}}
       \end{cases}

   (defaults :math:`\varepsilon_{\mathrm{lo}} = 0.5`,
   :math:`\varepsilon_{\mathrm{hi}} = 0.9`, :math:`p_{T,\mathrm{turn}} = 1` GeV).

2. **Momentum resolution.**  Gaussian relative smearing, the stochastic
   (multiple-scattering) and curvature terms added in quadrature:

   .. math::
       p_T^{\mathrm{reco}} = p_T \,(1 + \sigma_{\mathrm{rel}}\, z),\quad
       \sigma_{\mathrm{rel}}(p_T) = a \oplus b\, p_T = \sqrt{a^2 + (b\, p_T)^2},
       \quad z \sim \mathcal{N}(0, 1)

   (defaults :math:`a = 0.01`, :math:`b = 5\cdot 10^{-4}` / GeV), floored
   at :math:`10^{-3} p_T` so the reconstructed momentum stays positive.

3. **Angular resolution.**  :math:`\Delta\eta` and :math:`\Delta\phi` get an
   independent Gaussian shift of width ``angular`` (default 0.002);
   :math:`\Delta\phi` is wrapped back to :math:`(-\pi, \pi]`.

Angles are relative to the jet axis of the full truth jet (all constituents),
so truth and reco share one frame.

**Replicas.**  With ``replicas=R`` the momentum and angular smearing (steps 2
and 3) is drawn again ``R`` times for the same reconstructed tracks: ``R``
samples of :math:`p(\mathrm{reco} \mid \mathrm{truth}, \text{found tracks})`
per jet, the "replicas" that let a generative model learn the resolution
and not only the mean response.  The efficiency step is not redrawn: which
tracks are found is learnt per particle from ``reco_index``.  Every set element is
:math:`(\log p_T, \Delta\eta, \Delta\phi)`.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np
import torch

from ..errors import InputShapeError, NonFiniteError
from .features import CHARGED_HADRONS, LOG_FLOOR, constituent_features, wrap_phi
from .table import JetTable

#: Column names of the truth and reco set elements.
SET_FEATURES = ["log_pt", "deta", "dphi"]

EfficiencySpec = Union[float, tuple[float, float, float], Callable[[np.ndarray], np.ndarray]]

_CHARGED_LEPTONS = (11, 13, 15)


def tracking_efficiency(pt: np.ndarray, efficiency: EfficiencySpec = (0.5, 0.9, 1.0)) -> np.ndarray:
    r"""Reconstruction probability :math:`\varepsilon(p_T)` of each particle.

    Args:
        pt: Transverse momenta in GeV.
        efficiency: A constant in :math:`[0, 1]`, a tuple
            ``(eff_lo, eff_hi, pt_turn)`` for the linear turn-on of the module
            docstring, or a callable ``pt -> eff``.

    Shapes:
        - **input / output:** :math:`(P,)`
    """
    pt = np.asarray(pt, dtype=np.float64)
    if callable(efficiency):
        eff = np.asarray(efficiency(pt), dtype=np.float64)
        if eff.shape != pt.shape:
            raise InputShapeError(f"efficiency(pt) must return shape {pt.shape}, got {eff.shape}")
    elif isinstance(efficiency, (tuple, list)):
        if len(efficiency) != 3:
            raise ValueError(f"efficiency tuple must be (eff_lo, eff_hi, pt_turn), got {efficiency!r}")
        lo, hi, turn = (float(v) for v in efficiency)
        if not turn > 0:
            raise ValueError(f"pt_turn must be > 0, got {turn!r}")
        eff = np.where(pt >= turn, hi, lo + (hi - lo) * np.clip(pt, 0.0, None) / turn)
    else:
        eff = np.full(pt.shape, float(efficiency))
    if not np.all(np.isfinite(eff)) or eff.size and (eff.min() < 0 or eff.max() > 1):
        raise ValueError("efficiency must lie in [0, 1]")
    return eff


def relative_pt_resolution(pt: np.ndarray, resolution: tuple[float, float] = (0.01, 5e-4)) -> np.ndarray:
    r"""Relative resolution :math:`\sigma_{p_T}/p_T = a \oplus b\,p_T`.

    Args:
        pt: Transverse momenta in GeV.
        resolution: ``(a, b)`` with ``b`` in 1/GeV.

    Shapes:
        - **input / output:** :math:`(P,)`
    """
    if len(resolution) != 2:
        raise ValueError(f"resolution must be (a, b), got {resolution!r}")
    a, b = (float(v) for v in resolution)
    if not (a >= 0 and b >= 0 and np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"resolution terms must be finite and >= 0, got {resolution!r}")
    pt = np.asarray(pt, dtype=np.float64)
    return np.hypot(a, b * pt)


def _charged_mask(table: JetTable) -> np.ndarray:
    if table.charge is not None:
        return np.asarray(table.charge) != 0
    if table.pdgid is not None:
        apid = np.abs(np.asarray(table.pdgid))
        return np.isin(apid, CHARGED_HADRONS + _CHARGED_LEPTONS)
    raise InputShapeError("charged_only=True needs table.charge or table.pdgid")


def truth_and_reco_sets(
    table: JetTable,
    seed: int = 0,
    charged_only: bool = True,
    efficiency: EfficiencySpec = (0.5, 0.9, 1.0),
    resolution: tuple[float, float] = (0.01, 5e-4),
    angular: float = 0.002,
    replicas: int = 0,
) -> dict[str, Any]:
    r"""Truth and detector-level particle sets of every jet.

    The truth set of jet :math:`J` holds its (charged) constituents
    :math:`(\log p_T, \Delta\eta, \Delta\phi)`; the reco set holds the
    subset that passes the tracking efficiency, with smeared momentum and
    angles (see the module docstring).  Everything is vectorised over all
    constituents and drawn from ``numpy.random.default_rng(seed)``, so the
    same seed gives the same sets.  Within a jet both sets keep the order of
    the table; ``reco_index`` maps every reco particle to its truth particle.

    .. math::
        \mathrm{reco} = \{(\log \tilde p_{T,i}, \Delta\eta_i + \delta\eta_i,
        \Delta\phi_i + \delta\phi_i) : u_i < \varepsilon(p_{T,i})\}

    Args:
        table: The jets (needs ``charge`` or ``pdgid`` if ``charged_only``).
        seed: Seed of the detector randomness.
        charged_only: Keep only charged particles (tracks) in the truth set.
        efficiency: See :func:`tracking_efficiency`.
        resolution: ``(a, b)`` of :func:`relative_pt_resolution`.
        angular: Width of the Gaussian angular smearing (>= 0).
        replicas: Number :math:`R` of extra smearings of the found tracks
            (0: none).  Drawn from a second random stream, so the other
            outputs do not depend on ``replicas``.

    Returns:
        dict with float32 tensors ``truth_x`` :math:`(N_t, 3)`, ``reco_x``
        :math:`(N_r, 3)`, ``truth_pt``, ``reco_pt``; long tensors
        ``truth_batch``, ``reco_batch`` (jet of each element),
        ``truth_counts``, ``reco_counts`` (:math:`(J,)`), ``reco_index``
        (:math:`(N_r,)`, row of ``truth_x``); and ``names`` = ``SET_FEATURES``.
        With ``replicas`` also ``replica_x`` :math:`(R N_r, 3)`,
        ``replica_pt``, ``replica_set`` (set :math:`jR + r` of each element,
        sorted), ``replica_group`` (:math:`(JR,)`, jet of each set),
        ``replica_counts`` (:math:`(JR,)`) and ``replica_index`` (truth row).

    Shapes:
        - **input:** ``P`` constituents in ``J`` jets
        - **output:** :math:`N_r \le N_t \le P` elements, counts :math:`(J,)`
    """
    if not isinstance(table, JetTable):
        raise TypeError(f"table must be a JetTable, got {type(table).__name__}")
    table.require_nonempty_jets()
    if not (np.isfinite(angular) and angular >= 0):
        raise ValueError(f"angular must be finite and >= 0, got {angular!r}")
    num_jets = len(table)
    feats = constituent_features(table, "angular")
    pos = feats["pos"].astype(np.float64)
    pt = feats["pt"].astype(np.float64)
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(pt))):
        raise NonFiniteError("the jet table holds non-finite momenta")
    jet = table.jet_index.astype(np.int64)

    keep = _charged_mask(table) if charged_only else np.ones(pt.shape, dtype=bool)
    keep &= pt > 0
    t_pt, t_pos, t_jet = pt[keep], pos[keep], jet[keep]

    rng = np.random.default_rng(seed)
    n_t = t_pt.size
    u = rng.random(n_t)
    z = rng.standard_normal(n_t)
    dang = rng.standard_normal((n_t, 2)) * float(angular)
    found = u < tracking_efficiency(t_pt, efficiency)
    sigma = relative_pt_resolution(t_pt, resolution)
    r_pt_all = t_pt * np.maximum(1.0 + sigma * z, 1e-3)
    r_pos_all = t_pos + dang
    r_pos_all[:, 1] = wrap_phi(r_pos_all[:, 1])

    reco_index = np.nonzero(found)[0]
    r_pt, r_pos, r_jet = r_pt_all[found], r_pos_all[found], t_jet[found]
    if isinstance(replicas, bool) or not isinstance(replicas, (int, np.integer)) or replicas < 0:
        raise ValueError(f"replicas must be an integer >= 0, got {replicas!r}")

    def _set(p: np.ndarray, ang: np.ndarray) -> torch.Tensor:
        x = np.column_stack([np.log(np.maximum(p, LOG_FLOOR)), ang]) if p.size else np.zeros((0, 3))
        return torch.as_tensor(x, dtype=torch.float32)

    out: dict[str, Any] = {}
    if replicas:
        rr = int(replicas)
        rng2 = np.random.default_rng([seed, 1])
        m = reco_index.size
        f_pt, f_pos = t_pt[found], t_pos[found]
        z2 = rng2.standard_normal((rr, m))
        d2 = rng2.standard_normal((rr, m, 2)) * float(angular)
        rep_pt = f_pt * np.maximum(1.0 + sigma[found] * z2, 1e-3)  # (R, m)
        rep_pos = f_pos[None] + d2
        rep_pos[..., 1] = wrap_phi(rep_pos[..., 1])
        rep_set = r_jet[None] * rr + np.arange(rr)[:, None]  # (R, m)
        order = np.argsort(rep_set.reshape(-1), kind="stable")
        rep_set = rep_set.reshape(-1)[order]
        out.update({
            "replica_x": _set(rep_pt.reshape(-1)[order], rep_pos.reshape(-1, 2)[order]),
            "replica_pt": torch.as_tensor(rep_pt.reshape(-1)[order], dtype=torch.float32),
            "replica_set": torch.as_tensor(rep_set, dtype=torch.long),
            "replica_group": torch.arange(num_jets).repeat_interleave(rr),
            "replica_counts": torch.as_tensor(np.bincount(rep_set, minlength=num_jets * rr), dtype=torch.long),
            "replica_index": torch.as_tensor(np.tile(reco_index, rr)[order], dtype=torch.long),
        })
    return {
        **out,
        "truth_x": _set(t_pt, t_pos),
        "truth_pt": torch.as_tensor(t_pt, dtype=torch.float32),
        "truth_batch": torch.as_tensor(t_jet, dtype=torch.long),
        "truth_counts": torch.as_tensor(np.bincount(t_jet, minlength=num_jets), dtype=torch.long),
        "reco_x": _set(r_pt, r_pos),
        "reco_pt": torch.as_tensor(r_pt, dtype=torch.float32),
        "reco_batch": torch.as_tensor(r_jet, dtype=torch.long),
        "reco_counts": torch.as_tensor(np.bincount(r_jet, minlength=num_jets), dtype=torch.long),
        "reco_index": torch.as_tensor(reco_index, dtype=torch.long),
        "names": list(SET_FEATURES),
    }


__all__ = ["SET_FEATURES", "tracking_efficiency", "relative_pt_resolution", "truth_and_reco_sets"]
