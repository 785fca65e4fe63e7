r"""A columnar table of jets: flat constituent arrays plus offsets.

Every jet source (the Pythia generator, the top-tagging landscape HDF5,
JetClass ROOT files, awkward parquet) is read into a :class:`JetTable`, and
every jet representation (cloud, set, image) is built from one.  Keeping the
constituents flat (``P`` = total number of constituents) with ``offsets`` of
length ``J + 1`` lets all conversions run vectorised, with no Python loop per
jet.

Jet-level kinematics follow from the summed constituent four-momenta:

.. math::
    p_T = \sqrt{p_x^2 + p_y^2}, \quad
    \eta = \operatorname{asinh}(p_z / p_T), \quad
    m = \sqrt{\max(E^2 - |\vec p|^2, 0)}.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional

import numpy as np

from .._checks import check_positive_int
from ..errors import DataFileError, EmptyGraphError, InputShapeError, NonFiniteError


#: The optional per-constituent track impact-parameter columns (JetClass's ``part_d0val``, ...).
TRACK_IP_COLUMNS = ("d0val", "d0err", "dzval", "dzerr")


def pt_eta_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Transverse momentum, pseudorapidity and azimuth of momenta (any matching shapes, float64).

    .. math::
        p_T = \sqrt{p_x^2 + p_y^2}, \quad \eta = \operatorname{asinh}(p_z / p_T) \ (0 \text{ where } p_T = 0),
        \quad \phi = \operatorname{atan2}(p_y, p_x)
    """
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), 0.0)
    return pt, eta, np.arctan2(py, px)


def offsets_from_counts(counts: Any) -> np.ndarray:
    r"""The offsets of consecutive runs of ``counts`` items (constituents of jets, rows of chunks):
    run :math:`i` holds items ``offsets[i]:offsets[i + 1]``.

    .. math::
        o_0 = 0, \qquad o_{i+1} = o_i + n_i

    Args:
        counts: Non-negative integers :math:`n_i` (a sequence or an integer array; not floats).

    Raises:
        TypeError: float counts (they are not cast, as a count cut to an integer is a wrong count).

    Shapes:
        - **input:** :math:`(R,)`
        - **output:** :math:`(R + 1,)` int64, :math:`o_R = \sum_i n_i`
    """
    counts = np.asarray(counts).reshape(-1)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    if counts.size:  # an empty list is float64 to numpy: nothing to add
        if not (np.issubdtype(counts.dtype, np.integer) or counts.dtype == bool):
            raise TypeError(f"counts must be integers, got {counts.dtype}")
        np.cumsum(counts, out=offsets[1:])
    return offsets


