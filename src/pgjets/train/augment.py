r"""Physics-motivated jet augmentations for contrastive learning (JetCLR).

JetCLR (Dillon et al., 2021) learns jet representations by asking two randomly
augmented *views* of the same jet to map to nearby points on the unit sphere.
The augmentations encode the symmetries a representation should respect:

- :class:`RandomRotation`: rotation of the constituents in the
  :math:`(\Delta\eta, \Delta\phi)` plane about the jet axis,
  :math:`\mathbf{r}' = R(\theta)\,\mathbf{r}`, :math:`\theta \sim U[0, 2\pi)`.
- :class:`RandomTranslation`: the same shift
  :math:`\mathbf{r}' = \mathbf{r} + \boldsymbol{\delta}` for every constituent
  of a jet.
- :class:`SoftSmearing`: soft (low :math:`p_T`) constituents are re-sampled,
  :math:`\eta' \sim \mathcal{N}(\eta, \Lambda_\text{soft} / p_T)`, which an
  IRC-safe observable barely notices.
- :class:`CollinearSplitting`: a constituent is replaced by two collinear ones
  carrying :math:`z\,p_T` and :math:`(1-z)\,p_T`.
- :class:`RandomPermutation`: reorders the constituents of each jet.

All transforms work on a single :class:`~torch_geometric.data.Data` and on a
:class:`~torch_geometric.data.Batch` (random numbers are drawn per jet or per
constituent in one vectorised call, never in a Python loop over jets), return
a new object (the input is never modified in place) and are reproducible: pass
``seed`` (the transform owns a :class:`torch.Generator`) or ``generator``.
Without either, torch's global random state is used.

**Conventions.** The operations themselves live in :mod:`pgjets.transforms`
(this module only draws their random parameters), so they share its
conventions: the new :math:`\Delta\phi` are wrapped to :math:`(-\pi, \pi]` per jet
(:func:`~pgjets.transforms.wrap_phi_per_jet`); when a jet carries ``p4`` and its
``pos`` changes, ``p4`` is recomputed (same :math:`p_T` and masses) about the jet
axis (``jet_eta``/``jet_phi``, or the one read off ``p4``:
:func:`~pgjets.transforms.jet_axis`; ``p4_mode="recompute"``) or removed
(``p4_mode="drop"``); ``pos_columns=(0, 1)`` writes the new
:math:`(\Delta\eta, \Delta\phi)` into those columns of ``x`` too (other columns,
e.g. :math:`\log p_T`, are copied unchanged).  Rotations, translations and
smearing keep ``edge_index`` as it is (smearing may make a kNN graph slightly
stale); :class:`CollinearSplitting` appends the new particles after the old
ones of their jet and drops ``edge_index``/``edge_attr`` (rebuild them with
:func:`pgjets.nn.knn_graph` if needed); :class:`RandomPermutation` relabels
them.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform, Compose

from .. import transforms as T
from .._checks import check_positive_int

GraphLike = Union[Data, Batch]


# --------------------------------------------------------------------------- helpers
def _make_generator(seed: Optional[int], generator: Optional[torch.Generator]) -> Optional[torch.Generator]:
    if generator is not None and seed is not None:
        raise ValueError("pass either seed or generator, not both")
    if generator is not None:
        return generator
    if seed is not None:
        g = torch.Generator()
        g.manual_seed(int(seed))
        return g
    return None


def _rand(shape: Sequence[int], g: Optional[torch.Generator], like: Tensor, normal: bool = False) -> Tensor:
    """Uniform [0, 1) (or standard normal) numbers drawn on the generator's device."""
    device = g.device if g is not None else like.device
    fn = torch.randn if normal else torch.rand
    out = fn(tuple(shape), generator=g, device=device, dtype=like.dtype)
    return out.to(like.device)


def _non_negative(value: float, name: str, strict: bool = False) -> float:
    """``value`` as float, raising ``ValueError`` unless finite and >= 0 (> 0 if ``strict``)."""
    ok = math.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} 0, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- functional API
