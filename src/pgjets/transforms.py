r"""Deterministic jet transformations, written once.

Every operation on a jet graph that the symmetry checks (:mod:`pgjets.symmetry`)
and the random augmentations (:mod:`pgjets.train.augment`) need lives here, as
a plain function of the graph and of explicit parameters.  The random users
draw the parameters (one angle per jet, one shift per jet, which particles to
split, ...) and call these functions; nothing here draws a random number.

- :func:`set_pos`: install new :math:`(\Delta\eta, \Delta\phi)` for every particle
  (the primitive the others build on: :math:`\phi` wrap, ``x`` columns, ``p4``);
- :func:`rotate`: rotation by :math:`\alpha_b` about the jet axis;
- :func:`translate`: the shift :math:`\boldsymbol{\delta}_b` for every particle of jet :math:`b`;
- :func:`permute_nodes`: reorder the particles (``edge_index`` relabelled);
- :func:`split_collinear`: particles replaced by two collinear ones;
- :func:`add_soft_particles`: particles with :math:`p_T = 0` added to jets;
- :func:`set_edges`: new edges (for example a kNN graph rebuilt after new particles).

They take a single :class:`~torch_geometric.data.Data` (one jet) or a
:class:`~torch_geometric.data.Batch`; per-jet parameters are tensors with one
row per jet (a single value is used for every jet).  The input is never
modified; the result is a shallow copy with new tensors where something changed.

**Conventions** (those of CONTRIBUTING.md's jet graph convention):

- :math:`\phi` **wrap.** New :math:`\Delta\phi` are wrapped per jet: every particle
  of jet :math:`b` moves by the same multiple of :math:`2\pi`, the one that brings
  the jet's mean :math:`\Delta\phi` into :math:`(-\pi, \pi]` (:func:`wrap_phi_per_jet`).
  A jet so never tears in two across :math:`\pm\pi`, and jets whose mean is in
  range (every jet not translated by more than about :math:`\pi`) are returned
  bit for bit.
- ``p4`` **follows** ``pos``.  With ``p4_mode="recompute"`` (the default) a jet
  that carries ``p4`` gets it recomputed wherever ``pos`` changes, keeping every
  constituent's :math:`p_T` and mass :math:`m` (from the old ``p4``), with
  :math:`\eta = \eta_J + \Delta\eta` and :math:`\phi = \phi_J + \Delta\phi`:

  .. math::
      p_x = p_T\cos\phi,\quad p_y = p_T\sin\phi,\quad p_z = p_T\sinh\eta,\quad
      E = \sqrt{p_T^2\cosh^2\eta + m^2} .

  So a shift of :math:`\eta` is a longitudinal boost only for massless particles
  (it keeps :math:`m`, not the rapidity differences), and the identity keeps ``p4``.

  The jet axis :math:`(\eta_J, \phi_J)` is read from the graph attributes
  ``jet_eta`` and ``jet_phi`` where the graph has them; otherwise it is the
  frame the old ``pos`` were measured in, read off ``p4`` (:func:`jet_axis`), so
  the jets stay where they were in the detector.

  ``p4_mode="drop"`` removes ``p4`` instead.  Where :math:`p_T` changes without
  the direction changing (collinear splits) ``p4`` is scaled like :math:`p_T`;
  soft particles get :math:`p_T = 0` and :math:`p^\mu = 0`.
- ``x`` **columns.** ``pos_columns=(i, j)`` names the columns of ``x`` that hold
  ``pos``; they are set to the new ``pos``.  Other columns are copied as they are.
- **New particles** (splits, soft particles) follow the old particles of their
  jet, so the nodes of every jet stay contiguous; ``edge_index`` and the edge
  attributes are dropped (rebuild them, e.g. with :func:`pgjets.nn.knn_graph`).
  For a ``Batch`` the ``batch``/``ptr`` vectors and the slice bookkeeping are
  updated, so ``to_data_list()`` works.
- **Permutations** relabel ``edge_index``, sort the edges by target (stable) and
  carry the edge attributes with their edges.
- **Which tensors are per particle.**  A tensor whose first dimension is the
  number of particles is per particle, except ``y``, ``jet_*`` (jet-level by
  name: a one-particle jet's ``jet_pt`` of shape ``(1,)`` is not copied to new
  particles) and, in a ``Batch``, tensors with one slice per jet.
"""

from __future__ import annotations

import copy
import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from ._checks import check_finite, check_ndim, check_nonempty
from .errors import EmptyGraphError, InputShapeError
from .ops.angles import wrap_phi  # the one phi wrap, public here too

GraphLike = Union[Data, Batch]

#: The two ways of treating ``p4`` when ``pos`` changes (see the module docs).
P4_MODES = ("recompute", "drop")

