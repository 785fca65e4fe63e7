r"""Jet images: the preprocessing of the CNN taggers of the seed era.

A jet becomes a :math:`p_T`-weighted histogram in the :math:`(\Delta\eta,
\Delta\phi)` plane (de Oliveira et al. 2016; Kasieczka et al. 2017):

1. **centre** on the :math:`p_T`-weighted centroid,
2. **rotate** so that the principal axis of the :math:`p_T`-weighted second
   moment tensor

   .. math::
       C = \sum_i p_{T,i} \begin{pmatrix} \Delta\eta_i^2 & \Delta\eta_i\Delta\phi_i \\
           \Delta\eta_i\Delta\phi_i & \Delta\phi_i^2 \end{pmatrix}

   points along the vertical (image rows),
3. **flip** so that the half-plane with more :math:`p_T` lies at positive
   column and positive row coordinates,
4. **pixelate** on ``npix x npix`` pixels over :math:`[-R, R]^2` and
   **normalise** the pixel sum to one.

All jets are processed at once with NumPy (no loop per jet).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .features import constituent_features
from .table import JetTable


def jet_image(
    table: JetTable,
    npix: int = 20,
    R: float = 0.8,
    centre: bool = True,
    rotate: bool = True,
    flip: bool = True,
    normalize: bool = True,
) -> Tensor:
    """Preprocessed jet images.

    Args:
        table: The jets.
        npix: Pixels per side (20 and 40 are the usual choices).
        R: Half-width of the image in :math:`\\eta` and :math:`\\phi`.
        centre, rotate, flip, normalize: The preprocessing steps above.

    Returns:
        Images of shape ``(J, 1, npix, npix)``; rows follow :math:`\\Delta\\eta`
        (after rotation: the principal axis), columns :math:`\\Delta\\phi`.
    """
    if npix < 1:
        raise ValueError(f"npix must be >= 1, got {npix}")
    table.require_nonempty_jets()
    f = constituent_features(table, "angular")
    pos = f["pos"].astype(np.float64)
    w = f["pt"].astype(np.float64)
    idx = table.jet_index
    J = len(table)
    wsum = np.maximum(np.bincount(idx, weights=w, minlength=J), 1e-12)
    if centre:
        c_eta = np.bincount(idx, weights=w * pos[:, 0], minlength=J) / wsum
        c_phi = np.bincount(idx, weights=w * pos[:, 1], minlength=J) / wsum
        pos = pos - np.stack([c_eta, c_phi], 1)[idx]
    if rotate:
        a = np.bincount(idx, weights=w * pos[:, 0] ** 2, minlength=J)
        b = np.bincount(idx, weights=w * pos[:, 0] * pos[:, 1], minlength=J)
        c = np.bincount(idx, weights=w * pos[:, 1] ** 2, minlength=J)
        # angle of the principal axis measured from the eta (row) axis
        theta = 0.5 * np.arctan2(2 * b, a - c)
        cos, sin = np.cos(-theta)[idx], np.sin(-theta)[idx]
        pos = np.stack([cos * pos[:, 0] - sin * pos[:, 1], sin * pos[:, 0] + cos * pos[:, 1]], 1)
    if flip:
        for col in (1, 0):
            side = np.bincount(idx, weights=w * np.sign(pos[:, col]), minlength=J)
            sign = np.where(side < 0, -1.0, 1.0)[idx]
            pos[:, col] = pos[:, col] * sign
    edges = (pos + R) / (2 * R) * npix
    row = np.floor(edges[:, 0]).astype(np.int64)
    col = np.floor(edges[:, 1]).astype(np.int64)
    inside = (row >= 0) & (row < npix) & (col >= 0) & (col < npix)
    flat = (idx[inside] * npix + row[inside]) * npix + col[inside]
    img = np.bincount(flat, weights=w[inside], minlength=J * npix * npix).reshape(J, 1, npix, npix)
    if normalize:
        img = img / np.maximum(img.sum(axis=(1, 2, 3), keepdims=True), 1e-12)
    return torch.from_numpy(img.astype(np.float32))


__all__ = ["jet_image"]