def rotate_jets(
    data: GraphLike,
    angle: Tensor,
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
) -> GraphLike:
    r"""Rotate every jet by a given angle about its axis in the :math:`(\Delta\eta, \Delta\phi)` plane.

    .. math::
        \begin{pmatrix}\Delta\eta' \\ \Delta\phi'\end{pmatrix} =
        \begin{pmatrix}\cos\theta_b & -\sin\theta_b \\ \sin\theta_b & \cos\theta_b\end{pmatrix}
        \begin{pmatrix}\Delta\eta \\ \Delta\phi\end{pmatrix}

    Args:
        data: A jet graph or a batch of them.
        angle: One angle per graph, shape ``(B,)`` (a scalar: the same for every graph).
        pos_columns: Columns of ``x`` that hold ``pos`` and must follow it.
        p4_mode: ``"recompute"`` (see the module docs) or ``"drop"``.

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``angle`` :math:`(B,)`
        - **output:** a new graph with rotated ``pos`` :math:`(N, 2)`
    """
    return T.rotate(data, angle, pos_columns, p4_mode)


def translate_jets(
    data: GraphLike,
    shift: Tensor,
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
) -> GraphLike:
    r"""Shift all constituents of jet :math:`b` by the same vector :math:`\boldsymbol{\delta}_b`.

    .. math::
        (\Delta\eta', \Delta\phi') = (\Delta\eta + \delta_{b,\eta},\ \Delta\phi + \delta_{b,\phi})

    Args:
        data: A jet graph or a batch of them.
        shift: One ``(deta, dphi)`` per graph, shape ``(B, 2)`` (``(2,)`` for one graph).
        pos_columns: Columns of ``x`` that hold ``pos`` and must follow it.
        p4_mode: ``"recompute"`` or ``"drop"``.

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``shift`` :math:`(B, 2)`
        - **output:** a new graph with shifted ``pos`` :math:`(N, 2)`
    """
    return T.translate(data, shift, pos_columns, p4_mode)


def random_rotation(
    data: GraphLike,
    generator: Optional[torch.Generator] = None,
    seed: Optional[int] = None,
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
) -> GraphLike:
    r"""Rotate each jet by :math:`\theta_b \sim U[0, 2\pi)` (see :func:`rotate_jets`).

    Args:
        data: A jet graph or a batch of them.
        generator: Random generator (or ``seed`` to make one).
        seed: Seed for a fresh generator.
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.

    Shapes:
        - **input / output:** ``pos`` :math:`(N, 2)`
    """
    T.check_jet(data)
    g = _make_generator(seed, generator)
    _, num_graphs = T.jet_index(data)
    angle = 2.0 * math.pi * _rand((num_graphs,), g, data.pos)
    return rotate_jets(data, angle, pos_columns, p4_mode)


def random_translation(
    data: GraphLike,
    scale: float = 1.0,
    distribution: str = "normal",
    generator: Optional[torch.Generator] = None,
    seed: Optional[int] = None,
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
    relative: bool = False,
) -> GraphLike:
    r"""Shift each jet by a random :math:`(\delta_\eta, \delta_\phi)`.

    With ``distribution="normal"`` each component is drawn from
    :math:`\mathcal{N}(0, s^2)`; with ``"uniform"`` from
    :math:`U[-s, s]`.  One vector per jet.  With ``relative=False``
    :math:`s = \text{scale}` for both components; with ``relative=True`` the
    shift is measured in units of the jet's own extent,

    .. math::
        s_{b,\eta} = \text{scale} \cdot
        \big(\max(\max_{i \in b} \Delta\eta_i, 0) - \min(\min_{i \in b} \Delta\eta_i, 0)\big)

    and likewise for :math:`\phi` (the spread of the constituents and the jet
    axis), as JetCLR draws its translations (``scale=1``, ``"uniform"``: shifts
    up to the size of the jet).

    Args:
        data: A jet graph or a batch of them.
        scale: Standard deviation (normal) or half-width (uniform), >= 0; in
            units of the jet's extent when ``relative``.
        distribution: ``"normal"`` or ``"uniform"``.
        generator: Random generator (or ``seed``).
        seed: Seed for a fresh generator.
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.
        relative: Scale the shift of each jet by its extent (see above).

    Shapes:
        - **input / output:** ``pos`` :math:`(N, 2)`
    """
    _non_negative(scale, "scale")
    if distribution not in ("normal", "uniform"):
        raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
    T.check_jet(data)
    g = _make_generator(seed, generator)
    batch, num_graphs = T.jet_index(data)
    if distribution == "normal":
        shift = scale * _rand((num_graphs, 2), g, data.pos, normal=True)
    else:
        shift = scale * (2.0 * _rand((num_graphs, 2), g, data.pos) - 1.0)
    if relative:
        shift = shift * _extent(data.pos, batch, num_graphs)
    return translate_jets(data, shift, pos_columns, p4_mode)