#: Graph-level attributes that must never be treated as node attributes.
_GRAPH_KEYS = ("y", "jet_eta", "jet_phi", "ptr", "batch", "num_nodes")
_SKIP = ("batch", "ptr", "edge_index", "num_nodes")


# --------------------------------------------------------------------------- helpers
def massless_p4(pt: Tensor, eta: Tensor, phi: Tensor) -> Tensor:
    r"""Four-momenta :math:`(E, p_x, p_y, p_z)` of massless particles.

    .. math::
        E = p_T \cosh\eta,\quad p_x = p_T\cos\phi,\quad p_y = p_T\sin\phi,\quad p_z = p_T\sinh\eta

    Args:
        pt: Transverse momenta.
        eta: Pseudorapidities.
        phi: Azimuths.

    Shapes:
        - **input:** :math:`(N,)` each; **output:** :math:`(N, 4)`
    """
    return torch.stack([pt * torch.cosh(eta), pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)], -1)


def _eta_phi_pt(p: Tensor, pt_floor: float = 1e-8) -> tuple[Tensor, Tensor, Tensor]:
    """Pseudorapidity, azimuth and :math:`p_T` of four-vectors ``(E, px, py, pz)`` (``pt_floor`` under the division)."""
    pt = torch.hypot(p[:, 1], p[:, 2])
    return torch.asinh(p[:, 3] / pt.clamp_min(pt_floor)), torch.atan2(p[:, 2], p[:, 1]), pt


