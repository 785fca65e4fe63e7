"""Reference implementations kept only to test the fast paths of the package.

Each oracle is the plain, slow computation that a fast path must equal; it lives here, not in
``pgjets``, because only the tests (and a benchmark's correctness check) use it.  ``conftest.py``
puts this folder on ``sys.path`` (pytest runs with ``--import-mode=importlib``), so a test writes
``from oracles import conv2d_reference``.

- :func:`conv2d_reference`: ``torch.nn.Conv2d`` read at the nodes of a grid graph, the reference
  of :class:`pgjets.nn.GridConv` (message passing and the dense ``grid_size`` path), used by
  ``tests/nn/test_grid_conv.py`` and ``benchmarks/bench_grid_conv.py``.
- :func:`constituent_features_reference`: the straightforward float64 version of
  :func:`pgjets.data.features.constituent_features` (the blocked float32 fast path), used by
  ``tests/data/test_features.py``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from pgjets.data.features import CHARGED_HADRONS, LOG_FLOOR, NEUTRAL_HADRONS, PID, feature_names, wrap_phi
from pgjets.data import JetTable


def conv2d_reference(conv: nn.Conv2d, images: Tensor, pos: Tensor, batch: Optional[Tensor] = None) -> Tensor:
    """``conv(images)[b, :, row, col]`` for every grid-graph node, shape ``(N, F')``.

    Args:
        conv: A ``Conv2d`` with ``padding="same"``.
        images: ``(B, C, H, W)`` images (zeros where pixels were dropped).
        pos: ``(N, 2)`` node ``(row, col)``.
        batch: ``(N,)`` image index of each node (``None``: all in image 0).
    """
    assert images.dim() == 4 and pos.dim() == 2, (images.shape, pos.shape)
    out = conv(images)
    p = torch.round(pos).to(torch.long)
    b = torch.zeros(p.size(0), dtype=torch.long, device=p.device) if batch is None else batch.to(torch.long)
    return out[b, :, p[:, 0], p[:, 1]]


def constituent_features_reference(table: JetTable, feature_set: str = "particlenet") -> dict[str, Any]:
    """The float64 features of :func:`~pgjets.data.features.constituent_features`, cast to float32.

    Every column over all constituents at once (no blocks, no float32 tricks); same keys
    (``x``, ``pos``, ``pt``, ``p4``, ``names``) and column order as the fast path.  An
    ``*_etasign`` feature set takes the features of the jets mirrored into eta_J >= 0: pz of the
    jets with eta_J < 0 negated first (the jet axis with them), as the published conversions'
    ``(eta - eta_J) * sign(eta_J)``.
    """
    eps = LOG_FLOOR
    has_pid = table.pdgid is not None
    names = feature_names(feature_set, has_pid)
    px, py, pz, E = (getattr(table, n).astype(np.float64) for n in ("px", "py", "pz", "E"))
    if feature_set.endswith("_etasign"):
        pz = pz * np.where(table.jet_kinematics()["eta"] < 0, -1.0, 1.0)[table.jet_index]
        table = JetTable(px=px, py=py, pz=pz, E=E, offsets=table.offsets, label=table.label,
                         pdgid=table.pdgid, charge=table.charge)
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, eps))
    phi = np.arctan2(py, px)
    jet = table.jet_kinematics()
    jet_E = table.jet_p4()[:, 0]
    idx = table.jet_index
    deta = eta - jet["eta"][idx]
    dphi = wrap_phi(phi - jet["phi"][idx])
    cols = {
        "deta": deta,
        "dphi": dphi,
        "log_pt": np.log(np.maximum(pt, eps)),
        "log_e": np.log(np.maximum(E, eps)),
        "log_pt_rel": np.log(np.maximum(pt / np.maximum(jet["pt"][idx], eps), eps)),
        "log_e_rel": np.log(np.maximum(E / np.maximum(jet_E[idx], eps), eps)),
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
    x = np.empty((pt.size, len(names)), dtype=np.float32)
    for j, n in enumerate(names):
        x[:, j] = cols[n]
    pos = np.empty((pt.size, 2), dtype=np.float32)
    pos[:, 0], pos[:, 1] = deta, dphi
    p4 = np.empty((pt.size, 4), dtype=np.float32)
    p4[:, 0], p4[:, 1], p4[:, 2], p4[:, 3] = E, px, py, pz
    return {"x": x, "pos": pos, "pt": pt.astype(np.float32), "p4": p4, "names": names}