def _extent(pos: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """Per jet and component, ``max(max pos, 0) - min(min pos, 0)``: shape ``(B, 2)``."""
    zero = torch.zeros(num_graphs, pos.size(1), dtype=pos.dtype, device=pos.device)
    index = batch.unsqueeze(-1).expand_as(pos)
    hi = zero.scatter_reduce(0, index, pos, reduce="amax", include_self=True)
    lo = zero.scatter_reduce(0, index, pos, reduce="amin", include_self=True)
    return hi - lo


def soft_smearing(
    data: GraphLike,
    lambda_soft: float = 0.1,
    pt_min: float = 0.5,
    generator: Optional[torch.Generator] = None,
    seed: Optional[int] = None,
    pos_columns: Optional[Sequence[int]] = None,
    p4_mode: str = "recompute",
) -> GraphLike:
    r"""Re-sample the angular coordinates of each constituent with a :math:`p_T`-dependent width.

    .. math::
        \Delta\eta' \sim \mathcal{N}\!\left(\Delta\eta, \sigma_i^2\right),\quad
        \Delta\phi' \sim \mathcal{N}\!\left(\Delta\phi, \sigma_i^2\right),\quad
        \sigma_i = \frac{\Lambda_\text{soft}}{\max(p_{T,i},\, p_{T,\min})}

    so soft constituents move most and hard ones barely.  The floor
    :math:`p_{T,\min}` caps the width at :math:`\Lambda_\text{soft}/p_{T,\min}`.

    Args:
        data: A jet graph or a batch of them (needs ``pt``).
        lambda_soft: :math:`\Lambda_\text{soft}` in GeV (JetCLR: 0.1 GeV).
        pt_min: :math:`p_{T,\min}` in GeV (> 0); default 0.5 GeV, i.e. at most 0.2 rad.
        generator: Random generator (or ``seed``).
        seed: Seed for a fresh generator.
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.

    Shapes:
        - **input / output:** ``pos`` :math:`(N, 2)`, ``pt`` :math:`(N,)`
    """
    _non_negative(lambda_soft, "lambda_soft")
    _non_negative(pt_min, "pt_min", strict=True)
    T.check_jet(data, need_pt=True)
    T.check_p4_mode(p4_mode)
    g = _make_generator(seed, generator)
    sigma = lambda_soft / data.pt.to(data.pos.dtype).clamp_min(pt_min)
    noise = _rand(data.pos.shape, g, data.pos, normal=True)
    return T.set_pos(data, data.pos + sigma.unsqueeze(-1) * noise, pos_columns, p4_mode)


def collinear_splitting(
    data: GraphLike,
    max_splits: int = 20,
    p: float = 0.5,
    generator: Optional[torch.Generator] = None,
    seed: Optional[int] = None,
    fill_to: Optional[int] = None,
) -> GraphLike:
    r"""Split randomly chosen constituents into two collinear ones.

    Each constituent is chosen with probability ``p``; at most ``max_splits``
    per jet are kept (a random subset of the chosen ones), and with
    ``fill_to`` at most :math:`\max(\texttt{fill\_to} - n_b, 0)` for a jet of
    :math:`n_b` constituents, so no jet grows beyond ``fill_to`` by splitting.
    ``p=1, max_splits=fill_to=M`` is JetCLR's collinear fill of jets cropped to
    :math:`M` constituents: :math:`\min(n_b, M - n_b)` distinct constituents
    split (applied twice, a jet of :math:`n_b < M/4` still reaches
    :math:`4 n_b`).  A chosen
    constituent :math:`i` keeps its place and a collinear daughter is added
    (:func:`pgjets.transforms.split_collinear`), with the same ``pos`` and

    .. math::
        p_{T,i}' = (1 - z)\,p_{T,i},\quad p_{T}^{(\text{daughter})} = z\,p_{T,i},
        \quad z \sim U(0, 1),

    and ``p4`` scaled by :math:`1-z` and :math:`z` likewise (a collinear
    massless split).  Every other node attribute (``x``, ...) is copied
    unchanged to the daughter, so a feature derived from :math:`p_T` in ``x``
    is *not* rescaled.  The daughters follow the old particles of their jet,
    so the nodes of a jet stay contiguous; for a
    :class:`~torch_geometric.data.Batch`, ``batch``, ``ptr`` and the slice
    bookkeeping are updated (``to_data_list`` works).  ``edge_index`` and the
    edge attributes are dropped.

    Args:
        data: A jet graph or a batch of them (needs ``pt``).
        max_splits: Largest number of splits per jet (>= 1).
        p: Probability that a constituent is chosen, in ``[0, 1]``.
        generator: Random generator (or ``seed``).
        seed: Seed for a fresh generator.
        fill_to: Optional size (>= 1) that splitting never takes a jet beyond.

    Shapes:
        - **input:** :math:`N` nodes
        - **output:** :math:`N + S` nodes, :math:`S \le B \cdot \text{max\_splits}`
    """
    max_splits = check_positive_int(max_splits, "max_splits")
    if fill_to is not None:
        fill_to = check_positive_int(fill_to, "fill_to")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must lie in [0, 1], got {p!r}")
    T.check_jet(data, need_pt=True)
    g = _make_generator(seed, generator)
    batch, num_graphs = T.jet_index(data)
    n = data.pos.size(0)
    draws = _rand((n, 2), g, data.pos.double())
    u, z = draws[:, 0], draws[:, 1]
    chosen = u < p
    # Rank chosen nodes within their jet in random order; keep the first max_splits.
    key = batch.double() * 2.0 + torch.where(chosen, u, torch.full_like(u, 1.5))
    order = torch.argsort(key)
    counts = torch.bincount(batch, minlength=num_graphs)
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=batch.device)
    ptr[1:] = torch.cumsum(counts, 0)
    rank = torch.empty(n, dtype=torch.long, device=batch.device)
    rank[order] = torch.arange(n, device=batch.device) - ptr[batch[order]]
    limit = torch.full_like(counts, max_splits)
    if fill_to is not None:
        limit = torch.minimum(limit, (fill_to - counts).clamp_min(0))
    split = chosen & (rank < limit[batch])
    return T.split_collinear(data, split, z[split])