@dataclass
class JetTable:
    """Jets as flat constituent arrays.

    Args:
        px, py, pz, E: Constituent four-momentum components in GeV, shape ``(P,)``.
        offsets: Start of each jet in the flat arrays, shape ``(J + 1,)``,
            ``offsets[0] == 0`` and ``offsets[-1] == P``.
        label: Integer class label per jet, shape ``(J,)``.
        pdgid: Optional PDG id per constituent, shape ``(P,)``.
        charge: Optional electric charge per constituent, shape ``(P,)``.
        parent: Optional generator-truth parent index per constituent (``-1``
            for none), shape ``(P,)``.
        extra: Further per-jet arrays (shape ``(J,)``), e.g. truth jet pT.
        label_names: Optional class names, ``label_names[label]``.
        d0val, d0err, dzval, dzerr: Optional track impact parameters per
            constituent (transverse and longitudinal, value and uncertainty, in
            mm as JetClass stores them; 0 for neutral particles), shape ``(P,)``;
            all four or none (:data:`TRACK_IP_COLUMNS`).

    Shapes:
        - ``P``: total number of constituents, ``J``: number of jets.
    """

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    E: np.ndarray
    offsets: np.ndarray
    label: np.ndarray
    pdgid: Optional[np.ndarray] = None
    charge: Optional[np.ndarray] = None
    parent: Optional[np.ndarray] = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    label_names: Optional[list[str]] = None
    d0val: Optional[np.ndarray] = None
    d0err: Optional[np.ndarray] = None
    dzval: Optional[np.ndarray] = None
    dzerr: Optional[np.ndarray] = None

    _CONSTITUENT = ("px", "py", "pz", "E", "pdgid", "charge", "parent", "d0val", "d0err", "dzval", "dzerr")

    def __post_init__(self) -> None:
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        for name in ("px", "py", "pz", "E"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float32))
        for name in TRACK_IP_COLUMNS:
            if getattr(self, name) is not None:
                setattr(self, name, np.asarray(getattr(self, name), dtype=np.float32))
        self.label = np.asarray(self.label, dtype=np.int64)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check shapes and values; raise a typed error naming the problem."""
        off = self.offsets
        if off.ndim != 1 or off.size < 1 or off[0] != 0:
            raise InputShapeError("offsets must be 1-D, start at 0 and have length num_jets + 1")
        if np.any(np.diff(off) < 0):
            raise InputShapeError("offsets must be non-decreasing")
        n_part = int(off[-1])
        for name in self._CONSTITUENT:
            arr = getattr(self, name)
            if arr is None:
                continue
            if arr.ndim != 1 or arr.shape[0] != n_part:
                raise InputShapeError(
                    f"{name} must be 1-D with {n_part} constituents, got shape {arr.shape}"
                )
        if self.label.shape != (len(self),):
            raise InputShapeError(f"label must have shape ({len(self)},), got {self.label.shape}")
        for name, arr in self.extra.items():
            if np.shape(arr)[0] != len(self):
                raise InputShapeError(f"extra[{name!r}] must have {len(self)} rows")
        present = [name for name in TRACK_IP_COLUMNS if getattr(self, name) is not None]
        if present and len(present) != len(TRACK_IP_COLUMNS):
            raise InputShapeError(f"the track impact parameters come as all of {', '.join(TRACK_IP_COLUMNS)} "
                                  f"or none, got {', '.join(present)}")
        for name in ("px", "py", "pz", "E", *present):
            arr = getattr(self, name)
            if arr.size and not np.isfinite(arr).all():
                raise NonFiniteError(f"constituent {name} holds NaN or infinite values")

    @property
    def has_track_ip(self) -> bool:
        """Whether the table carries the track impact parameters (:data:`TRACK_IP_COLUMNS`)."""
        return self.d0val is not None

    def require_nonempty_jets(self) -> None:
        """Raise :class:`EmptyGraphError` if any jet has no constituents."""
        n = self.n_constituents
        if n.size and n.min() == 0:
            bad = int(np.argmin(n))
            raise EmptyGraphError(f"jet {bad} has zero constituents")

    # ------------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def num_constituents_total(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_constituents(self) -> np.ndarray:
        """Number of constituents per jet, shape ``(J,)``."""
        return np.diff(self.offsets)

    @property
    def jet_index(self) -> np.ndarray:
        """Jet index of each constituent, shape ``(P,)``."""
        return np.repeat(np.arange(len(self)), self.n_constituents)

    def jet_p4(self) -> np.ndarray:
        """Summed four-momentum ``(E, px, py, pz)`` per jet, shape ``(J, 4)``, float64."""
        out = np.zeros((len(self), 4), dtype=np.float64)
        starts = self.offsets[:-1]
        nonempty = self.n_constituents > 0
        for col, name in enumerate(("E", "px", "py", "pz")):
            arr = getattr(self, name).astype(np.float64)
            if arr.size:
                sums = np.add.reduceat(arr, np.minimum(starts, max(arr.size - 1, 0)))
                out[:, col] = np.where(nonempty, sums, 0.0)
        return out

    def jet_kinematics(self, p4: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
        """Jet ``pt``, ``eta``, ``phi``, ``mass`` from the summed constituents.

        Args:
            p4 (np.ndarray, optional): :meth:`jet_p4` when the caller already has it
                (saves a second pass over the constituents).
        """
        E, px, py, pz = (self.jet_p4() if p4 is None else p4).T
        pt, eta, phi = pt_eta_phi(px, py, pz)
        mass = np.sqrt(np.maximum(E**2 - px**2 - py**2 - pz**2, 0.0))
        return {"pt": pt, "eta": eta, "phi": phi, "mass": mass}

    # ------------------------------------------------------------ operations
    def slice(self, start: int, stop: int) -> "JetTable":
        """Jets ``start:stop`` as a new table (views where possible)."""
        n = len(self)
        start, stop = max(0, min(start, n)), max(0, min(stop, n))
        stop = max(stop, start)
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        kw = {}
        for name in self._CONSTITUENT:
            arr = getattr(self, name)
            kw[name] = None if arr is None else arr[a:b]
        return JetTable(
            offsets=self.offsets[start : stop + 1] - a,
            label=self.label[start:stop],
            extra={k: v[start:stop] for k, v in self.extra.items()},
            label_names=self.label_names,
            **kw,
        )

    def take(self, index: np.ndarray) -> "JetTable":
        """Jets at positions ``index`` (any order) as a new table."""
        index = np.asarray(index, dtype=np.int64)
        n = self.n_constituents[index]
        new_off = offsets_from_counts(n)
        # flat gather index: for each selected jet, its constituent range.
        starts = self.offsets[:-1][index]
        flat = np.repeat(starts - new_off[:-1], n) + np.arange(int(new_off[-1]))
        return self._gather(index, flat, new_off)

    def _gather(self, jets: np.ndarray, flat: np.ndarray, offsets: np.ndarray) -> "JetTable":
        """A new table of the jets ``jets`` whose constituents are ``flat``, split by ``offsets``."""
        kw = {}
        for name in self._CONSTITUENT:
            arr = getattr(self, name)
            kw[name] = None if arr is None else arr[flat]
        return JetTable(
            offsets=offsets,
            label=self.label[jets],
            extra={k: np.asarray(v)[jets] for k, v in self.extra.items()},
            label_names=self.label_names,
            **kw,
        )

    def hardest(self, n: int) -> "JetTable":
        r"""The ``n`` highest-:math:`p_T` constituents of every jet, hardest first, as a new table.

        :math:`p_{T,i} = \sqrt{p_{x,i}^2 + p_{y,i}^2}`; a jet with fewer than ``n``
        constituents keeps all of them, re-ordered by decreasing :math:`p_T` (equal
        :math:`p_T` keep their stored order). The per-jet ``label`` and ``extra``
        columns are unchanged (a jet-level quantity stored there, such as the jet
        :math:`p_T`, still describes the full jet). This is the usual cropping of
        taggers fed a fixed number of constituents (ParticleNet's 100, JetCLR's 50).

        Args:
            n: Constituents to keep per jet (>= 1).

        Shapes:
            - **output:** the same :math:`J` jets with :math:`\min(n_j, n)` constituents each
        """
        n = check_positive_int(n, "n")
        counts = self.n_constituents
        pt = np.hypot(self.px.astype(np.float64), self.py.astype(np.float64))
        # Jet-major, then decreasing pT (lexsort: last key first; stable for ties).
        order = np.lexsort((-pt, self.jet_index))
        rank = np.arange(order.size) - np.repeat(self.offsets[:-1], counts)
        flat = order[rank < n]
        new_off = offsets_from_counts(np.minimum(counts, n))
        return self._gather(np.arange(len(self)), flat, new_off)

    @staticmethod
    def concat(tables: list["JetTable"]) -> "JetTable":
        """Concatenate tables (they must carry the same optional columns)."""
        if not tables:
            raise DataFileError("cannot concatenate an empty list of jet tables")
        kw = {}
        for name in JetTable._CONSTITUENT:
            arrs = [getattr(t, name) for t in tables]
            if all(a is None for a in arrs):
                kw[name] = None
            elif any(a is None for a in arrs):
                raise InputShapeError(f"column {name!r} is present in some tables only")
            else:
                kw[name] = np.concatenate(arrs)
        counts = np.concatenate([t.n_constituents for t in tables])
        offsets = offsets_from_counts(counts)
        keys = set(tables[0].extra)
        extra = {k: np.concatenate([t.extra[k] for t in tables]) for k in keys if all(k in t.extra for t in tables)}
        return JetTable(
            offsets=offsets,
            label=np.concatenate([t.label for t in tables]),
            extra=extra,
            label_names=tables[0].label_names,
            **kw,
        )


def table_field_names() -> list[str]:
    """Names of the dataclass fields of :class:`JetTable`."""
    return [f.name for f in fields(JetTable)]


__all__ = ["JetTable", "table_field_names", "TRACK_IP_COLUMNS", "offsets_from_counts", "pt_eta_phi"]
