r"""Numerical symmetry checks for models on jet graphs.

Each check transforms a batch of jets, runs the model on the original and the
transformed batch (eval mode, no gradients) and returns the largest absolute
change of the output,

.. math::
    \Delta = \max \lvert f(T G) - f(G) \rvert
    \qquad\text{(or } \max\lvert f(TG) - T f(G)\rvert \text{ for node outputs).}

Transformations :math:`T` (all vectorised over the jets of the batch):

- permutation of the particles of each jet,
- translation of all particles of a jet in :math:`(\eta, \phi)`,
- rotation about the jet axis (the origin of ``pos``),
- soft emission: a particle with :math:`p_T = 0` added to every jet,
- collinear splitting: one particle per jet replaced by two at the same
  :math:`(\eta, \phi)` carrying fractions :math:`f` and :math:`1-f` of its
  :math:`p_T` (and four-momentum).

A model is invariant to :math:`T` when :math:`\Delta` is at round-off level
(:math:`< 10^{-5}`); IRC safety means invariance to the last two.

Node features: give ``features=callable`` to recompute ``batch.x`` from the
transformed ``pos``/``pt``/``p4``; otherwise the columns ``pos_columns`` of
``x`` move with ``pos``, and new particles copy the ``x`` row of the particle
they come from.  IRC checks are only meaningful when the per-particle input of
the model is angular (as for an Energy Flow Network): a feature such as
:math:`\log p_T` is not defined for a soft particle.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch

from .errors import InputShapeError
from .nn.knn import knn_graph

Features = Optional[Callable[[Batch], Tensor]]


# ----------------------------------------------------------------- helpers
def _edge_keys(batch: Batch) -> list[str]:
    ei = getattr(batch, "edge_index", None)
    if ei is None:
        return []
    slices = getattr(batch, "_slice_dict", {}) or {}
    e_slice = slices.get("edge_index")
    out = []
    for k in batch.keys():
        if k in ("batch", "ptr", "edge_index") or not isinstance(batch[k], Tensor):
            continue
        s = slices.get(k)
        if s is not None and e_slice is not None and torch.equal(s, e_slice):
            out.append(k)
        elif s is None and k == "edge_attr" and batch[k].size(0) == ei.size(1):
            out.append(k)
    return out


def _node_keys(batch: Batch) -> list[str]:
    n = batch.num_nodes
    skip = set(_graph_keys(batch)) | set(_edge_keys(batch)) | {"batch", "ptr", "edge_index"}
    return [k for k in batch.keys() if k not in skip
            and isinstance(batch[k], Tensor) and batch[k].dim() > 0 and batch[k].size(0) == n]


def _graph_keys(batch: Batch) -> list[str]:
    slices = getattr(batch, "_slice_dict", {}) or {}
    n_graphs = batch.num_graphs
    out = []
    for k in batch.keys():
        if k in ("batch", "ptr", "edge_index") or not isinstance(batch[k], Tensor):
            continue
        s = slices.get(k)
        if s is not None and torch.equal(s.cpu(), torch.arange(n_graphs + 1)):
            out.append(k)
    return out


def _counts(batch: Batch) -> Tensor:
    return torch.bincount(batch.batch, minlength=batch.num_graphs)


def _rebuild(batch: Batch, nodes: dict[str, Tensor], counts: Tensor, k: Optional[int]) -> Batch:
    """A new Batch from node tensors grouped by graph, with a fresh kNN graph if asked."""
    from .graphs.cloud import batch_from_flat

    graph_attrs = {key: batch[key] for key in _graph_keys(batch)}
    edge_index = None
    if k is not None:
        b = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
        edge_index = knn_graph(nodes["pos"], k, b)
    return batch_from_flat(nodes, counts, edge_index=edge_index, graph_attrs=graph_attrs)


def _edge_k(batch: Batch, k: Optional[int]) -> Optional[int]:
    if k is not None:
        return k
    ei = getattr(batch, "edge_index", None)
    if ei is None or ei.numel() == 0:
        return None
    return int(torch.bincount(ei[1], minlength=batch.num_nodes).max())


def _finish(batch: Batch, features: Features) -> Batch:
    if features is not None:
        batch.x = features(batch)
    return batch


def _check(batch: Batch) -> None:
    if getattr(batch, "pos", None) is None:
        raise InputShapeError("symmetry checks need batch.pos (delta eta, delta phi)")
    if getattr(batch, "batch", None) is None:
        raise InputShapeError("symmetry checks need a PyG Batch (batch.batch)")


def _grouped(batch: Batch, extra_owner: Tensor) -> Tensor:
    """Stable order putting every node (old ones first) with its graph."""
    owner = torch.cat([batch.batch, extra_owner])
    is_new = torch.cat([torch.zeros_like(batch.batch), torch.ones_like(extra_owner)])
    key = owner * 2 + is_new
    return torch.argsort(key, stable=True)


# ---------------------------------------------------------- transformations
def permute_nodes(batch: Batch, seed: int = 0, return_perm: bool = False):
    """Permute the particles inside every jet (edges relabelled consistently)."""
    _check(batch)
    g = torch.Generator().manual_seed(seed)
    key = batch.batch.double() + torch.rand(batch.num_nodes, generator=g, dtype=torch.float64) * 0.5
    perm = torch.argsort(key)
    out = batch.clone()
    for k in _node_keys(batch):
        out[k] = batch[k][perm]
    ei = getattr(batch, "edge_index", None)
    if ei is not None:
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(perm.numel())
        new = inv[ei]
        order = torch.argsort(new[1], stable=True)
        out.edge_index = new[:, order]
        for key in _edge_keys(batch):
            out[key] = batch[key][order]
    return (out, perm) if return_perm else out


def translate(batch: Batch, shift: Sequence[float] = (0.3, -0.5), pos_columns: Sequence[int] = (0, 1),
              features: Features = None) -> Batch:
    """Shift every particle by ``shift`` in :math:`(\\eta, \\phi)`."""
    _check(batch)
    s = torch.as_tensor(shift, dtype=batch.pos.dtype)
    out = batch.clone()
    out.pos = batch.pos + s
    if features is None and getattr(batch, "x", None) is not None and pos_columns:
        x = batch.x.clone()
        x[:, list(pos_columns)] += s
        out.x = x
    return _finish(out, features)


def rotate(batch: Batch, angle: float = 0.7, pos_columns: Sequence[int] = (0, 1),
           features: Features = None) -> Batch:
    """Rotate every particle by ``angle`` about the jet axis (the origin of ``pos``)."""
    _check(batch)
    c, s = math.cos(angle), math.sin(angle)
    rot = torch.tensor([[c, -s], [s, c]], dtype=batch.pos.dtype)
    out = batch.clone()
    out.pos = batch.pos @ rot.t()
    if features is None and getattr(batch, "x", None) is not None and pos_columns:
        x = batch.x.clone()
        x[:, list(pos_columns)] = batch.x[:, list(pos_columns)] @ rot.t()
        out.x = x
    return _finish(out, features)


def add_soft_particles(batch: Batch, n_soft: int = 1, seed: int = 0, pos_columns: Sequence[int] = (0, 1),
                       features: Features = None, k: Optional[int] = None) -> Batch:
    """Add ``n_soft`` particles with zero :math:`p_T` (and zero four-momentum) to every jet.

    Each sits at a random point of the jet's :math:`(\\eta, \\phi)` bounding
    box and copies the ``x`` row of a random particle of its jet (with the
    ``pos_columns`` set to its own position).
    """
    _check(batch)
    g = torch.Generator().manual_seed(seed)
    counts = _counts(batch)
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    owner = torch.arange(batch.num_graphs).repeat_interleave(n_soft)
    origin = ptr[owner] + (torch.rand(owner.numel(), generator=g) * counts[owner]).long()
    from torch_geometric.utils import scatter

    lo = scatter(batch.pos, batch.batch, 0, reduce="min", dim_size=batch.num_graphs)
    hi = scatter(batch.pos, batch.batch, 0, reduce="max", dim_size=batch.num_graphs)
    u = torch.rand(owner.numel(), 2, generator=g, dtype=batch.pos.dtype)
    new_pos = lo[owner] + u * (hi[owner] - lo[owner])
    order = _grouped(batch, owner)
    nodes = {}
    for key in _node_keys(batch):
        extra = batch[key][origin].clone()
        if key == "pos":
            extra = new_pos
        elif key in ("pt", "p4"):
            extra = torch.zeros_like(extra)
        elif key == "x" and features is None and pos_columns:
            extra[:, list(pos_columns)] = new_pos.to(extra.dtype)
        nodes[key] = torch.cat([batch[key], extra])[order]
    out = _rebuild(batch, nodes, counts + n_soft, _edge_k(batch, k))
    return _finish(out, features)


def split_collinear(batch: Batch, fraction: float = 0.5, seed: int = 0, features: Features = None,
                    k: Optional[int] = None) -> Batch:
    """Split one random particle per jet into two collinear ones (fractions ``f`` and ``1-f``)."""
    _check(batch)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    g = torch.Generator().manual_seed(seed)
    counts = _counts(batch)
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    owner = torch.arange(batch.num_graphs)
    origin = ptr[owner] + (torch.rand(owner.numel(), generator=g) * counts[owner]).long()
    order = _grouped(batch, owner)
    nodes = {}
    for key in _node_keys(batch):
        base = batch[key].clone()
        extra = batch[key][origin].clone()
        if key in ("pt", "p4"):
            extra = extra * fraction
            base[origin] = base[origin] * (1.0 - fraction)
        nodes[key] = torch.cat([base, extra])[order]
    out = _rebuild(batch, nodes, counts + 1, _edge_k(batch, k))
    return _finish(out, features)


# ------------------------------------------------------------------ checks
@torch.no_grad()
def _run(model: Callable, batch: Batch) -> Tensor:
    return model(batch)


def _compare(model: Any, a: Batch, b: Batch) -> float:
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        return float((_run(model, a) - _run(model, b)).abs().max())
    finally:
        if was_training and hasattr(model, "train"):
            model.train()


def permutation_error(model: Any, batch: Batch, node_level: bool = False, seed: int = 0) -> float:
    """Largest output change under a permutation of the particles of each jet.

    With ``node_level=True`` the outputs are per node and are compared after
    undoing the permutation (equivariance).
    """
    pb, perm = permute_nodes(batch, seed, return_perm=True)
    if not node_level:
        return _compare(model, batch, pb)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        return float((_run(model, pb) - _run(model, batch)[perm]).abs().max())
    finally:
        if was_training:
            model.train()


def translation_error(model: Any, batch: Batch, shift: Sequence[float] = (0.3, -0.5),
                      pos_columns: Sequence[int] = (0, 1), features: Features = None) -> float:
    """Largest output change under a translation in :math:`(\\eta, \\phi)`."""
    return _compare(model, batch, translate(batch, shift, pos_columns, features))


def rotation_error(model: Any, batch: Batch, angle: float = 0.7, pos_columns: Sequence[int] = (0, 1),
                   features: Features = None) -> float:
    """Largest output change under a rotation about the jet axis."""
    return _compare(model, batch, rotate(batch, angle, pos_columns, features))


def soft_emission_error(model: Any, batch: Batch, n_soft: int = 1, seed: int = 0,
                        pos_columns: Sequence[int] = (0, 1), features: Features = None) -> float:
    """Largest output change when zero-:math:`p_T` particles are added (infrared safety)."""
    return _compare(model, batch, add_soft_particles(batch, n_soft, seed, pos_columns, features))


def collinear_split_error(model: Any, batch: Batch, fraction: float = 0.5, seed: int = 0,
                          features: Features = None) -> float:
    """Largest output change when a particle is split collinearly (collinear safety)."""
    return _compare(model, batch, split_collinear(batch, fraction, seed, features))


def check_all(model: Any, batch: Batch, features: Features = None, pos_columns: Sequence[int] = (0, 1)) -> dict[str, float]:
    """All five checks: ``{"permutation": ..., "translation": ..., "rotation": ..., "soft": ..., "collinear": ...}``."""
    return {
        "permutation": permutation_error(model, batch),
        "translation": translation_error(model, batch, pos_columns=pos_columns, features=features),
        "rotation": rotation_error(model, batch, pos_columns=pos_columns, features=features),
        "soft": soft_emission_error(model, batch, pos_columns=pos_columns, features=features),
        "collinear": collinear_split_error(model, batch, features=features),
    }


__all__ = [
    "permute_nodes", "translate", "rotate", "add_soft_particles", "split_collinear",
    "permutation_error", "translation_error", "rotation_error", "soft_emission_error",
    "collinear_split_error", "check_all",
]