def wrap_phi_per_jet(phi: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    r"""Wrap the :math:`\Delta\phi` of every jet by one multiple of :math:`2\pi`, chosen for the jet's mean.

    .. math::
        \Delta\phi_i' = \Delta\phi_i - 2\pi\, n_b,\qquad
        n_b = \operatorname{round}\Big(\frac{\langle\Delta\phi\rangle_b}{2\pi}\Big)

    so the mean :math:`\langle\Delta\phi\rangle_b` of jet :math:`b` lies in
    :math:`(-\pi, \pi]` and its pairwise distances are unchanged (wrapping each
    particle on its own, :func:`wrap_phi`, tears a jet that straddles :math:`\pm\pi`).
    Jets with :math:`n_b = 0` are returned bit for bit.

    Args:
        phi: :math:`\Delta\phi` of every particle.
        batch: Jet index of every particle.
        num_graphs: Number of jets :math:`B`.

    Shapes:
        - **input:** ``phi`` and ``batch`` :math:`(N,)`; **output:** :math:`(N,)`
    """
    phi64 = phi.to(torch.float64)
    mean = scatter(phi64, batch, 0, dim_size=num_graphs, reduce="mean")
    turns = torch.round(mean / (2 * math.pi) - 1e-12)[batch]  # a mean of exactly pi stays
    return torch.where(turns == 0, phi, (phi64 - 2 * math.pi * turns).to(phi.dtype))


def jet_axis(data: GraphLike) -> tuple[Tensor, Tensor]:
    r"""The axis :math:`(\eta_J, \phi_J)` of every jet: ``jet_eta``/``jet_phi`` if the graph has them, else from ``p4``.

    Without the attributes the axis is the frame that ``pos`` was measured in,
    read off the four-momenta: every particle gives
    :math:`\eta_i - \Delta\eta_i` and :math:`\phi_i - \Delta\phi_i`, averaged with
    :math:`p_T` weights (a circular mean for :math:`\phi`):

    .. math::
        \eta_J = \frac{\sum_{i \in b} p_{T,i}\,(\eta_i - \Delta\eta_i)}{\sum_{i \in b} p_{T,i}},\qquad
        \phi_J = \operatorname{atan2}\Big(\sum_{i \in b} p_{T,i} \sin(\phi_i - \Delta\phi_i),\,
            \sum_{i \in b} p_{T,i} \cos(\phi_i - \Delta\phi_i)\Big)

    with :math:`p_{T,i}, \eta_i, \phi_i` from ``p4``.  For ``pos`` measured from
    any fixed axis (the jet's four-momentum, its :math:`p_T` centroid, or 0) this
    returns that axis.  A jet without ``p4`` or without momentum has axis 0.

    Args:
        data: A jet graph or a batch of them.

    Shapes:
        - **output:** :math:`\eta_J` and :math:`\phi_J`, each :math:`(B,)`, in ``pos``'s dtype
    """
    batch, num_graphs = jet_index(data)
    pos = data.pos
    out = []
    for key in ("jet_eta", "jet_phi"):
        val = getattr(data, key, None)
        if val is not None:
            val = torch.as_tensor(val, dtype=pos.dtype, device=pos.device).reshape(-1)
            if val.numel() not in (1, num_graphs):
                raise InputShapeError(f"{key} must hold one value per graph ({num_graphs}), got {val.numel()}")
            val = val.expand(num_graphs)
        out.append(val)
    if out[0] is not None and out[1] is not None:
        return out[0], out[1]
    p4 = getattr(data, "p4", None)
    if p4 is None:
        zero = pos.new_zeros(num_graphs)
        return (out[0] if out[0] is not None else zero), (out[1] if out[1] is not None else zero)
    p = p4.to(torch.float64)
    eta, phi, pt = _eta_phi_pt(p, pt_floor=1e-300)
    eta = eta - pos[:, 0].to(torch.float64)
    phi = phi - pos[:, 1].to(torch.float64)
    w = scatter(pt, batch, 0, dim_size=num_graphs, reduce="sum")
    eta_j = scatter(pt * eta, batch, 0, dim_size=num_graphs, reduce="sum") / w.clamp_min(1e-300)
    phi_j = torch.atan2(scatter(pt * torch.sin(phi), batch, 0, dim_size=num_graphs, reduce="sum"),
                        scatter(pt * torch.cos(phi), batch, 0, dim_size=num_graphs, reduce="sum"))
    eta_j = out[0] if out[0] is not None else eta_j.to(pos.dtype)
    phi_j = out[1] if out[1] is not None else phi_j.to(pos.dtype)
    return eta_j, phi_j


def check_p4_mode(p4_mode: str) -> None:
    """Raise ``ValueError`` unless ``p4_mode`` is one of :data:`P4_MODES`.

    Args:
        p4_mode: ``"recompute"`` or ``"drop"``.
    """
    if p4_mode not in P4_MODES:
        raise ValueError(f"p4_mode must be one of {P4_MODES}, got {p4_mode!r}")


def check_jet(data: GraphLike, need_pt: bool = False) -> None:
    """Check that ``data`` is a non-empty jet graph (or batch) with finite ``pos`` (and ``pt``).

    Args:
        data: A jet graph or a batch of them.
        need_pt: Require ``pt``.

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``pt`` :math:`(N,)`
    """
    if getattr(data, "pos", None) is None:
        raise InputShapeError("jet transforms need data.pos (num_nodes, 2) = (deta, dphi)")
    check_ndim(data.pos, 2, "pos", "(num_nodes, 2)")
    if data.pos.size(1) != 2:
        raise InputShapeError(f"pos must have 2 columns (deta, dphi), got shape {tuple(data.pos.shape)}")
    check_nonempty(data.pos.size(0), "jet")
    check_finite(data.pos, "pos")
    pt = getattr(data, "pt", None)
    if need_pt and pt is None:
        raise InputShapeError("this transform needs data.pt (num_nodes,)")
    if pt is not None:
        if pt.dim() != 1 or pt.numel() != data.pos.size(0):
            raise InputShapeError(f"pt must have shape ({data.pos.size(0)},), got {tuple(pt.shape)}")
        check_finite(pt, "pt")


def jet_index(data: GraphLike) -> tuple[Tensor, int]:
    """The jet (graph) index of every particle and the number of jets.

    Args:
        data: A jet graph (one jet) or a batch of them.

    Shapes:
        - **output:** ``(batch, num_graphs)`` with ``batch`` :math:`(N,)`
    """
    pos = data.pos
    n = pos.size(0)
    batch = getattr(data, "batch", None)
    if batch is None:
        return torch.zeros(n, dtype=torch.long, device=pos.device), 1
    num_graphs = getattr(data, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if n else 0
    return batch.to(torch.long), int(num_graphs)


def _per_jet(value: Union[float, Tensor, Sequence[float]], num_graphs: int, like: Tensor, name: str,
             width: Optional[int] = None) -> Tensor:
    """``value`` as a ``(B,)`` (or ``(B, width)``) tensor; a single value is used for every jet."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if width is None:
        want, single = (num_graphs,), t.dim() == 0 or tuple(t.shape) == (1,)
    else:
        want, single = (num_graphs, width), tuple(t.shape) in ((width,), (1, width))
    if single:
        t = t.reshape((1,) + want[1:]).expand(want)
    if tuple(t.shape) != want:
        shape = "(B,) or a scalar" if width is None else f"(B, {width}) or ({width},)"
        raise InputShapeError(f"{name} must have shape {shape} with B = {num_graphs} jets, got {tuple(t.shape)}")
    check_finite(t, name)
    return t


def _check_columns(data: GraphLike, pos_columns: Optional[Sequence[int]]) -> Optional[list[int]]:
    if pos_columns is None:
        return None
    cols = [int(c) for c in pos_columns]
    if len(cols) != 2:
        raise ValueError(f"pos_columns must name 2 columns of x (deta, dphi), got {pos_columns!r}")
    x = getattr(data, "x", None)
    if x is None or x.dim() != 2:
        raise InputShapeError("pos_columns is set but data.x is missing or not 2-D")
    if max(cols) >= x.size(1) or min(cols) < -x.size(1):
        raise InputShapeError(f"pos_columns {cols} out of range for x with {x.size(1)} columns")
    return cols


def _slices(data: GraphLike) -> dict:
    return getattr(data, "_slice_dict", None) or {}


def _edge_keys(data: GraphLike) -> list[str]:
    """Edge-level tensors (besides ``edge_index``): same slices as ``edge_index``, or named ``edge*``."""
    ei = getattr(data, "edge_index", None)
    if ei is None:
        return []
    slices = _slices(data)
    e_slice = slices.get("edge_index")
    out = []
    for key in data.keys():
        value = data[key]
        if key in _SKIP or key in _GRAPH_KEYS or not isinstance(value, Tensor) or value.dim() == 0:
            continue
        s = slices.get(key)
        same = s is not None and e_slice is not None and torch.equal(s, e_slice)
        if value.size(0) == ei.size(1) and (same or (s is None and "edge" in key)):
            out.append(key)
    return out


def _graph_level(data: GraphLike) -> set[str]:
    """Graph-level tensors: the known names, ``jet_*``, and (for a Batch) those with one slice per graph."""
    out = set(_GRAPH_KEYS) | {key for key in data.keys() if key.startswith("jet_")}
    slices = _slices(data)
    if isinstance(data, Batch) and slices:
        ref = torch.arange(data.num_graphs + 1)
        node_slice = slices.get("pos")
        for key, s in slices.items():
            if s.numel() == ref.numel() and torch.equal(s.cpu(), ref) and not (
                    node_slice is not None and torch.equal(node_slice, s)):  # one particle per jet: a node attr
                out.add(key)
    return out


def _node_keys(data: GraphLike) -> list[str]:
    """Node-level tensors (first dimension = number of particles)."""
    n = data.pos.size(0)
    skip = _graph_level(data) | set(_edge_keys(data)) | set(_SKIP)
    return [key for key in data.keys() if key not in skip and isinstance(data[key], Tensor)
            and data[key].dim() > 0 and data[key].size(0) == n]


def _drop_edges(out: GraphLike, edge_keys: Sequence[str]) -> None:
    for key in ("edge_index", *edge_keys):
        if key in out:
            del out[key]


def _append_nodes(data: GraphLike, batch: Tensor, num_graphs: int, owner: Tensor,
                  new: dict[str, Tensor], old: Optional[dict[str, Tensor]] = None) -> GraphLike:
    """Append nodes (owned by jets ``owner``) after the old nodes of their jet; drop the edges.

    ``new[key]`` holds the rows of the new nodes for every node-level key;
    ``old[key]``, when given, replaces the old rows of ``key``.
    """
    old = old or {}
    device = batch.device
    node_keys = _node_keys(data)
    edge_keys = _edge_keys(data)
    owner_all = torch.cat([batch, owner])
    is_new = torch.cat([torch.zeros_like(batch), torch.ones_like(owner)])
    order = torch.argsort(owner_all * 2 + is_new, stable=True)
    out = copy.copy(data)
    for key in node_keys:
        out[key] = torch.cat([old.get(key, data[key]), new[key]])[order]
    _drop_edges(out, edge_keys)
    new_batch = owner_all[order]
    if getattr(data, "batch", None) is not None:
        out.batch = new_batch
        new_counts = torch.bincount(new_batch, minlength=num_graphs)
        new_ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
        new_ptr[1:] = torch.cumsum(new_counts, 0)
        if getattr(data, "ptr", None) is not None:
            out.ptr = new_ptr
        slices = getattr(data, "_slice_dict", None)
        if isinstance(slices, dict):
            dropped = ("edge_index", *edge_keys)
            new_slices = {k: v for k, v in slices.items() if k not in dropped}
            for key in node_keys:
                if key in new_slices:
                    new_slices[key] = new_ptr.to(new_slices[key].device)
            out._slice_dict = new_slices
            incs = getattr(data, "_inc_dict", None)
            if isinstance(incs, dict):
                out._inc_dict = {k: v for k, v in incs.items() if k not in dropped}
    if "num_nodes" in data:  # a stored node count (p4-only graphs): the new one, with or without batch
        out.num_nodes = new_batch.numel()
    return out


def set_edges(data: GraphLike, edge_index: Tensor, edge_attr: Optional[Tensor] = None) -> GraphLike:
    r"""Give a jet graph (or batch) new edges; the old edge attributes are dropped.

    The edges must join particles of the same jet; they are grouped by the jet
    of their target (stable order) and, for a ``Batch``, the slice bookkeeping
    is updated so that ``to_data_list()`` splits them correctly.

    Args:
        data: A jet graph or a batch of them.
        edge_index: Global edge indices.
        edge_attr: Optional edge features (one row per edge).

    Shapes:
        - **input:** ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, D)`
        - **output:** a new graph with ``edge_index`` :math:`(2, E)`
    """
    check_jet(data)
    batch, num_graphs = jet_index(data)
    n = data.pos.size(0)
    edge_index = torch.as_tensor(edge_index, device=data.pos.device).long()
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise InputShapeError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
        raise InputShapeError(f"edge_index holds nodes outside [0, {n})")
    if not torch.equal(batch[edge_index[0]], batch[edge_index[1]]):
        raise InputShapeError("edges must join particles of the same jet")
    if edge_attr is not None and edge_attr.size(0) != edge_index.size(1):
        raise InputShapeError(f"edge_attr must have {edge_index.size(1)} rows, got {edge_attr.size(0)}")
    old_edges = _edge_keys(data)
    order = torch.argsort(batch[edge_index[1]], stable=True)
    out = copy.copy(data)
    _drop_edges(out, old_edges)
    out.edge_index = edge_index[:, order]
    if edge_attr is not None:
        out.edge_attr = edge_attr[order]
    slices = getattr(data, "_slice_dict", None)
    if isinstance(data, Batch) and isinstance(slices, dict):
        counts = torch.bincount(batch, minlength=num_graphs)
        e_counts = torch.bincount(batch[edge_index[1]], minlength=num_graphs)
        ptr, e_ptr = (torch.cat([c.new_zeros(1), c.cumsum(0)]) for c in (counts, e_counts))
        zeros = torch.zeros(num_graphs, dtype=torch.long, device=batch.device)
        dropped = ("edge_index", "edge_attr", *old_edges)
        new_slices = {k: v for k, v in slices.items() if k not in dropped}
        incs = {k: v for k, v in (getattr(data, "_inc_dict", None) or {}).items() if k not in dropped}
        new_slices["edge_index"], incs["edge_index"] = e_ptr, ptr[:-1]
        if edge_attr is not None:
            new_slices["edge_attr"], incs["edge_attr"] = e_ptr, zeros
        out._slice_dict, out._inc_dict = new_slices, incs
    return out


# --------------------------------------------------------------------------- positions
def pos_from_p4(data: GraphLike) -> tuple[Tensor, Tensor]:
    r"""``pos`` and ``pt`` of every particle from its four-momentum ``p4``, by the jet graph convention.

    The jet axis comes from the summed four-momentum of each jet (float64):

    .. math::
        P_b = \sum_{i \in b} p_i, \qquad
        \Delta\eta_i = \eta_i - \eta(P_b), \quad
        \Delta\phi_i = \mathrm{wrap}\big(\phi_i - \phi(P_b)\big), \quad
        p_{T,i} = \sqrt{p_{x,i}^2 + p_{y,i}^2}

    with :math:`\eta = \operatorname{asinh}(p_z / \max(p_T, 10^{-8}))`.  What
    :func:`pgjets.symmetry.lorentz_transform` uses to keep ``pos`` and ``pt`` in step
    with a transformed ``p4``.

    Args:
        data: A jet graph or a batch of them, with ``p4``.

    Shapes:
        - **input:** ``p4`` :math:`(N, 4)` = :math:`(E, p_x, p_y, p_z)`
        - **output:** ``pos`` :math:`(N, 2)` and ``pt`` :math:`(N,)`, in ``p4``'s dtype
    """
    check_jet(data)
    p4 = getattr(data, "p4", None)
    if p4 is None or p4.dim() != 2 or p4.size(1) != 4:
        raise InputShapeError("pos_from_p4 needs data.p4 (num_nodes, 4) = (E, px, py, pz)")
    batch, num_graphs = jet_index(data)
    p = p4.to(torch.float64)
    jet = torch.zeros(num_graphs, 4, dtype=torch.float64, device=p.device).index_add_(0, batch, p)
    eta, phi, pt = _eta_phi_pt(p)
    jet_eta, jet_phi, _ = _eta_phi_pt(jet)
    pos = torch.stack([eta - jet_eta[batch], wrap_phi(phi - jet_phi[batch])], dim=-1)
    return pos.to(p4.dtype), pt.to(p4.dtype)


def set_pos(
    data: GraphLike,
    pos: Tensor,
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
    wrap: bool = True,
) -> GraphLike:
    r"""Give every particle the new :math:`(\Delta\eta, \Delta\phi)` ``pos``, with the module's conventions.

    :math:`\Delta\phi` is wrapped per jet (:func:`wrap_phi_per_jet`; unless ``wrap=False``), the
    ``pos_columns`` of ``x`` are set to the new ``pos`` and ``p4`` is recomputed
    (same :math:`p_T` and mass, about the jet axis of :func:`jet_axis`) or dropped:

    .. math::
        p^\mu_i = \Big(\sqrt{p_{T,i}^2\cosh^2\eta_i + m_i^2},\ p_{T,i}\cos\phi_i,\
            p_{T,i}\sin\phi_i,\ p_{T,i}\sinh\eta_i\Big),\quad
        \eta_i = \eta_J + \Delta\eta_i',\ \phi_i = \phi_J + \Delta\phi_i'

    Args:
        data: A jet graph or a batch of them.
        pos: The new positions (before wrapping).
        pos_columns: Columns of ``x`` that hold ``pos`` and must follow it (``None``: none).
        p4_mode: ``"recompute"`` or ``"drop"``.
        wrap: Wrap the :math:`\Delta\phi` of every jet (``False``: the caller has wrapped them).

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`
        - **output:** a new graph with ``pos`` :math:`(N, 2)`
    """
    check_jet(data)
    check_p4_mode(p4_mode)
    if tuple(pos.shape) != tuple(data.pos.shape):
        raise InputShapeError(f"new pos must have shape {tuple(data.pos.shape)}, got {tuple(pos.shape)}")
    cols = _check_columns(data, pos_columns)
    batch, num_graphs = jet_index(data)
    out = copy.copy(data)
    phi = wrap_phi_per_jet(pos[:, 1], batch, num_graphs) if wrap else pos[:, 1]
    new_pos = torch.stack([pos[:, 0], phi], dim=-1).to(data.pos.dtype)
    out.pos = new_pos
    if cols is not None:
        x = data.x.clone()
        x[:, cols] = new_pos.to(x.dtype)
        out.x = x
    if getattr(data, "p4", None) is not None:
        if p4_mode == "drop":
            del out.p4
        else:
            if getattr(data, "pt", None) is None:
                raise InputShapeError("recomputing p4 needs data.pt; use p4_mode='drop'")
            jet_eta, jet_phi = jet_axis(data)
            eta = jet_eta.to(new_pos.dtype)[batch] + new_pos[:, 0]
            phi = jet_phi.to(new_pos.dtype)[batch] + new_pos[:, 1]
            old = data.p4.to(torch.float64)
            m2 = (old[:, 0] ** 2 - (old[:, 1:] ** 2).sum(-1)).clamp_min(0.0)  # each constituent's mass
            p4 = massless_p4(data.pt.to(torch.float64), eta.to(torch.float64), phi.to(torch.float64))
            energy = torch.sqrt(p4[:, 0] ** 2 + m2)
            out.p4 = torch.cat([energy[:, None], p4[:, 1:]], -1).to(data.p4.dtype)
    return out


def rotate(
    data: GraphLike,
    angle: Union[float, Tensor],
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
) -> GraphLike:
    r"""Rotate every jet by its angle :math:`\alpha_b` about the jet axis (the origin of ``pos``).

    .. math::
        \begin{pmatrix}\Delta\eta' \\ \Delta\phi'\end{pmatrix} =
        \begin{pmatrix}\cos\alpha_b & -\sin\alpha_b \\ \sin\alpha_b & \cos\alpha_b\end{pmatrix}
        \begin{pmatrix}\Delta\eta \\ \Delta\phi\end{pmatrix}

    followed by :func:`set_pos` (:math:`\phi` wrap, ``x`` columns, ``p4``).

    Args:
        data: A jet graph or a batch of them.
        angle: One angle per jet, shape ``(B,)``, or one for all jets (radians).
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``angle`` :math:`(B,)` or scalar
        - **output:** a new graph with rotated ``pos`` :math:`(N, 2)`
    """
    check_jet(data)
    batch, num_graphs = jet_index(data)
    angle = _per_jet(angle, num_graphs, data.pos, "angle")
    c, s = torch.cos(angle)[batch], torch.sin(angle)[batch]
    eta, phi = data.pos[:, 0], data.pos[:, 1]
    return set_pos(data, torch.stack([c * eta - s * phi, s * eta + c * phi], dim=-1), pos_columns, p4_mode)


def translate(
    data: GraphLike,
    shift: Union[Sequence[float], Tensor],
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
) -> GraphLike:
    r"""Shift every particle of jet :math:`b` by the same :math:`\boldsymbol{\delta}_b`.

    .. math::
        (\Delta\eta', \Delta\phi') = (\Delta\eta + \delta_{b,\eta},\ \Delta\phi + \delta_{b,\phi})

    followed by :func:`set_pos` (``x`` columns, ``p4``).  :math:`\Delta\phi` is wrapped per
    jet, not per particle (:func:`wrap_phi_per_jet`): every particle of jet :math:`b` moves
    by the same multiple of :math:`2\pi`, the one that brings the jet's mean
    :math:`\Delta\phi` into :math:`(-\pi, \pi]`.  A translation so stays an isometry of each jet (pairwise
    distances, and a kNN graph on ``pos``, are unchanged for any shift); wrapping each
    particle on its own tore a jet shifted across :math:`\pm\pi` in two.

    Args:
        data: A jet graph or a batch of them.
        shift: One ``(deta, dphi)`` per jet, shape ``(B, 2)``, or ``(2,)`` for all jets.
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``shift`` :math:`(B, 2)` or :math:`(2,)`
        - **output:** a new graph with shifted ``pos`` :math:`(N, 2)`
    """
    check_jet(data)
    batch, num_graphs = jet_index(data)
    shift = _per_jet(shift, num_graphs, data.pos, "shift", width=2)
    return set_pos(data, data.pos + shift[batch], pos_columns, p4_mode)


# --------------------------------------------------------------------------- node order
def permutation_within_jets(batch: Tensor, scores: Tensor) -> Tensor:
    r"""The permutation that sorts the particles of every jet by ``scores`` (jets stay in place).

    With ``scores`` drawn uniformly from :math:`[0, 1)` this is a uniformly random
    permutation within every jet.

    Args:
        batch: Jet index of every particle (sorted).
        scores: A number in :math:`[0, 1)` per particle.

    Shapes:
        - **input:** :math:`(N,)` each; **output:** ``perm`` :math:`(N,)`
    """
    key = batch.to(torch.float64) + 0.5 * scores.to(device=batch.device, dtype=torch.float64)
    return torch.argsort(key)


def permute_nodes(data: GraphLike, perm: Tensor) -> GraphLike:
    r"""Reorder the particles: node :math:`i` of the result is node ``perm[i]`` of the input.

    Every node attribute is gathered with ``perm``; ``edge_index`` is relabelled,
    :math:`(j, i) \mapsto (\pi^{-1}(j), \pi^{-1}(i))`, its edges sorted by target
    (stable) and the edge attributes follow their edges.  ``perm`` must map every
    jet onto itself (see :func:`permutation_within_jets`) for a ``Batch`` to stay valid.

    Args:
        data: A jet graph or a batch of them.
        perm: A permutation of the :math:`N` nodes.

    Shapes:
        - **input:** :math:`N` nodes, ``perm`` :math:`(N,)`
        - **output:** a new graph with :math:`N` nodes
    """
    check_jet(data)
    n = data.pos.size(0)
    perm = torch.as_tensor(perm, device=data.pos.device).long()
    if perm.shape != (n,):
        raise InputShapeError(f"perm must have shape ({n},), got {tuple(perm.shape)}")
    out = copy.copy(data)
    for key in _node_keys(data):
        out[key] = data[key][perm]
    ei = getattr(data, "edge_index", None)
    if ei is not None:
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(n, device=perm.device)
        relabelled = inv[ei]
        order = torch.argsort(relabelled[1], stable=True)
        out.edge_index = relabelled[:, order]
        for key in _edge_keys(data):
            out[key] = data[key][order]
    return out


# --------------------------------------------------------------------------- new particles
def split_collinear(data: GraphLike, index: Tensor, fraction: Union[float, Tensor] = 0.5) -> GraphLike:
    r"""Split the particles ``index`` into two collinear ones.

    A mother :math:`m` keeps its place with :math:`p_T \mapsto (1 - f_m)\, p_{T,m}`;
    a daughter with :math:`f_m\, p_{T,m}`, the same ``pos`` and copies of every other
    node attribute (``x`` included, so a feature derived from :math:`p_T` is *not*
    rescaled) follows the old particles of its jet (daughters in the order of
    their mothers).  ``p4`` is scaled like :math:`p_T` (a massless collinear split
    conserves the jet's four-momentum).  Edges are dropped.

    Args:
        data: A jet graph or a batch of them (needs ``pt``).
        index: The distinct nodes to split, shape ``(S,)`` (or a boolean mask ``(N,)``).
        fraction: :math:`f \in [0, 1]` carried by each daughter, shape ``(S,)`` or scalar.

    Shapes:
        - **input:** :math:`N` nodes
        - **output:** a new graph with :math:`N + S` nodes
    """
    check_jet(data, need_pt=True)
    batch, num_graphs = jet_index(data)
    n = data.pos.size(0)
    index = torch.as_tensor(index, device=data.pos.device)
    if index.dtype == torch.bool:
        if index.shape != (n,):
            raise InputShapeError(f"a mask index must have shape ({n},), got {tuple(index.shape)}")
        index = index.nonzero().flatten()
    index = index.long().reshape(-1)
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
        raise InputShapeError(f"index holds nodes outside [0, {n})")
    if torch.unique(index).numel() != index.numel():
        raise ValueError("index must name every split particle once")
    f = torch.as_tensor(fraction, dtype=data.pt.dtype, device=data.pt.device).reshape(-1)
    if f.numel() == 1:
        f = f.expand(index.numel())
    if f.numel() != index.numel():
        raise InputShapeError(f"fraction must be a scalar or hold one value per split ({index.numel()})")
    if index.numel():  # daughters in node order; each fraction stays with its particle
        index, order = torch.sort(index)
        f = f[order]
    check_finite(f, "fraction")
    if bool(((f < 0) | (f > 1)).any()):
        raise ValueError("fraction must lie in [0, 1]")
    new = {key: data[key][index] for key in _node_keys(data)}
    keep = torch.ones(n, dtype=data.pt.dtype, device=data.pt.device)
    keep[index] = 1.0 - f
    old = {"pt": data.pt * keep}
    new["pt"] = data.pt[index] * f
    if getattr(data, "p4", None) is not None:
        old["p4"] = data.p4 * keep.to(data.p4.dtype).unsqueeze(-1)
        new["p4"] = data.p4[index] * f.to(data.p4.dtype).unsqueeze(-1)
    return _append_nodes(data, batch, num_graphs, batch[index], new, old)


def add_soft_particles(
    data: GraphLike,
    pos: Tensor,
    graph: Optional[Tensor] = None,
    source: Optional[Tensor] = None,
    pos_columns: Optional[Sequence[int]] = None,
) -> GraphLike:
    r"""Add particles with :math:`p_T = 0` (and :math:`p^\mu = 0`) at ``pos`` to the jets ``graph``.

    Soft particle :math:`s` sits at :math:`\mathbf{p}_s` (``pos[s]``, :math:`\Delta\phi`
    wrapped) and copies every other node attribute (``x`` included, except its
    ``pos_columns``, which are set to :math:`\mathbf{p}_s`) from particle
    ``source[s]`` of its jet (default: the first particle of the jet).  The new
    particles follow the old ones of their jet.  Edges are dropped.

    Args:
        data: A jet graph or a batch of them (needs ``pt``).
        pos: Positions of the soft particles, shape ``(M, 2)``.
        graph: Jet of every soft particle, shape ``(M,)`` (default: jet 0, for one jet).
        source: Node that every soft particle copies its other attributes from, shape ``(M,)``.
        pos_columns: Columns of ``x`` set to the new position.

    Shapes:
        - **input:** :math:`N` nodes, ``pos`` :math:`(M, 2)`
        - **output:** a new graph with :math:`N + M` nodes
    """
    check_jet(data, need_pt=True)
    cols = _check_columns(data, pos_columns)
    batch, num_graphs = jet_index(data)
    device = data.pos.device
    pos = torch.as_tensor(pos, dtype=data.pos.dtype, device=device)
    if pos.dim() != 2 or pos.size(1) != 2:
        raise InputShapeError(f"soft particle pos must have shape (M, 2), got {tuple(pos.shape)}")
    check_finite(pos, "soft particle pos")
    m = pos.size(0)
    graph = torch.zeros(m, dtype=torch.long, device=device) if graph is None else \
        torch.as_tensor(graph, device=device).long().reshape(-1)
    if graph.numel() != m or (m and (int(graph.min()) < 0 or int(graph.max()) >= num_graphs)):
        raise InputShapeError(f"graph must hold one jet in [0, {num_graphs}) per soft particle ({m})")
    counts = torch.bincount(batch, minlength=num_graphs)
    if bool((counts[graph] == 0).any()):
        raise EmptyGraphError("soft particles can only be added to jets with at least one particle")
    if source is None:
        ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        source = ptr[graph]
    source = torch.as_tensor(source, device=device).long().reshape(-1)
    if source.numel() != m or not torch.equal(batch[source], graph):
        raise InputShapeError("source must name one particle of the soft particle's own jet per soft particle")
    new_pos = torch.stack([pos[:, 0], wrap_phi(pos[:, 1])], dim=-1)
    new = {}
    for key in _node_keys(data):
        extra = data[key][source]
        if key == "pos":
            extra = new_pos
        elif key in ("pt", "p4"):
            extra = torch.zeros_like(extra)
        elif key == "x" and cols is not None:
            extra = extra.clone()
            extra[:, cols] = new_pos.to(extra.dtype)
        new[key] = extra
    return _append_nodes(data, batch, num_graphs, graph, new)


__all__ = [
    "P4_MODES",
    "wrap_phi",
    "wrap_phi_per_jet",
    "jet_axis",
    "pos_from_p4",
    "massless_p4",
    "check_p4_mode",
    "check_jet",
    "jet_index",
    "set_pos",
    "rotate",
    "translate",
    "permutation_within_jets",
    "permute_nodes",
    "set_edges",
    "split_collinear",
    "add_soft_particles",
]
