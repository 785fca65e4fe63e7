r"""Per-constituent input features of jet taggers, computed vectorised.

For constituent :math:`i` of jet :math:`J` (axis from the summed four-momentum):

.. math::
    \Delta\eta_i = \eta_i - \eta_J, \quad
    \Delta\phi_i = \phi_i - \phi_J \ \text{wrapped to } (-\pi, \pi], \quad
    \Delta R_i = \sqrt{\Delta\eta_i^2 + \Delta\phi_i^2},

plus :math:`\log p_{T,i}`, :math:`\log E_i`, :math:`\log(p_{T,i}/p_{T,J})`,
:math:`\log(E_i/E_J)` (the ParticleNet inputs) and, when the source carries
them, the charge and particle-type one-hots (charged hadron, neutral hadron,
photon, electron, muon) and track impact parameters. Logarithms of zero momenta are clamped at
:math:`\log 10^{-8}` so no feature is ever infinite.

The ``*_etasign`` feature sets (``eta_sign=True``) reflect every jet into :math:`\eta_J \ge 0`:
:math:`\Delta\eta_i \to \mathrm{sign}(\eta_J)\,\Delta\eta_i`, the convention of the published
ParticleNet and ParT conversions, so a jet and its mirror image under :math:`p_z \to -p_z` get the
same inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..ops.features import FEATURE_NAMES, KINEMATIC, PID, TRACK_IP, feature_names, split_feature_set
from .table import JetTable

#: ``|pdgid|`` of the charged hadrons (pi+-, K+-, p, and the rarer Sigma+-, Xi-, Omega-).
CHARGED_HADRONS = (211, 321, 2212, 3222, 3112, 3312, 3334)
#: ``|pdgid|`` of the neutral hadrons (K_L, n, K_S, Lambda, Xi0, pi0 if left undecayed).
NEUTRAL_HADRONS = (130, 2112, 310, 3122, 3322, 111)
#: Floor of the arguments of every logarithm: ``log(max(v, LOG_FLOOR))``.
LOG_FLOOR = 1e-8
_EPS = LOG_FLOOR


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    r"""Wrap angles to :math:`(-\pi, \pi]`.

    .. math::
        \operatorname{wrap}(\phi) = \pi - ((\pi - \phi) \bmod 2\pi)

    Shapes:
        - **input / output:** any shape.
    """
    return np.pi - np.mod(np.pi - dphi, 2 * np.pi)


#: Constituents per block of :func:`constituent_features`: a block's temporaries and its rows of
#: ``x`` stay in the CPU cache, so every column is written once into memory.
_BLOCK = 1 << 15
_EPS32 = np.float32(LOG_FLOOR)
_MAX32 = np.float32(np.finfo(np.float32).max)
#: ``|pdgid|`` -> class code (0 other, 1 charged hadron, 2 neutral hadron, 3 photon, 4 electron,
#: 5 muon); ids beyond the table are "other".
_PID_CODE = np.zeros(max(CHARGED_HADRONS + NEUTRAL_HADRONS) + 2, dtype=np.intp)
_PID_CODE[list(CHARGED_HADRONS)] = 1
_PID_CODE[list(NEUTRAL_HADRONS)] = 2
_PID_CODE[[22, 11, 13]] = [3, 4, 5]
#: ``2 * code + (pdgid < 0)`` -> the ``PID`` columns: the charge (hadrons carry the sign of
#: their id, leptons the opposite one, e- is 11), then the five one-hots.
_PID_ROWS = np.zeros((12, len(PID)), dtype=np.float32)
_PID_ROWS[[2, 9, 11], 0] = 1.0
_PID_ROWS[[3, 8, 10], 0] = -1.0
_PID_ROWS[np.arange(2, 12), np.arange(2, 12) // 2] = 1.0


def constituent_features(table: JetTable, feature_set: str = "particlenet",
                         eta_sign: bool = False) -> dict[str, Any]:
    r"""Features, coordinates, :math:`p_T` and four-momenta of all constituents.

    Vectorised over every constituent of every jet (no loop per jet). The jet
    axis :math:`(\eta_J, \phi_J)` and :math:`p_{T,J}`, :math:`E_J` come from
    the summed constituent four-momenta (float64 segment sums). Constituent
    pseudorapidity is
    :math:`\eta_i = \operatorname{asinh}(p_{z,i} / \max(p_{T,i}, 10^{-8}))`,
    evaluated as :math:`\operatorname{sign}(p_{z,i}) \log\bigl((|p_{z,i}| +
    \sqrt{\hat p_{T,i}^2 + p_{z,i}^2}) / \hat p_{T,i}\bigr)` with
    :math:`\hat p_{T,i} = \max(p_{T,i}, 10^{-8})`, and the azimuthal
    difference as the angle of the momentum rotated onto the jet axis,

    .. math::
        \Delta\phi_i = \operatorname{atan2}\bigl(p_{y,i}\cos\phi_J - p_{x,i}\sin\phi_J,\;
        p_{x,i}\cos\phi_J + p_{y,i}\sin\phi_J\bigr) \in (-\pi, \pi],

    which needs no wrapping and loses no precision near :math:`\pm\pi`.

    .. math::
        x_i = \bigl(\Delta\eta_i, \Delta\phi_i, \log p_{T,i}, \log E_i,
        \log\tfrac{p_{T,i}}{p_{T,J}}, \log\tfrac{E_i}{E_J}, \Delta R_i
        [, q_i, \text{one-hots}]\bigr)

    The constituent columns are computed in float32 (the precision of the
    table and of the output), in cache-sized blocks of constituents, with
    only the columns the feature set needs; they agree with the float64
    reference to ~1e-6. Zero (or negative) :math:`p_T` and :math:`E` are
    clamped to :data:`LOG_FLOOR` inside every logarithm, so the result never
    holds NaN or inf. Column order is :func:`feature_names` /
    :data:`FEATURE_NAMES`:

    - ``"particlenet"``: ``deta, dphi, log_pt, log_e, log_pt_rel, log_e_rel,
      delta_r`` and, when ``table.pdgid`` is present, ``charge,
      is_charged_hadron, is_neutral_hadron, is_photon, is_electron, is_muon``
      (``|pdgid|`` in :data:`CHARGED_HADRONS`, :data:`NEUTRAL_HADRONS`, 22,
      11, 13; JetClass conventions). Without ``table.charge`` the charge is
      derived from the PDG id.  When the table carries track impact parameters
      (:attr:`~pgjets.data.JetTable.has_track_ip`) it ends with ``d0, d0_err,
      dz, dz_err`` = :math:`(\tanh d_0, \mathrm{clip}(\sigma_{d_0}, 0, 1),
      \tanh d_z, \mathrm{clip}(\sigma_{d_z}, 0, 1))`, the preprocessing of the
      Particle Transformer paper: with PDG ids these are its 17 JetClass inputs.
    - ``"kinematic"``: the seven kinematic columns only.
    - ``"angular"``: ``deta, dphi``.
    - ``"particlenet_etasign"``, ``"kinematic_etasign"``, ``"angular_etasign"``: the same
      columns with ``eta_sign=True``.

    With ``eta_sign=True`` (or an ``*_etasign`` feature set) every jet with :math:`\eta_J < 0` is
    reflected, :math:`p_z \to -p_z` for all its constituents, before the features are taken: with
    :math:`s_J = \mathrm{sign}(\eta_J)` and :math:`s_J = 1` for :math:`\eta_J = 0`,

    .. math::
        \Delta\eta_i \to s_J\,\Delta\eta_i, \qquad p_{z,i} \to s_J\,p_{z,i}, \qquad
        \tanh d_{z,i} \to s_J \tanh d_{z,i},

    in ``x``, ``pos`` and ``p4`` alike (every other column is even under the reflection). The
    :math:`\Delta\eta` column is then that of the published conversions of the top-tagging and
    quark/gluon samples for ParticleNet and ParT (``part_deta`` / ``part_etarel`` times
    :math:`\mathrm{sign}(\eta_J)`, 1 at :math:`\eta_J = 0`), a jet and its mirror image give
    identical outputs (but for a jet at exactly :math:`\eta_J = 0`, or of zero :math:`p_T`,
    which keeps its sign), and ``pos`` and ``p4`` stay one jet (the reflected one), as
    :mod:`pgjets.transforms` expects. Those conversions keep :math:`p_z` as it is (ParT's pair
    features, :func:`~pgjets.ops.pairwise.pairwise_features`, are even under the reflection, so
    this makes no difference to them) and have no :math:`d_z`; :math:`d_z` changes sign under the
    reflection like :math:`p_z`, so it is reflected too.

    Args:
        table (JetTable): The jets.
        feature_set (str): ``"particlenet"`` (default), ``"kinematic"`` or ``"angular"``, or one
            of them with the suffix ``"_etasign"``.
        eta_sign (bool): Reflect the jets with :math:`\eta_J < 0` (see above; default ``False``,
            also implied by an ``*_etasign`` feature set).

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
    names = feature_names(feature_set, has_pid, table.has_track_ip)
    eta_sign = bool(eta_sign) or split_feature_set(feature_set)[1]
    # contiguous (torch.from_numpy refuses negative strides); no copy for the usual table
    px, py, pz, E = (np.ascontiguousarray(getattr(table, n), dtype=np.float32) for n in ("px", "py", "pz", "E"))
    n_total = px.size
    kin = [n for n in names if n in KINEMATIC]
    logs = [n for n in ("log_pt", "log_e", "log_pt_rel", "log_e_rel") if n in names]
    n_pid = sum(n in PID for n in names)  # 0 or all of PID, after the kinematic columns
    n_ip = sum(n in TRACK_IP for n in names)  # 0 or all of TRACK_IP, last
    # jet level, float64: one pass of segment sums, then per-jet constants in float32
    jet_p4 = table.jet_p4()
    jet = table.jet_kinematics(jet_p4)
    jet_const = np.stack([
        jet["eta"], np.cos(jet["phi"]), np.sin(jet["phi"]),
        1.0 / np.maximum(jet["pt"], LOG_FLOOR), 1.0 / np.maximum(jet_p4[:, 0], LOG_FLOOR),
    ]).astype(np.float32)
    # sign(eta_J), +1 at eta_J = 0 (and for a jet without momentum, whose eta_J is 0)
    jet_sign = np.where(jet["eta"] < 0, -1.0, 1.0).astype(np.float32) if eta_sign else None
    offsets, counts = table.offsets, table.n_constituents
    # blocks of whole jets, ~_BLOCK constituents each (a longer jet is a block of its own)
    cuts = np.searchsorted(offsets, np.arange(0, n_total, _BLOCK), side="right") - 1
    cuts = np.unique(np.r_[cuts, len(table)])
    if n_pid:
        pdgid = np.asarray(table.pdgid)
        charge = None if table.charge is None else np.asarray(table.charge)

    x = np.empty((n_total, len(names)), dtype=np.float32)
    pos = np.empty((n_total, 2), dtype=np.float32)
    pt_out = np.empty(n_total, dtype=np.float32)
    p4 = np.empty((n_total, 4), dtype=np.float32)
    for j0, j1 in zip(cuts[:-1], cuts[1:]):
        a, b = int(offsets[j0]), int(offsets[j1])
        if a == b:
            continue
        bpx, bpy, bpz, bE = px[a:b], py[a:b], pz[a:b], E[a:b]
        eta_j, cos_j, sin_j, inv_pt_j, inv_e_j = np.repeat(jet_const[:, j0:j1], counts[j0:j1], axis=1)
        pt = pt_out[a:b]
        torch.hypot(torch.from_numpy(bpx), torch.from_numpy(bpy), out=torch.from_numpy(pt))
        pt_f = np.maximum(pt, _EPS32)
        # eta = sign(pz) log((|pz| + |p|) / pt), the ratio clamped to the float32 range
        ratio = torch.hypot(torch.from_numpy(pt_f), torch.from_numpy(bpz)).numpy()
        ratio += np.abs(bpz)
        ratio /= pt_f
        np.minimum(ratio, _MAX32, out=ratio)
        t_ratio = torch.from_numpy(ratio)
        torch.log_(t_ratio)
        deta = np.copysign(ratio, bpz, out=ratio)
        deta -= eta_j
        if eta_sign:
            sign = np.repeat(jet_sign[j0:j1], counts[j0:j1])
            deta *= sign
        # dphi: the angle of (px, py) rotated by -phi_J
        along = bpx * cos_j
        along += bpy * sin_j
        across = bpy * cos_j
        across -= bpx * sin_j
        dphi = torch.atan2(torch.from_numpy(across), torch.from_numpy(along)).numpy()
        undefined = np.flatnonzero((along == 0) & (across == 0))
        if undefined.size:  # zero (or underflowing) transverse momentum: the reference formula
            g = a + undefined
            phi_i = np.arctan2(py[g].astype(np.float64), px[g].astype(np.float64))
            phi_j = np.repeat(jet["phi"][j0:j1], counts[j0:j1])[undefined]
            dphi[undefined] = wrap_phi(phi_i - phi_j)
        pos[a:b, 0] = deta
        pos[a:b, 1] = dphi
        cols = {"deta": deta, "dphi": dphi}
        if logs:
            args = np.empty((4, b - a), dtype=np.float32)
            args[0] = pt_f
            np.maximum(bE, _EPS32, out=args[1])
            np.multiply(pt, inv_pt_j, out=args[2])
            np.multiply(bE, inv_e_j, out=args[3])
            np.maximum(args[2:], _EPS32, out=args[2:])
            torch.log_(torch.from_numpy(args))
            cols.update(log_pt=args[0], log_e=args[1], log_pt_rel=args[2], log_e_rel=args[3])
        if "delta_r" in names:
            delta_r = np.square(deta)
            delta_r += np.square(dphi)
            cols["delta_r"] = np.sqrt(delta_r, out=delta_r)
        xb = x[a:b]
        for j, n in enumerate(kin):
            xb[:, j] = cols[n]
        if n_pid:
            signed = pdgid[a:b].astype(np.int64, copy=False)
            code = _PID_CODE[np.clip(np.abs(signed), 0, _PID_CODE.size - 1)]
            code *= 2
            code += signed < 0
            rows = np.take(_PID_ROWS, code, axis=0)
            if charge is not None:
                rows[:, 0] = charge[a:b]
            xb[:, len(kin):len(kin) + n_pid] = rows
        if n_ip:
            c = len(kin) + n_pid
            np.tanh(table.d0val[a:b], out=xb[:, c])
            np.clip(table.d0err[a:b], 0.0, 1.0, out=xb[:, c + 1])
            np.tanh(table.dzval[a:b], out=xb[:, c + 2])
            if eta_sign:
                xb[:, c + 2] *= sign
            np.clip(table.dzerr[a:b], 0.0, 1.0, out=xb[:, c + 3])
        pb = p4[a:b]
        pb[:, 0], pb[:, 1], pb[:, 2], pb[:, 3] = bE, bpx, bpy, bpz
        if eta_sign:
            pb[:, 3] *= sign
    return {"x": x, "pos": pos, "pt": pt_out, "p4": p4, "names": names}


__all__ = [
    "constituent_features",
    "feature_names",
    "split_feature_set",
    "FEATURE_NAMES",
    "CHARGED_HADRONS",
    "NEUTRAL_HADRONS",
    "LOG_FLOOR",
    "wrap_phi",
]