def random_permutation(
    data: GraphLike,
    generator: Optional[torch.Generator] = None,
    seed: Optional[int] = None,
) -> GraphLike:
    r"""Randomly reorder the nodes within each graph.

    Node attributes are gathered with a permutation :math:`\pi` that maps
    each graph onto itself; ``edge_index`` is relabelled,
    :math:`(j, i) \mapsto (\pi^{-1}(j), \pi^{-1}(i))`, so the graph is unchanged
    up to node order.

    Args:
        data: A jet graph or a batch of them (``pos`` is required; every
            node-level attribute is permuted).
        generator: Random generator (or ``seed``).
        seed: Seed for a fresh generator.

    Shapes:
        - **input / output:** :math:`N` nodes
    """
    T.check_jet(data)
    g = _make_generator(seed, generator)
    batch, _ = T.jet_index(data)
    scores = _rand((data.pos.size(0),), g, data.pos.double())
    return T.permute_nodes(data, T.permutation_within_jets(batch, scores))


# --------------------------------------------------------------------------- transforms
class _JetAugmentation(BaseTransform):
    """Base class: owns an optional generator and applies ``self.apply``."""

    def __init__(self, seed: Optional[int] = None, generator: Optional[torch.Generator] = None) -> None:
        self.seed = seed
        self.generator = _make_generator(seed, generator)

    def apply(self, data: GraphLike, generator: Optional[torch.Generator] = None) -> GraphLike:
        raise NotImplementedError

    def forward(self, data: Any) -> Any:
        return self.apply(data, self.generator)

    def __call__(self, data: Any) -> Any:
        # BaseTransform shallow-copies; the functions never write in place anyway.
        return self.forward(data)


