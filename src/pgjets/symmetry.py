r"""Numerical symmetry checks for models on jet graphs.

Each check transforms a batch of jets with :math:`T`, runs the model on the
original and on the transformed batch (eval mode, no gradients, the model's
train/eval modes restored afterwards) and returns the largest absolute change
of the output,

.. math::
    \Delta_T = \max \big\lvert f(T G) - f(G) \big\rvert
    \qquad\text{or, for node outputs,}\qquad
    \Delta_\pi = \max \big\lvert f(\pi G) - \pi f(G) \big\rvert .

Transformations (all vectorised over the jets of the batch; the input batch is
never modified):

- :func:`permute_nodes`: a random permutation of the particles of every jet
  (all node attributes permuted alike, ``edge_index`` relabelled);
- :func:`translate`: :math:`(\Delta\eta, \Delta\phi) \mapsto (\Delta\eta + a, \Delta\phi + b)`
  (:math:`\Delta\phi` wrapped to :math:`(-\pi, \pi]` per jet and ``p4`` recomputed, as everywhere:
  the operations are those of :mod:`pgjets.transforms`);
- :func:`rotate`: rotation by :math:`\alpha` about the jet axis (the origin of ``pos``);
- :func:`add_soft_particles`: soft particles (:math:`p_T = 0`, or a tiny fraction of the jet's:
  :func:`soft_emission_error` uses :math:`10^{-7}`) added inside every jet (infrared safety);
- :func:`split_collinear`: one particle per jet (the hardest, by default) replaced by two at the same
  :math:`(\eta, \phi)` with :math:`p_T` fractions :math:`f` and :math:`1 - f`
  (and :math:`p^\mu` likewise; collinear safety).

A model is invariant to :math:`T` when :math:`\Delta_T` is at round-off level
(say :math:`< 10^{-5}`); IRC safety means invariance to the last two.

**Node features.**  Pass ``features=callable(batch) -> x`` to recompute
``batch.x`` from the transformed ``pos``/``pt``/``p4``.  Without it, ``x`` is
transformed consistently where possible: the columns ``pos_columns`` of ``x``
are translated/rotated like ``pos``; a collinear daughter copies the ``x`` row
of its mother and a soft particle the ``x`` row of a random particle of its jet
(with its ``pos_columns`` set to its own position).  IRC checks are therefore
only meaningful when the model's per-particle input is *angular only* (as in an
Energy Flow Network): copied features such as :math:`\log p_T` would not match
the new :math:`p_T`, and are not even defined for a soft particle.

**Edges.**  If the batch has an ``edge_index``, the transformed batch gets one
too: permutations relabel it; translations and rotations keep it (a kNN graph
on ``pos`` is unchanged by them); soft emission and collinear splitting rebuild
it with ``rebuild_edges(batch)`` when given, else with a kNN graph on ``pos``
(:func:`pgjets.nn.knn_graph`) whose ``k`` is the ``k`` argument or, when
``None``, the largest in-degree of the original graph.  Edge attributes are
kept where edges are kept and dropped where edges are rebuilt (unless
``rebuild_edges`` returns ``(edge_index, edge_attr)``).  Models that build their
own graphs simply ignore ``edge_index``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch

from . import transforms as T
from ._checks import check_finite, check_ndim, check_nonempty, check_positive_int, check_size
from .errors import EmptyGraphError, InputDtypeError, InputShapeError
from .ops.knn import knn_graph

Features = Optional[Callable[[Batch], Tensor]]
EdgeBuilder = Optional[Callable[[Batch], Union[Tensor, tuple]]]


# ----------------------------------------------------------------- helpers
def _require_batch(batch: Any) -> None:
    if not isinstance(batch, Batch):
        raise InputShapeError(
            f"symmetry checks need a torch_geometric Batch, got {type(batch).__name__} "
            "(use Batch.from_data_list([...]))"
        )


def _check_pos(pos: Tensor) -> None:
    check_ndim(pos, 2, "batch.pos", "(num_nodes, 2)")
    check_size(pos, 1, 2, "batch.pos")
    if not pos.is_floating_point():  # an integer pos would round every shift and angle to nothing
        raise InputDtypeError(f"batch.pos must be floating point, got {pos.dtype}")
    check_finite(pos, "batch.pos")


def _validate(batch: Any, need_pt: bool = False) -> None:
    """Check that ``batch`` is a non-empty PyG batch of jets."""
    _require_batch(batch)
    check_nonempty(int(batch.num_nodes or 0), "batch")
    pos = getattr(batch, "pos", None)
    if pos is None:
        raise InputShapeError("symmetry checks need batch.pos (num_nodes, 2) = (delta eta, delta phi)")
    _check_pos(pos)
    if need_pt:
        pt = getattr(batch, "pt", None)
        if pt is None:
            raise InputShapeError("IRC checks need batch.pt (num_nodes,)")
        check_ndim(pt, 1, "batch.pt", "(num_nodes,)")
        check_finite(pt, "batch.pt")


def _counts(batch: Batch) -> Tensor:
    return torch.bincount(batch.batch, minlength=batch.num_graphs)


def _require_nonempty_jets(counts: Tensor) -> None:
    if bool((counts == 0).any()):
        empty = torch.nonzero(counts == 0).flatten().tolist()
        raise EmptyGraphError(f"jets {empty} have no particles; IRC transformations need at least one")


def _check_columns(batch: Batch, pos_columns: Sequence[int]) -> list[int]:
    cols = [int(c) for c in pos_columns]
    x = getattr(batch, "x", None)
    if x is not None and cols:
        check_ndim(x, 2, "batch.x", "(num_nodes, features)")
        if len(cols) != 2:
            raise ValueError(f"pos_columns must name two columns of x (eta, phi), got {cols}")
        if max(cols) >= x.size(1) or min(cols) < -x.size(1):
            raise InputShapeError(f"pos_columns {cols} are out of range for x with {x.size(1)} features")
        held = x[:, cols].to(batch.pos.dtype)
        if not torch.allclose(held, batch.pos, rtol=1e-4, atol=1e-5):  # else the check overwrites other features
            raise InputShapeError(f"x[:, {cols}] does not hold pos (delta eta, delta phi): pass pos_columns=() "
                                  "when x has no position columns, the right pos_columns, or features= to "
                                  "recompute x")
    return cols


def _x_columns(batch: Batch, cols: list[int], features: Features) -> Optional[list[int]]:
    """The ``pos_columns`` that :mod:`pgjets.transforms` writes (none when ``features`` recomputes ``x``)."""
    return cols if features is None and cols and getattr(batch, "x", None) is not None else None


def _in_degree_k(batch: Batch, k: Optional[int]) -> Optional[int]:
    if k is not None:
        return check_positive_int(k, "k")
    ei = getattr(batch, "edge_index", None)
    if ei is None or ei.numel() == 0:
        return None
    return int(torch.bincount(ei[1], minlength=batch.num_nodes).max())


def _with_edges(batch: Batch, original: Batch, rebuild_edges: EdgeBuilder, k: Optional[int]) -> Batch:
    """Give a batch with new nodes an edge_index if the original had one."""
    if getattr(original, "edge_index", None) is None and rebuild_edges is None:
        return batch
    if rebuild_edges is not None:
        res = rebuild_edges(batch)
        edge_index, edge_attr = (res if isinstance(res, tuple) else (res, None))
    else:
        kk = _in_degree_k(original, k)
        if kk is None:
            edge_index, edge_attr = torch.empty(2, 0, dtype=torch.long, device=batch.pos.device), None
        else:
            edge_index, edge_attr = knn_graph(batch.pos, kk, batch.batch), None
    return T.set_edges(batch, edge_index, edge_attr)


def _finish(batch: Batch, features: Features) -> Batch:
    if features is not None:
        x = features(batch)
        if not isinstance(x, Tensor) or x.size(0) != batch.num_nodes:
            raise InputShapeError(f"features(batch) must return a tensor with {batch.num_nodes} rows")
        batch.x = x
    return batch


# ---------------------------------------------------------- transformations
def permute_nodes(batch: Batch, seed: int = 0, return_perm: bool = False,
                  features: Features = None) -> Union[Batch, tuple[Batch, Tensor]]:
    r"""Permute the particles inside every jet.

    Node :math:`i` of the result is node ``perm[i]`` of the input; every node
    attribute is permuted alike, ``edge_index`` is relabelled (edges sorted by
    target) and edge attributes follow their edges.

    Args:
        batch: Batch of jet graphs.
        seed: Seed of the permutation.
        return_perm: Also return ``perm``.
        features: Optional recomputation of ``x`` from the permuted attributes.

    Shapes:
        - **output:** a new ``Batch`` with the same sizes (and ``perm`` :math:`(N,)`)
    """
    _validate(batch)
    g = torch.Generator().manual_seed(int(seed))
    noise = torch.rand(batch.num_nodes, generator=g, dtype=torch.float64)
    perm = T.permutation_within_jets(batch.batch.cpu(), noise).to(batch.batch.device)
    out = _finish(T.permute_nodes(batch, perm), features)
    return (out, perm) if return_perm else out


def translate(batch: Batch, shift: Optional[Sequence[float]] = (0.3, -0.5), pos_columns: Sequence[int] = (0, 1),
              features: Features = None, seed: int = 0, p4_mode: str = "recompute") -> Batch:
    r"""Shift every particle in :math:`(\eta, \phi)`: :math:`\mathbf{p}_i \mapsto \mathbf{p}_i + \mathbf{s}`.

    Args:
        batch: Batch of jet graphs.
        shift: :math:`(\Delta\eta, \Delta\phi)`; ``None`` draws one per jet from
            :math:`\mathcal{U}(-1, 1)^2` with ``seed``.
        pos_columns: Columns of ``x`` that hold ``pos`` (shifted alike when
            ``features`` is ``None``; ``()`` = none).
        features: Optional recomputation of ``x`` from the transformed batch.
        seed: Seed for ``shift=None``.
        p4_mode: ``"recompute"`` (``p4`` from the new ``pos``, same :math:`p_T` and masses) or ``"drop"``
            (see :mod:`pgjets.transforms`).

    Shapes:
        - **output:** a new ``Batch``, same sizes and edges
    """
    _validate(batch)
    cols = _check_columns(batch, pos_columns)
    if shift is None:
        g = torch.Generator().manual_seed(int(seed))
        s = (torch.rand(batch.num_graphs, 2, generator=g) * 2 - 1).to(batch.pos)
    else:
        s = torch.as_tensor(shift, dtype=batch.pos.dtype, device=batch.pos.device)
        if s.shape != (2,):
            raise InputShapeError(f"shift must be (delta eta, delta phi), got shape {tuple(s.shape)}")
        check_finite(s, "shift")
    return _finish(T.translate(batch, s, _x_columns(batch, cols, features), p4_mode), features)


def rotate(batch: Batch, angle: float = 0.7, pos_columns: Sequence[int] = (0, 1),
           features: Features = None, p4_mode: str = "recompute") -> Batch:
    r"""Rotate every particle by ``angle`` about the jet axis (the origin of ``pos``).

    .. math::
        \mathbf{p}_i \mapsto \begin{pmatrix}\cos\alpha & -\sin\alpha \\ \sin\alpha & \cos\alpha\end{pmatrix}
        \mathbf{p}_i

    Args:
        batch: Batch of jet graphs.
        angle: Rotation angle :math:`\alpha` in radians.
        pos_columns: Columns of ``x`` that hold ``pos`` (rotated alike when
            ``features`` is ``None``; ``()`` = none).
        features: Optional recomputation of ``x`` from the transformed batch.
        p4_mode: ``"recompute"`` (``p4`` from the new ``pos``, same :math:`p_T` and masses) or ``"drop"``.

    Shapes:
        - **output:** a new ``Batch``, same sizes and edges
    """
    _validate(batch)
    cols = _check_columns(batch, pos_columns)
    if not math.isfinite(float(angle)):
        raise ValueError(f"angle must be finite, got {angle}")
    return _finish(T.rotate(batch, float(angle), _x_columns(batch, cols, features), p4_mode), features)


def add_soft_particles(batch: Batch, n_soft: int = 1, seed: int = 0, pos_columns: Sequence[int] = (0, 1),
                       features: Features = None, k: Optional[int] = None,
                       rebuild_edges: EdgeBuilder = None, pt_fraction: float = 0.0) -> Batch:
    r"""Add ``n_soft`` soft particles to every jet: :math:`p_T = 0` (and :math:`p^\mu = 0`), or
    :math:`p_T = \epsilon \sum_{i \in \text{jet}} p_{T,i}` with ``pt_fraction`` :math:`\epsilon > 0`
    (massless, :math:`p^\mu` along its direction when the batch has ``p4``).

    Each soft particle sits at a uniformly random point of its jet's
    :math:`(\eta, \phi)` bounding box and copies every other node attribute
    (``x`` included, except its ``pos_columns``) from a random particle of its
    jet.  The new particles follow the old ones of their jet.  A finite soft
    :math:`p_T` is what infrared safety is about: a model that masks particles
    of :math:`p_T = 0` as padding, or counts the particles with :math:`p_T > 0`,
    sees an exactly soft particle as nothing.

    Args:
        batch: Batch of jet graphs (needs ``pos`` and ``pt``).
        n_soft: Soft particles per jet.
        seed: Seed for positions and copied rows.
        pos_columns: Columns of ``x`` set to the new position (when ``features`` is ``None``).
        features: Optional recomputation of ``x``.
        k: ``k`` of the rebuilt kNN graph (default: the original largest in-degree).
        rebuild_edges: Optional ``callable(batch) -> edge_index`` (or ``(edge_index, edge_attr)``).
        pt_fraction: :math:`p_T` of each soft particle as a fraction of its jet's scalar
            :math:`p_T` sum (0: exactly soft).

    Shapes:
        - **output:** a new ``Batch`` with :math:`N + B \cdot n_{soft}` nodes
    """
    _validate(batch, need_pt=True)
    n_soft = check_positive_int(n_soft, "n_soft")
    if not 0.0 <= float(pt_fraction) < 1.0:
        raise ValueError(f"pt_fraction must be in [0, 1), got {pt_fraction!r}")
    cols = _check_columns(batch, pos_columns)
    counts = _counts(batch)
    _require_nonempty_jets(counts)
    device = batch.pos.device
    g = torch.Generator().manual_seed(int(seed))
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    owner = torch.arange(batch.num_graphs, device=device).repeat_interleave(n_soft)
    pick = (torch.rand(owner.numel(), generator=g).to(device) * counts[owner]).long()
    origin = ptr[owner] + pick.clamp_max(counts[owner] - 1)
    from torch_geometric.utils import scatter

    lo = scatter(batch.pos, batch.batch, 0, dim_size=batch.num_graphs, reduce="min")
    hi = scatter(batch.pos, batch.batch, 0, dim_size=batch.num_graphs, reduce="max")
    u = torch.rand(owner.numel(), 2, generator=g, dtype=batch.pos.dtype).to(device)
    new_pos = lo[owner] + u * (hi[owner] - lo[owner])
    out = T.add_soft_particles(batch, new_pos, owner, origin, _x_columns(batch, cols, features))
    if pt_fraction > 0:  # the new nodes are the last n_soft of every jet, in the order of owner
        end = (counts + n_soft).cumsum(0)
        new = end[owner] - n_soft + torch.arange(n_soft, device=device).repeat(batch.num_graphs)
        soft_pt = float(pt_fraction) * scatter(batch.pt, batch.batch, 0, dim_size=batch.num_graphs)[owner]
        out.pt = out.pt.clone()
        out.pt[new] = soft_pt.to(out.pt.dtype)
        if getattr(out, "p4", None) is not None:
            eta_j, phi_j = T.jet_axis(batch)
            p = out.pos[new]
            out.p4 = out.p4.clone()
            out.p4[new] = T.massless_p4(soft_pt.to(p.dtype), eta_j[owner] + p[:, 0],
                                        phi_j[owner] + p[:, 1]).to(out.p4.dtype)
    out = _finish(out, features)
    return _with_edges(out, batch, rebuild_edges, k)


def split_collinear(batch: Batch, fraction: float = 0.5, seed: int = 0, features: Features = None,
                    k: Optional[int] = None, rebuild_edges: EdgeBuilder = None, which: str = "hardest") -> Batch:
    r"""Split one particle per jet, the hardest (default) or a random one, into two collinear ones.

    The hardest particle is the strictest choice: an observable of the leading
    particle (its :math:`p_T`, say) changes under its split, while a random,
    usually soft, particle hardly matters to it.

    The mother :math:`m` keeps its place with :math:`p_T \mapsto (1 - f)\, p_{T,m}`
    (and :math:`p^\mu \mapsto (1 - f)\, p^\mu_m`); a daughter with
    :math:`f\, p_{T,m}`, :math:`f\, p^\mu_m`, the same ``pos`` and copies of every
    other node attribute (``x`` included) is appended to the jet.

    Args:
        batch: Batch of jet graphs (needs ``pos`` and ``pt``).
        fraction: :math:`f \in (0, 1)`.
        seed: Seed for the choice of the split particle (``which="random"``).
        features: Optional recomputation of ``x``.
        k: ``k`` of the rebuilt kNN graph (default: the original largest in-degree).
        rebuild_edges: Optional ``callable(batch) -> edge_index`` (or ``(edge_index, edge_attr)``).
        which: ``"hardest"`` (largest :math:`p_T` of each jet) or ``"random"``.

    Shapes:
        - **output:** a new ``Batch`` with :math:`N + B` nodes
    """
    _validate(batch, need_pt=True)
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if which not in ("hardest", "random"):
        raise ValueError(f"which must be 'hardest' or 'random', got {which!r}")
    counts = _counts(batch)
    _require_nonempty_jets(counts)
    device = batch.pos.device
    if which == "hardest":
        from torch_geometric.utils import scatter

        node = torch.arange(batch.pt.numel(), device=device)
        best = scatter(batch.pt, batch.batch, 0, dim_size=batch.num_graphs, reduce="max")
        first = torch.where(batch.pt == best[batch.batch], node, batch.pt.numel())
        origin = scatter(first, batch.batch, 0, dim_size=batch.num_graphs, reduce="min")  # first of ties
    else:
        g = torch.Generator().manual_seed(int(seed))
        ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        pick = (torch.rand(batch.num_graphs, generator=g).to(device) * counts).long()
        origin = ptr[:-1] + pick.clamp_max(counts - 1)
    out = _finish(T.split_collinear(batch, origin, float(fraction)), features)
    return _with_edges(out, batch, rebuild_edges, k)


# ------------------------------------------------------------------ checks
def _flat(out: Any) -> Tensor:
    """The model output as one flat float tensor (tensors, tuples/lists, dicts)."""
    if isinstance(out, Tensor):
        return out.detach().reshape(-1).to(torch.float64)
    if isinstance(out, dict):
        return torch.cat([_flat(out[key]) for key in sorted(out)]) if out else torch.zeros(0)
    if isinstance(out, (tuple, list)):
        return torch.cat([_flat(o) for o in out]) if out else torch.zeros(0)
    raise TypeError(f"model output must be a tensor (or tuple/dict of tensors), got {type(out).__name__}")


def _evaluate(model: Callable, batches: Sequence[Batch]) -> list[Any]:
    """Run ``model`` on each batch in eval mode under ``no_grad``; restore every module's mode."""
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, torch.nn.Module) else []
    if isinstance(model, torch.nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            return [model(b) for b in batches]
    finally:
        for m, mode in modes:
            m.training = mode


def _max_change(a: Any, b: Any, what: str) -> float:
    fa, fb = _flat(a), _flat(b)
    if fa.shape != fb.shape:
        raise InputShapeError(
            f"the model's output changed size under {what} ({fa.numel()} vs {fb.numel()} values); "
            "this check needs graph-level outputs"
        )
    if fa.numel() == 0:
        return 0.0
    diff = (fa - fb).abs()
    if bool(torch.isnan(diff).any()):
        return float("nan")
    return float(diff.max())


def permutation_error(model: Callable[[Batch], Any], batch: Batch, node_level: bool = False, seed: int = 0,
                      features: Features = None) -> float:
    r"""Largest output change under a permutation :math:`\pi` of the particles of each jet.

    .. math::
        \Delta_\pi = \max |f(\pi G) - f(G)| \quad\text{or, with ``node_level``,}\quad
        \max |f(\pi G) - \pi f(G)|

    Args:
        model: Callable on a ``Batch`` (an ``nn.Module`` is put in eval mode and restored).
        batch: Batch of jet graphs.
        node_level: Outputs are per node (first dimension :math:`N`); compare after
            permuting the original outputs (equivariance).
        seed: Seed of the permutation.
        features: Optional recomputation of ``x``.

    Shapes:
        - **output:** a float
    """
    pb, perm = permute_nodes(batch, seed, return_perm=True, features=features)
    ref, new = _evaluate(model, [batch, pb])
    if node_level:
        if not isinstance(ref, Tensor) or ref.size(0) != batch.num_nodes:
            raise InputShapeError(f"node_level=True needs a tensor output with {batch.num_nodes} rows")
        ref = ref[perm]
    return _max_change(new, ref, "a permutation")


def translation_error(model: Callable[[Batch], Any], batch: Batch, shift: Optional[Sequence[float]] = (0.3, -0.5),
                      pos_columns: Sequence[int] = (0, 1), features: Features = None, seed: int = 0) -> float:
    r"""Largest output change under a translation in :math:`(\eta, \phi)` (see :func:`translate`).

    Args:
        model: Callable on a ``Batch``.
        batch: Batch of jet graphs.
        shift: :math:`(\Delta\eta, \Delta\phi)`, or ``None`` for a random shift per jet.
        pos_columns: Columns of ``x`` that move with ``pos``.
        features: Optional recomputation of ``x``.
        seed: Seed for ``shift=None``.

    Shapes:
        - **output:** a float
    """
    moved = translate(batch, shift, pos_columns, features, seed)
    ref, new = _evaluate(model, [batch, moved])
    return _max_change(new, ref, "a translation")


def rotation_error(model: Callable[[Batch], Any], batch: Batch, angle: float = 0.7,
                   pos_columns: Sequence[int] = (0, 1), features: Features = None) -> float:
    r"""Largest output change under a rotation about the jet axis (see :func:`rotate`).

    Args:
        model: Callable on a ``Batch``.
        batch: Batch of jet graphs.
        angle: Rotation angle in radians.
        pos_columns: Columns of ``x`` that rotate with ``pos``.
        features: Optional recomputation of ``x``.

    Shapes:
        - **output:** a float
    """
    moved = rotate(batch, angle, pos_columns, features)
    ref, new = _evaluate(model, [batch, moved])
    return _max_change(new, ref, "a rotation")


#: The soft particles' :math:`p_T` of :func:`soft_emission_error`, as a fraction of their jet's.
SOFT_PT_FRACTION = 1e-7


def soft_emission_error(model: Callable[[Batch], Any], batch: Batch, n_soft: int = 1, seed: int = 0,
                        pos_columns: Sequence[int] = (0, 1), features: Features = None,
                        k: Optional[int] = None, rebuild_edges: EdgeBuilder = None,
                        pt_fraction: float = SOFT_PT_FRACTION) -> float:
    r"""Largest output change when soft particles are added (infrared safety; see
    :func:`add_soft_particles`).

    The soft particles carry :math:`10^{-7}` of their jet's :math:`p_T` by default
    (:data:`SOFT_PT_FRACTION`), not exactly 0: a model that treats particles of :math:`p_T = 0`
    as padding, or counts those with :math:`p_T > 0`, passes a check with exactly soft particles
    although it is not infrared safe.  An infrared-safe model changes by about that fraction
    (below float32 round-off); ``pt_fraction=0`` gives exactly soft particles.

    Args:
        model: Callable on a ``Batch`` with graph-level outputs.
        batch: Batch of jet graphs.
        n_soft: Soft particles per jet.
        seed: Seed of the soft particles.
        pos_columns: Columns of ``x`` set to the soft particle's position.
        features: Optional recomputation of ``x``.
        k: ``k`` of the rebuilt kNN graph.
        rebuild_edges: Optional edge builder.
        pt_fraction: :math:`p_T` of a soft particle as a fraction of its jet's.

    Shapes:
        - **output:** a float
    """
    moved = add_soft_particles(batch, n_soft, seed, pos_columns, features, k, rebuild_edges, pt_fraction)
    ref, new = _evaluate(model, [batch, moved])
    return _max_change(new, ref, "a soft emission")


def collinear_split_error(model: Callable[[Batch], Any], batch: Batch, fraction: float = 0.5, seed: int = 0,
                          features: Features = None, k: Optional[int] = None,
                          rebuild_edges: EdgeBuilder = None, which: str = "hardest") -> float:
    r"""Largest output change when a particle per jet (the hardest by default) is split
    collinearly (collinear safety; see :func:`split_collinear`).

    Args:
        model: Callable on a ``Batch`` with graph-level outputs.
        batch: Batch of jet graphs.
        fraction: :math:`p_T` fraction :math:`f` of the new particle.
        seed: Seed for the choice of the split particle.
        features: Optional recomputation of ``x``.
        k: ``k`` of the rebuilt kNN graph.
        rebuild_edges: Optional edge builder.
        which: ``"hardest"`` or ``"random"`` particle of each jet.

    Shapes:
        - **output:** a float
    """
    moved = split_collinear(batch, fraction, seed, features, k, rebuild_edges, which)
    ref, new = _evaluate(model, [batch, moved])
    return _max_change(new, ref, "a collinear splitting")


def check_all(model: Callable[[Batch], Any], batch: Batch, features: Features = None,
              pos_columns: Sequence[int] = (0, 1), k: Optional[int] = None,
              rebuild_edges: EdgeBuilder = None, seed: int = 0) -> dict[str, float]:
    r"""Run the five checks with their defaults.

    Args:
        model: Callable on a ``Batch`` with graph-level outputs.
        batch: Batch of jet graphs (with ``pos`` and ``pt``).
        features: Optional recomputation of ``x``.
        pos_columns: Columns of ``x`` that hold ``pos``.
        k: ``k`` of rebuilt kNN graphs.
        rebuild_edges: Optional edge builder.
        seed: Seed of every random transformation.

    Shapes:
        - **output:** ``{"permutation", "translation", "rotation", "soft", "collinear"}`` :math:`\to` float
    """
    return {
        "permutation": permutation_error(model, batch, seed=seed, features=features),
        "translation": translation_error(model, batch, pos_columns=pos_columns, features=features),
        "rotation": rotation_error(model, batch, pos_columns=pos_columns, features=features),
        "soft": soft_emission_error(model, batch, seed=seed, pos_columns=pos_columns, features=features,
                                    k=k, rebuild_edges=rebuild_edges),
        "collinear": collinear_split_error(model, batch, seed=seed, features=features, k=k,
                                           rebuild_edges=rebuild_edges),
    }



# ------------------------------------------------------------ Lorentz group
def random_lorentz(num: int = 1, max_rapidity: float = 2.0, seed: int = 0,
                   dtype: torch.dtype = torch.float64) -> Tensor:
    r"""Random proper orthochronous Lorentz transformations :math:`\Lambda \in SO^+(1, 3)`.

    Each is a boost of rapidity :math:`\eta \sim \mathcal{U}(0, \eta_{max})` along a
    uniformly random axis :math:`\hat n`, preceded and followed by uniformly random
    rotations :math:`R_1, R_2 \in SO(3)`,

    .. math::
        \Lambda = R_2\, B(\hat n, \eta)\, R_1, \qquad
        B(\hat n, \eta) = \begin{pmatrix} \cosh\eta & \sinh\eta\, \hat n^\top \\
            \sinh\eta\, \hat n & I + (\cosh\eta - 1)\, \hat n \hat n^\top \end{pmatrix},

    acting on :math:`(E, p_x, p_y, p_z)` as :math:`p \mapsto \Lambda p`; every
    :math:`\Lambda` satisfies :math:`\Lambda^\top g \Lambda = g`, :math:`\det\Lambda = 1`,
    :math:`\Lambda^0{}_0 \ge 1`.

    Args:
        num: Number of transformations.
        max_rapidity: :math:`\eta_{max} \ge 0`.
        seed: Seed of the draw.
        dtype: Floating dtype of the matrices (float64 for exactness checks).

    Shapes:
        - **output:** :math:`(\text{num}, 4, 4)`
    """
    num = check_positive_int(num, "num")
    if not (math.isfinite(float(max_rapidity)) and float(max_rapidity) >= 0):
        raise ValueError(f"max_rapidity must be finite and >= 0, got {max_rapidity}")
    g = torch.Generator().manual_seed(int(seed))

    def rotations() -> Tensor:
        q, r = torch.linalg.qr(torch.randn(num, 3, 3, generator=g, dtype=torch.float64))
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)  # Haar measure on O(3)
        det = torch.linalg.det(q)
        q[:, :, 0] = q[:, :, 0] * det.unsqueeze(-1)  # -> SO(3)
        out = torch.zeros(num, 4, 4, dtype=torch.float64)
        out[:, 0, 0] = 1.0
        out[:, 1:, 1:] = q
        return out

    r1, r2 = rotations(), rotations()
    axis = torch.randn(num, 3, generator=g, dtype=torch.float64)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    eta = torch.rand(num, generator=g, dtype=torch.float64) * float(max_rapidity)
    ch, sh = torch.cosh(eta), torch.sinh(eta)
    boost = torch.zeros(num, 4, 4, dtype=torch.float64)
    boost[:, 0, 0] = ch
    boost[:, 0, 1:] = sh.unsqueeze(-1) * axis
    boost[:, 1:, 0] = sh.unsqueeze(-1) * axis
    outer = axis.unsqueeze(-1) * axis.unsqueeze(-2)
    boost[:, 1:, 1:] = torch.eye(3, dtype=torch.float64) + (ch - 1).view(-1, 1, 1) * outer
    return (r2 @ boost @ r1).to(dtype)


