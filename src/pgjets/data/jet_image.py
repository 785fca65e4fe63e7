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

import math
import warnings
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from .._checks import check_positive_int
from ..errors import EmptyGraphError, InputShapeError, NonFiniteError
from .features import constituent_features
from .table import JetTable, offsets_from_counts

Extent = Sequence[Sequence[float]]


def _as_arrays(table_or_arrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pos (P, 2), pt (P,), counts (J,))`` from a table or a tuple."""
    if isinstance(table_or_arrays, JetTable):
        table_or_arrays.require_nonempty_jets()
        f = constituent_features(table_or_arrays, "angular")
        return f["pos"].astype(np.float64), f["pt"].astype(np.float64), table_or_arrays.n_constituents
    if isinstance(table_or_arrays, dict):
        items = (table_or_arrays.get("pos"), table_or_arrays.get("pt"), table_or_arrays.get("counts"))
    else:
        items = tuple(table_or_arrays)
    if len(items) != 3 or any(v is None for v in items):
        raise InputShapeError("jet_image needs a JetTable or (pos (P, 2), pt (P,), counts (J,))")
    pos, pt, counts = (np.asarray(v.detach().cpu() if isinstance(v, Tensor) else v) for v in items)
    pos, pt, counts = pos.astype(np.float64), pt.astype(np.float64).reshape(-1), counts.astype(np.int64).reshape(-1)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise InputShapeError(f"pos must be 2-D (num_particles, 2), got shape {pos.shape}")
    if pt.shape[0] != pos.shape[0] or int(counts.sum()) != pos.shape[0] or (counts < 0).any():
        raise InputShapeError(f"pos {pos.shape}, pt {pt.shape} and counts (sum {int(counts.sum())}) disagree")
    if not (np.isfinite(pos).all() and np.isfinite(pt).all()):
        raise NonFiniteError("pos or pt hold NaN or infinite values")
    if counts.size and counts.min() == 0:
        raise EmptyGraphError(f"jet {int(np.argmin(counts))} has zero constituents")
    if (pt < 0).any():
        raise InputShapeError(f"pt holds negative values (first at particle {int(np.argmax(pt < 0))}); "
                              "pixel intensities are transverse momenta, >= 0")
    if counts.size:
        total = np.add.reduceat(pt, offsets_from_counts(counts)[:-1])
        if (total <= 0).any():
            raise EmptyGraphError(f"jet {int(np.argmax(total <= 0))} has zero total pT: its image would be blank "
                                  "(and its pT-weighted centre undefined)")
    return pos, pt, counts


def jet_image(
    table_or_arrays: Union[JetTable, tuple, dict],
    npix: int = 20,
    R: float = 0.8,
    extent: Optional[Extent] = None,
    centre: bool = True,
    rotate: bool = True,
    flip: bool = True,
    normalize: bool = True,
) -> Tensor:
    r"""Preprocessed jet images, all jets at once (``np.bincount``, no loop per jet).

    Pixel :math:`(r, c)` of jet :math:`J` holds

    .. math::
        I_{rc} = \frac{1}{Z}\sum_{i \in J} p_{T,i}\,
        [\, \Delta\eta'_i \in \text{row } r,\ \Delta\phi'_i \in \text{col } c \,]

    with :math:`(\Delta\eta', \Delta\phi')` the centred, rotated and
    flipped coordinates and :math:`Z = \sum_{rc} I_{rc}` if ``normalize``
    else 1. Constituents outside the extent are dropped, so without
    normalisation the pixel sum is the :math:`p_T` inside the extent.

    Args:
        table_or_arrays: A :class:`JetTable`, or ``(pos, pt, counts)`` (tuple
            or dict) with :math:`(\Delta\eta, \Delta\phi)` ``(P, 2)``,
            :math:`p_T` ``(P,)`` and particles per jet ``(J,)``.  These positions are used as
            given: they must already be relative to the jet and wrapped into
            :math:`(-\pi, \pi]` (absolute :math:`\phi` across :math:`\pm\pi` gives a blank image;
            a :class:`JetTable` is centred and wrapped here).
        npix (int): Pixels per side (20 and 40 are the usual choices).
        R (float): Half-width of the image in :math:`\eta` and :math:`\phi`
            (extent :math:`[-R, R]^2`) when ``extent`` is not given.
        extent: ``((eta_min, eta_max), (phi_min, phi_max))``.
        centre (bool): Centre on the :math:`p_T`-weighted centroid.
        rotate (bool): Rotate the principal axis to the vertical (rows).
        flip (bool): Put the :math:`p_T`-heavier half at positive row and
            column coordinates.
        normalize (bool): Scale each image to unit pixel sum (a jet with no
            :math:`p_T` inside the extent stays blank, with a warning that counts them).

    Shapes:
        - **input:** ``P`` constituents in ``J`` jets.
        - **output:** :math:`(J, 1, \text{npix}, \text{npix})`; rows follow
          :math:`\Delta\eta'` (after rotation: the principal axis), columns
          :math:`\Delta\phi'`.

    Raises:
        EmptyGraphError: A jet has no constituents.
        InputShapeError: Inconsistent arrays.
        ValueError: ``npix < 1``, or an empty or infinite extent.
    """
    npix = check_positive_int(npix, "npix")
    if extent is None:
        if not (R > 0 and math.isfinite(R)):
            raise ValueError(f"R must be positive and finite, got {R}")
        extent = ((-R, R), (-R, R))
    (e0, e1), (p0, p1) = (tuple(map(float, extent[0])), tuple(map(float, extent[1])))
    if not all(map(math.isfinite, (e0, e1, p0, p1))):
        raise ValueError(f"extent must be finite, got {extent}")
    if not (e1 > e0 and p1 > p0):
        raise ValueError(f"extent must be ((eta_min, eta_max), (phi_min, phi_max)) with min < max, got {extent}")
    pos, w, counts = _as_arrays(table_or_arrays)
    J = counts.size
    idx = np.repeat(np.arange(J), counts)
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
        pos = pos.copy()
        for col in (1, 0):
            side = np.bincount(idx, weights=w * np.sign(pos[:, col]), minlength=J)
            sign = np.where(side < 0, -1.0, 1.0)[idx]
            pos[:, col] = pos[:, col] * sign
    row = np.floor((pos[:, 0] - e0) / (e1 - e0) * npix).astype(np.int64)
    col = np.floor((pos[:, 1] - p0) / (p1 - p0) * npix).astype(np.int64)
    inside = (row >= 0) & (row < npix) & (col >= 0) & (col < npix)
    flat = (idx[inside] * npix + row[inside]) * npix + col[inside]
    img = np.bincount(flat, weights=w[inside], minlength=J * npix * npix).reshape(J, 1, npix, npix)
    if normalize:
        total = img.sum(axis=(1, 2, 3), keepdims=True)
        blank = np.nonzero(total.reshape(-1) <= 0)[0]
        if blank.size:
            warnings.warn(f"{blank.size} of {J} jets have no pT inside the image extent "
                          f"(({e0}, {e1}), ({p0}, {p1})) and give blank images (first: jet {int(blank[0])}); "
                          "widen R or extent", stacklevel=2)
        img = img / np.maximum(total, 1e-12)
    return torch.from_numpy(img).to(torch.get_default_dtype())  # the builders' dtype policy


__all__ = ["jet_image"]