class RandomRotation(_JetAugmentation):
    r"""Transform form of :func:`random_rotation`: :math:`\theta_b \sim U[0, 2\pi)` per jet.

    Args:
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.
        seed: Seed of the transform's own generator.
        generator: Or an existing generator.

    Shapes:
        - **input / output:** ``pos`` :math:`(N, 2)`
    """

    def __init__(
        self,
        pos_columns: Optional[Sequence[int]] = None,
        p4_mode: str = "recompute",
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        T.check_p4_mode(p4_mode)
        super().__init__(seed, generator)
        self.pos_columns = pos_columns
        self.p4_mode = p4_mode

    def apply(self, data: GraphLike, generator: Optional[torch.Generator] = None) -> GraphLike:
        return random_rotation(data, generator, None, self.pos_columns, self.p4_mode)


class RandomTranslation(_JetAugmentation):
    r"""Transform form of :func:`random_translation` (one shift per jet).

    Args:
        scale: Standard deviation (``"normal"``) or half-width (``"uniform"``).
        distribution: ``"normal"`` or ``"uniform"``.
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.
        seed: Seed of the transform's own generator.
        generator: Or an existing generator.
        relative: ``scale`` in units of each jet's extent (JetCLR's
            translations: ``RandomTranslation(1.0, "uniform", relative=True)``).

    Shapes:
        - **input / output:** ``pos`` :math:`(N, 2)`
    """

    def __init__(
        self,
        scale: float = 1.0,
        distribution: str = "normal",
        pos_columns: Optional[Sequence[int]] = None,
        p4_mode: str = "recompute",
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        relative: bool = False,
    ) -> None:
        _non_negative(scale, "scale")
        if distribution not in ("normal", "uniform"):
            raise ValueError(f"distribution must be 'normal' or 'uniform', got {distribution!r}")
        T.check_p4_mode(p4_mode)
        super().__init__(seed, generator)
        self.scale, self.distribution, self.relative = float(scale), distribution, bool(relative)
        self.pos_columns, self.p4_mode = pos_columns, p4_mode

    def apply(self, data: GraphLike, generator: Optional[torch.Generator] = None) -> GraphLike:
        return random_translation(
            data, self.scale, self.distribution, generator, None, self.pos_columns, self.p4_mode, self.relative
        )


class SoftSmearing(_JetAugmentation):
    r"""Transform form of :func:`soft_smearing`,
    :math:`\sigma_i = \Lambda_\text{soft} / \max(p_{T,i}, p_{T,\min})`.

    Args:
        lambda_soft: :math:`\Lambda_\text{soft}` in GeV.
        pt_min: :math:`p_{T,\min}` in GeV.
        pos_columns: Columns of ``x`` that hold ``pos``.
        p4_mode: ``"recompute"`` or ``"drop"``.
        seed: Seed of the transform's own generator.
        generator: Or an existing generator.

    Shapes:
        - **input / output:** ``pos`` :math:`(N, 2)`
    """

    def __init__(
        self,
        lambda_soft: float = 0.1,
        pt_min: float = 0.5,
        pos_columns: Optional[Sequence[int]] = None,
        p4_mode: str = "recompute",
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        _non_negative(lambda_soft, "lambda_soft")
        _non_negative(pt_min, "pt_min", strict=True)
        T.check_p4_mode(p4_mode)
        super().__init__(seed, generator)
        self.lambda_soft, self.pt_min = float(lambda_soft), float(pt_min)
        self.pos_columns, self.p4_mode = pos_columns, p4_mode

    def apply(self, data: GraphLike, generator: Optional[torch.Generator] = None) -> GraphLike:
        return soft_smearing(
            data, self.lambda_soft, self.pt_min, generator, None, self.pos_columns, self.p4_mode
        )


class CollinearSplitting(_JetAugmentation):
    r"""Transform form of :func:`collinear_splitting`:
    :math:`p_T \to (z\,p_T, (1-z)\,p_T)` at the same position.

    Args:
        max_splits: Largest number of splits per jet.
        p: Probability that a constituent is chosen.
        seed: Seed of the transform's own generator.
        generator: Or an existing generator.
        fill_to: Size that splitting never takes a jet beyond (JetCLR's fill
            of 50-constituent jets: ``CollinearSplitting(50, p=1.0, fill_to=50)``).

    Shapes:
        - **input:** :math:`N` nodes; **output:** :math:`N + S` nodes
    """

    def __init__(
        self,
        max_splits: int = 20,
        p: float = 0.5,
        seed: Optional[int] = None,
        generator: Optional[torch.Generator] = None,
        fill_to: Optional[int] = None,
    ) -> None:
        self.max_splits = check_positive_int(max_splits, "max_splits")
        self.fill_to = None if fill_to is None else check_positive_int(fill_to, "fill_to")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got {p!r}")
        self.p = float(p)
        super().__init__(seed, generator)

    def apply(self, data: GraphLike, generator: Optional[torch.Generator] = None) -> GraphLike:
        return collinear_splitting(data, self.max_splits, self.p, generator, None, self.fill_to)


class RandomPermutation(_JetAugmentation):
    r"""Transform form of :func:`random_permutation` (nodes reordered within each graph).

    Args:
        seed: Seed of the transform's own generator.
        generator: Or an existing generator.

    Shapes:
        - **input / output:** :math:`N` nodes
    """

    def apply(self, data: GraphLike, generator: Optional[torch.Generator] = None) -> GraphLike:
        return random_permutation(data, generator, None)


def _flatten(augmentations: Any) -> list[Callable]:
    if isinstance(augmentations, Compose):
        out: list[Callable] = []
        for t in augmentations.transforms:
            out.extend(_flatten(t))
        return out
    if isinstance(augmentations, (list, tuple)):
        out = []
        for t in augmentations:
            out.extend(_flatten(t))
        return out
    if not callable(augmentations):
        raise TypeError(f"augmentations must be callables, got {type(augmentations).__name__}")
    return [augmentations]


def two_views(
    batch: GraphLike,
    augmentations: Union[Callable, Sequence[Callable]],
    seed: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    second_view: Union[Callable, Sequence[Callable]] = (),
) -> tuple[GraphLike, GraphLike]:
    r"""Return two independently augmented views :math:`(t_1(x), t_2(x))` of the same jets.

    ``augmentations`` is one transform, a sequence of them or a
    :class:`~torch_geometric.transforms.Compose`; they are applied in order,
    with independent random draws, to each view. ``second_view`` is applied
    to the second view only, before ``augmentations``:

    .. math::
        t_1 = a, \qquad t_2 = a' \circ s,

    with :math:`a, a'` two draws of ``augmentations`` and :math:`s` of
    ``second_view``. JetCLR distorts one view only (soft smearing and
    collinear splitting go into ``second_view``; rotations and translations
    into ``augmentations``), so the other view stays an undistorted jet.
    With ``seed`` (or ``generator``) the transforms of this module draw from
    that one generator, ignoring their own, so the pair is reproducible;
    without, each draws from its own (seeded when it was built with ``seed``,
    torch's global generator otherwise).  Other callables are applied as they are.

    Args:
        batch: A jet graph or a batch of them.
        augmentations: The augmentation pipeline of both views.
        seed: Seed of the generator shared by both views.
        generator: Or an existing generator.
        second_view: Transforms for the second view only (default: none).

    Shapes:
        - **input:** one (batch of) graph(s); **output:** two of them, same graphs
    """
    steps = _flatten(augmentations)
    extra = _flatten(second_view)
    g = _make_generator(seed, generator)

    def run(data: GraphLike, pipeline: list[Callable]) -> GraphLike:
        for t in pipeline:
            data = t.apply(data, g) if g is not None and isinstance(t, _JetAugmentation) else t(data)
        return data

    first = run(batch, steps)
    return first, run(batch, extra + steps)


__all__ = [
    "RandomRotation",
    "RandomTranslation",
    "SoftSmearing",
    "CollinearSplitting",
    "RandomPermutation",
    "rotate_jets",
    "translate_jets",
    "random_rotation",
    "random_translation",
    "soft_smearing",
    "collinear_splitting",
    "random_permutation",
    "two_views",
]