def azimuthal_rotation_matrix(angle: float, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""The Lorentz matrix of a rotation by ``angle`` about the beam (:math:`z`) axis.

    .. math::
        R_z(\alpha) = \begin{pmatrix} 1 & 0 & 0 & 0 \\ 0 & \cos\alpha & -\sin\alpha & 0 \\
            0 & \sin\alpha & \cos\alpha & 0 \\ 0 & 0 & 0 & 1 \end{pmatrix}
        \quad (\phi_i \mapsto \phi_i + \alpha \text{ for every particle})

    Shapes:
        - **output:** :math:`(4, 4)`
    """
    if not math.isfinite(float(angle)):
        raise ValueError(f"angle must be finite, got {angle}")
    c, s = math.cos(float(angle)), math.sin(float(angle))
    return torch.tensor([[1.0, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]], dtype=dtype)


def _require_p4(batch: Batch) -> tuple[Tensor, Tensor]:
    """``p4`` and the graph of every particle; a batch of four-momenta only (LorentzNet's input,
    without ``batch``: its graphs come from the slice table of ``p4``) is enough."""
    _require_batch(batch)
    p4 = getattr(batch, "p4", None)
    if p4 is None:
        raise InputShapeError("Lorentz checks need batch.p4 (num_nodes, 4) = (E, px, py, pz)")
    check_ndim(p4, 2, "batch.p4", "(num_nodes, 4)")
    check_size(p4, 1, 4, "batch.p4")
    check_nonempty(p4.size(0), "batch")
    check_finite(p4, "batch.p4")
    if getattr(batch, "pos", None) is not None:
        _check_pos(batch.pos)
    graph = getattr(batch, "batch", None)
    if graph is None:
        from .ops.sizes import batch_from_slices

        rebuilt = batch_from_slices(batch, "p4")
        if rebuilt is None:
            raise InputShapeError("Lorentz checks need batch.batch, or a Batch made by Batch.from_data_list")
        graph = rebuilt[0].to(p4.device)
    return p4, graph


def lorentz_transform(batch: Batch, matrices: Optional[Tensor] = None, max_rapidity: float = 2.0,
                      seed: int = 0, features: Features = None) -> Batch:
    r"""Transform the four-momenta of every jet, :math:`p_i \mapsto \Lambda_{b(i)}\, p_i`.

    ``pos`` and ``pt`` follow the new ``p4`` (:func:`pgjets.transforms.pos_from_p4`:
    the jet axis is the summed four-momentum).  ``x`` is kept unless ``features``
    recomputes it: a model that reads kinematic node features (ParticleNet's
    :math:`\log p_T`, :math:`\log E`, ...) only sees the boost through ``features``;
    without it the check can only fail through ``p4``, ``pos`` and ``pt``.

    Args:
        batch: Batch of jet graphs with ``p4``.
        matrices: :math:`(4, 4)` (one for all jets) or :math:`(B, 4, 4)` (one per jet);
            ``None`` draws one per jet with :func:`random_lorentz`.
        max_rapidity: Largest boost rapidity of the random draw.
        seed: Seed of the random draw.
        features: Optional recomputation of ``x`` from the transformed batch.

    Shapes:
        - **output:** a new ``Batch``, same sizes and edges
    """
    p4, graph = _require_p4(batch)
    if matrices is None:
        matrices = random_lorentz(batch.num_graphs, max_rapidity, seed, dtype=torch.float64)
    lam = torch.as_tensor(matrices).to(device=p4.device, dtype=torch.float64)
    if lam.shape == (4, 4):
        lam = lam.expand(batch.num_graphs, 4, 4)
    if lam.shape != (batch.num_graphs, 4, 4):
        raise InputShapeError(f"matrices must be (4, 4) or ({batch.num_graphs}, 4, 4), got {tuple(lam.shape)}")
    out = batch.clone()
    out.p4 = torch.einsum("nab,nb->na", lam[graph], p4.to(torch.float64)).to(p4.dtype)
    if getattr(batch, "pos", None) is not None or getattr(batch, "pt", None) is not None:
        pos, pt = T.pos_from_p4(out)
        if getattr(batch, "pos", None) is not None:
            out.pos = pos.to(batch.pos.dtype)
        if getattr(batch, "pt", None) is not None:
            out.pt = pt.to(batch.pt.dtype)
    return _finish(out, features)


def lorentz_error(model: Callable[[Batch], Any], batch: Batch, max_rapidity: float = 2.0, seed: int = 0,
                  relative: bool = False, features: Features = None) -> float:
    r"""Largest output change under random Lorentz transformations of every jet's ``p4``.

    .. math::
        \Delta_\Lambda = \max |f(\Lambda G) - f(G)| \quad
        (\text{divided by } \max |f(G)| \text{ with ``relative``})

    A model that reads four-momenta only through Minkowski products (LorentzNet
    without beams) is invariant.  See :func:`lorentz_transform`: pass ``features``
    for a model whose ``x`` holds kinematic features, or the check cannot see them.

    Args:
        model: Callable on a ``Batch`` with graph-level outputs.
        batch: Batch of jet graphs with ``p4`` (``pos``, ``pt`` and ``x`` are optional).
        max_rapidity: Largest boost rapidity.
        seed: Seed of the transformations (one per jet).
        relative: Divide by the largest absolute output.
        features: Optional recomputation of ``x`` from the transformed batch.

    Shapes:
        - **output:** a float
    """
    moved = lorentz_transform(batch, None, max_rapidity, seed, features)
    ref, new = _evaluate(model, [batch, moved])
    return _relative(_max_change(new, ref, "a Lorentz transformation"), ref, relative)


def azimuthal_rotation_error(model: Callable[[Batch], Any], batch: Batch, angle: float = 0.7,
                             relative: bool = False) -> float:
    r"""Largest output change when every particle's :math:`\phi` is shifted by ``angle``.

    This is the rotation about the beam axis (:func:`azimuthal_rotation_matrix`
    applied to ``p4``), the symmetry left by LorentzNet's beam particles; it is
    not the rotation about the jet axis of :func:`rotate`.

    Args:
        model: Callable on a ``Batch`` with graph-level outputs.
        batch: Batch of jet graphs with ``p4``.
        angle: Azimuthal shift :math:`\alpha` in radians.
        relative: Divide by the largest absolute output.

    Shapes:
        - **output:** a float
    """
    moved = lorentz_transform(batch, azimuthal_rotation_matrix(angle))
    ref, new = _evaluate(model, [batch, moved])
    return _relative(_max_change(new, ref, "an azimuthal rotation"), ref, relative)


def _relative(err: float, ref: Any, relative: bool) -> float:
    if not relative:
        return err
    scale = float(_flat(ref).abs().max()) if _flat(ref).numel() else 0.0
    return err / scale if scale > 0 else err


def lorentz_conv_errors(conv: Callable[..., tuple[Tensor, Tensor]], h: Tensor, x: Tensor, edge_index: Tensor,
                        batch: Optional[Tensor] = None, max_rapidity: float = 2.0, seed: int = 0,
                        **kwargs: Any) -> dict[str, float]:
    r"""Relative invariance error of ``h_out`` and equivariance error of ``x_out`` of a layer.

    For ``h_out, x_out = conv(h, x, edge_index, **kwargs)`` and a random
    :math:`\Lambda` per graph (:func:`random_lorentz`),

    .. math::
        \epsilon_h = \frac{\max |h'(\Lambda x) - h'(x)|}{\max |h'(x)|}, \qquad
        \epsilon_x = \frac{\max |x'(\Lambda x) - \Lambda x'(x)|}{\max |\Lambda (x'(x) - x)|}.

    :math:`\epsilon_x` is relative to the layer's update :math:`x' - x`, not to :math:`x'`: a
    LorentzNet layer moves :math:`x` by a small step (:math:`c = 0.005`, a :math:`10^{-3}` gain), so
    an error of the update is invisible next to :math:`|x'|` (a layer with a Euclidean metric gave
    a smaller error than the correct one in float32).  A layer that leaves :math:`x` as it is
    (``last_layer``) is measured against :math:`|\Lambda x'|`.  The update of a freshly initialised
    layer is about :math:`10^{-6}` of :math:`|x|`, below float32 resolution: check
    :math:`\epsilon_x` in float64 (a correct layer gives about :math:`10^{-9}` there, 0.1 in
    float32).  The layer is run in eval mode without gradients (modes restored).

    Args:
        conv: The layer (e.g. :class:`~pgjets.nn.lorentz_conv.LorentzConv`).
        h: Scalar features ``(N, C)``.
        x: Four-vectors ``(N, 4)``.
        edge_index: Edges ``(2, E)`` (no edge between graphs).
        batch: Graph of every node ``(N,)`` (default: one graph).
        max_rapidity: Largest boost rapidity.
        seed: Seed of the transformations.
        **kwargs: More arguments of ``conv`` (e.g. ``node_attr``).

    Shapes:
        - **output:** ``{"h": float, "x": float}``
    """
    check_ndim(x, 2, "x", "(num_nodes, 4)")
    check_size(x, 1, 4, "x")
    if batch is None:
        batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
    num = int(batch.max()) + 1 if batch.numel() else 1
    lam = random_lorentz(num, max_rapidity, seed, dtype=x.dtype).to(x.device)[batch]
    lx = torch.einsum("nab,nb->na", lam, x)
    (h0, x0), (h1, x1) = _evaluate_layer(conv, [(h, x, edge_index), (h, lx, edge_index)], kwargs)
    lx0 = torch.einsum("nab,nb->na", lam, x0)
    eh = float((h1 - h0).abs().max() / h0.abs().max().clamp_min(torch.finfo(h0.dtype).tiny))
    step = (lx0 - lx).abs().max()  # the update, transformed: Lambda (x'(x) - x)
    scale = step if float(step) > 0 else lx0.abs().max()
    ex = float((x1 - lx0).abs().max() / scale.clamp_min(torch.finfo(x0.dtype).tiny))
    return {"h": eh, "x": ex}


def _evaluate_layer(layer: Callable, inputs: Sequence[tuple], kwargs: dict) -> list[Any]:
    """:func:`_evaluate` for a layer called with several positional arguments."""
    return _evaluate(lambda args: layer(*args, **kwargs), inputs) if not isinstance(layer, torch.nn.Module) \
        else _evaluate(_Unpack(layer, kwargs), inputs)


class _Unpack(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module, kwargs: dict) -> None:
        super().__init__()
        self.layer, self.kwargs = layer, kwargs

    def forward(self, args: tuple) -> Any:
        return self.layer(*args, **self.kwargs)

__all__ = [
    "permute_nodes", "translate", "rotate", "add_soft_particles", "split_collinear",
    "permutation_error", "translation_error", "rotation_error", "soft_emission_error", "SOFT_PT_FRACTION",
    "collinear_split_error", "check_all",
    "random_lorentz", "azimuthal_rotation_matrix", "lorentz_transform", "lorentz_error",
    "azimuthal_rotation_error", "lorentz_conv_errors",
]
