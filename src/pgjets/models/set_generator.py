r"""Conditional set generation with slot attention (fast detector simulation).

:class:`SlotSetGenerator` maps the truth particle set of each jet to a set of
reconstructed particles whose size is given (``counts``): one slot per output
particle, slots initialised from a learned mean, seeded noise and the
embedding of a truth particle, refined by cross attention
(:class:`~pgjets.nn.slot_attention.SlotAttention`) over the truth embeddings of
their own jet, and decoded to :math:`(\log p_T, \Delta\eta, \Delta\phi)`.
:func:`set_generation_loss` is the matching training objective (Hungarian,
MMD, or, with replicas, the set-of-sets MMD and the proxy loss).
:class:`TruthSelector` is the stochastic first stage of a factorised fast
simulation, :math:`p(R\mid T) = \sum_S p(S\mid T)\,p(R\mid S)`: it learns which
truth particles the detector reconstructs (a per-particle probability) and
samples a subset :math:`S`, whose smeared version the slot generator
produces; :func:`repeat_sets` lays out replicas.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import Tensor, nn

from .._checks import check_finite, check_ndim, check_positive_int, check_sorted
from ..errors import InputShapeError
from ..nn.heads import mlp
from ..nn.set_losses import hungarian_loss, mmd_loss, proxy_loss, set_of_sets_mmd
from ..nn.slot_attention import SlotAttention


def _check_batch(batch: Tensor, n: int, num_graphs: int, name: str) -> Tensor:
    check_ndim(batch, 1, name, "(num_elements,)")
    if batch.numel() != n:
        raise InputShapeError(f"{name} has {batch.numel()} entries but there are {n} elements")
    batch = batch.to(torch.long)
    check_sorted(batch, f"{name} must be sorted in ascending order")
    if batch.numel() and (int(batch.min()) < 0 or int(batch.max()) >= num_graphs):
        raise InputShapeError(f"{name} must index jets in [0, {num_graphs}) (one entry of counts per jet)")
    return batch


def rank_within_graph(batch: Tensor, key: Tensor, num_graphs: int) -> Tensor:
    r"""Rank of every element within its graph by descending ``key``.

    .. math::
        r_i = \bigl|\{ j : b_j = b_i,\ (k_j, j') > (k_i, i') \}\bigr|

    Ties are broken by the original index, so the ranks are a permutation of
    :math:`0, \dots, n_b - 1` in each graph.

    Args:
        batch: Sorted graph index of each element.
        key: Sort key (larger first).
        num_graphs: Number of graphs.

    Shapes:
        - **input:** :math:`(N,)`, :math:`(N,)`
        - **output:** :math:`(N,)` long
    """
    order = torch.argsort(key, descending=True, stable=True)
    order = order[torch.argsort(batch[order], stable=True)]  # by graph, then by key
    count = torch.bincount(batch, minlength=num_graphs)
    ptr = torch.cumsum(count, 0) - count
    rank = torch.empty_like(batch)
    rank[order] = torch.arange(batch.numel(), device=batch.device) - ptr[batch[order]]
    return rank


class SlotSetGenerator(nn.Module):
    r"""Generate a set of ``counts[b]`` particles per jet conditioned on its truth set.

    The truth particles :math:`\mathbf{t}_i` of jet :math:`b` are embedded,
    :math:`\mathbf{h}_i = \mathrm{MLP}_{\mathrm{enc}}(\mathbf{t}_i)`.  Slot
    :math:`k` of jet :math:`b` (:math:`k < \mathrm{counts}_b`) starts at

    .. math::
        \mathbf{s}^{(0)}_{bk} = \boldsymbol{\mu} + \boldsymbol{\sigma} \odot \mathbf{z}_{bk}
        + \bar{\mathbf{h}}_b + [k < n_b]\, \mathbf{h}_{\pi_b(k)},\qquad
        \mathbf{z}_{bk} \sim \mathcal{N}(0, \sigma_z^2 I),

    with a learned mean :math:`\boldsymbol{\mu}` and scale
    :math:`\boldsymbol{\sigma}`, the mean embedding :math:`\bar{\mathbf{h}}_b`
    of the jet and :math:`\pi_b(k)` its :math:`k`-th truth particle ranked by
    the first input feature (:math:`\log p_T`, hardest first).  Ranking inside
    the model makes the output independent of the order of the truth nodes;
    the matched-position term (``truth_init``) gives every slot a particle to
    start from.  :class:`~pgjets.nn.slot_attention.SlotAttention` then refines
    the slots for ``iters`` rounds of cross attention over the truth
    embeddings of the same jet, and each slot is decoded,

    .. math::
        \hat{\mathbf{x}}_{bk} = \mathrm{MLP}_{\mathrm{dec}}(\mathbf{s}_{bk})
        + [\text{residual}]\,[k < n_b]\,\mathbf{t}_{\pi_b(k)},

    where the residual (on by default when ``in_channels == out_channels``)
    lets the decoder predict the detector *change* of the matched particle.

    Args:
        in_channels: Features per truth particle (default 3: log pT, deta, dphi).
        out_channels: Features per generated particle.
        channels: Embedding and slot size.
        iters: Slot-attention iterations.
        hidden: Hidden size of the slot-attention MLP.
        noise_scale: :math:`\sigma_z` of the initial noise (0 = deterministic).
        truth_init: Add the matched-position truth embedding to the slot init.
        residual: Add the matched truth features to the output (needs
            ``in_channels == out_channels``; default: when they are equal).

    Shapes:
        - **input:** ``truth_x`` :math:`(N, F_{in})`, ``truth_batch`` :math:`(N,)`,
          ``counts`` :math:`(B,)`
        - **output:** ``pred`` :math:`(S, F_{out})` with :math:`S = \sum_b
          \mathrm{counts}_b`, ``pred_batch`` :math:`(S,)` (sorted)
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: int = 64,
        iters: int = 3,
        hidden: int = 128,
        noise_scale: float = 1.0,
        truth_init: bool = True,
        residual: Optional[bool] = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.channels = check_positive_int(channels, "channels")
        if not (noise_scale >= 0 and noise_scale != float("inf")):
            raise ValueError(f"noise_scale must be finite and >= 0, got {noise_scale!r}")
        self.noise_scale = float(noise_scale)
        self.truth_init = bool(truth_init)
        if residual is None:
            residual = self.in_channels == self.out_channels
        if residual and self.in_channels != self.out_channels:
            raise ValueError("residual=True needs in_channels == out_channels")
        self.residual = bool(residual)
        c = self.channels
        self.encoder = mlp([self.in_channels, c, c, c])
        self.slot_mu = nn.Parameter(torch.zeros(1, c))
        self.slot_log_sigma = nn.Parameter(torch.zeros(1, c))
        self.attention = SlotAttention(c, c, iters=iters, hidden=hidden)
        self.decoder = mlp([c, c, c, self.out_channels])
        with torch.no_grad():  # start close to "reco = matched truth"
            self.decoder[-1].weight.mul_(0.1)
            self.decoder[-1].bias.zero_()

    def forward(
        self,
        truth_x: Tensor,
        truth_batch: Tensor,
        counts: Tensor,
        generator: Optional[torch.Generator] = None,
    ) -> tuple[Tensor, Tensor]:
        r"""Generate the output sets.

        Args:
            truth_x: Truth particle features ``(N, F_in)``.
            truth_batch: Sorted jet index of each truth particle ``(N,)``.
            counts: Number of particles to generate per jet ``(B,)`` (>= 0).
            generator: Random generator of the slot noise (CPU or on the
                model's device); pass a seeded one for reproducible sets.

        Returns:
            ``(pred, pred_batch)``.
        """
        check_ndim(truth_x, 2, "truth_x", "(num_particles, in_channels)")
        if truth_x.size(1) != self.in_channels:
            raise InputShapeError(
                f"truth_x must have {self.in_channels} features, got shape {tuple(truth_x.shape)}"
            )
        check_finite(truth_x, "truth_x")
        counts = torch.as_tensor(counts, device=truth_x.device)
        check_ndim(counts, 1, "counts", "(num_jets,)")
        if counts.is_floating_point() or counts.is_complex():
            raise InputShapeError("counts must be an integer tensor")
        counts = counts.to(torch.long)
        if counts.numel() == 0:
            raise InputShapeError("counts must have one entry per jet, got an empty tensor")
        if bool((counts < 0).any()):
            raise ValueError("counts must be >= 0")
        num_graphs = counts.numel()
        n = truth_x.size(0)
        batch = _check_batch(torch.as_tensor(truth_batch, device=truth_x.device), n, num_graphs, "truth_batch")
        device = truth_x.device

        h = self.encoder(truth_x)
        # Slot layout: jet b owns counts[b] consecutive slots, position k = 0..counts[b]-1.
        total = int(counts.sum())
        slot_batch = torch.repeat_interleave(torch.arange(num_graphs, device=device), counts)
        s_ptr = torch.cumsum(counts, 0) - counts
        if total == 0:
            return truth_x.new_zeros(0, self.out_channels), slot_batch

        gdev = generator.device if generator is not None else device
        noise = torch.randn(total, self.channels, generator=generator, device=gdev, dtype=h.dtype).to(device)
        slots = self.slot_mu + self.slot_log_sigma.exp() * noise * self.noise_scale
        n_truth = torch.bincount(batch, minlength=num_graphs)
        h_sum = h.new_zeros(num_graphs, self.channels).index_add(0, batch, h)
        h_mean = h_sum / n_truth.clamp_min(1).unsqueeze(-1).to(h.dtype)
        slots = slots + h_mean[slot_batch]

        # Matched truth particle of every slot: the k-th slot of a jet takes its k-th hardest particle.
        matched = torch.full((total,), -1, dtype=torch.long, device=device)
        if n:
            rank = rank_within_graph(batch, truth_x[:, 0], num_graphs)
            ok = rank < counts[batch]  # truth particles that have a slot at their rank
            idx = torch.nonzero(ok).squeeze(-1)
            matched[s_ptr[batch[idx]] + rank[idx]] = idx
        has = matched >= 0
        if self.truth_init and bool(has.any()):
            add = torch.zeros_like(slots)
            add[has] = h[matched[has]]
            slots = slots + add

        slots = self.attention(h, batch, slots=slots, slot_batch=slot_batch, num_graphs=num_graphs)
        out = self.decoder(slots)
        if self.residual and bool(has.any()):
            base = torch.zeros_like(out)
            base[has] = truth_x[matched[has]].to(out.dtype)
            out = out + base
        return out, slot_batch

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"channels={self.channels}, iters={self.attention.iters})"
        )


def repeat_sets(x: Tensor, batch: Tensor, num_graphs: int, repeats: int) -> tuple[Tensor, Tensor, Tensor]:
    r"""Repeat every set ``repeats`` times: copy :math:`r` of set :math:`b` becomes set :math:`bR + r`.

    .. math::
        X'_{bR + r} = X_b,\qquad r = 0, \dots, R - 1

    Args:
        x: Elements ``(N, F)``.
        batch: Sorted set index of each element.
        num_graphs: Number of sets :math:`B`.
        repeats: :math:`R \ge 1`.

    Returns:
        ``(x_rep, set_index, group)``: elements ``(R N, F)`` sorted by set, their set
        index, and the original set ``(B R,)`` of every new set.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(RN, F)`, :math:`(RN,)`, :math:`(BR,)`
    """
    repeats = check_positive_int(repeats, "repeats")
    b = batch.to(torch.long)
    sets = (b.unsqueeze(0) * repeats + torch.arange(repeats, device=x.device).unsqueeze(1)).reshape(-1)
    order = torch.argsort(sets, stable=True)
    group = torch.arange(num_graphs, device=x.device).repeat_interleave(repeats)
    return x.repeat(repeats, 1)[order], sets[order], group


class TruthSelector(nn.Module):
    r"""Which truth particles does the detector reconstruct? A per-particle probability and sampler.

    .. math::
        p_i = \sigma\big(\mathrm{MLP}(\mathbf{t}_i)\big),\qquad
        \mathcal{L} = -\frac{1}{N}\sum_i \big[y_i \log p_i + (1 - y_i)\log(1 - p_i)\big]

    with :math:`y_i = 1` if particle :math:`i` has a reconstructed partner
    (``reco_index`` of :func:`pgjets.data.smearing.truth_and_reco_sets`).
    :meth:`sample` draws the reconstructed subset: independent Bernoulli
    draws (the number of particles per jet then follows the learned
    efficiency), or, with ``counts``, exactly ``counts[b]`` particles per jet
    by Gumbel-top-:math:`k` sampling without replacement from the logits.

    Args:
        in_channels: Truth features.
        hidden: Hidden size of the MLP.

    Shapes:
        - **input:** ``truth_x`` :math:`(N, F)`
        - **output:** logits :math:`(N,)`
    """

    def __init__(self, in_channels: int = 3, hidden: int = 32) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.net = mlp([self.in_channels, check_positive_int(hidden, "hidden"), hidden, 1])

    def forward(self, truth_x: Tensor) -> Tensor:
        check_ndim(truth_x, 2, "truth_x", "(num_particles, in_channels)")
        if truth_x.size(1) != self.in_channels:
            raise InputShapeError(f"truth_x must have {self.in_channels} features, got {truth_x.size(1)}")
        return self.net(truth_x).squeeze(-1)

    def loss(self, truth_x: Tensor, found: Tensor) -> Tensor:
        """Binary cross entropy of the logits against ``found`` ``(N,)`` (bool or 0/1)."""
        if found.numel() != truth_x.size(0):
            raise InputShapeError(f"found has {found.numel()} entries but truth_x has {truth_x.size(0)} rows")
        return torch.nn.functional.binary_cross_entropy_with_logits(self(truth_x), found.to(truth_x.dtype))

    @torch.no_grad()
    def sample(self, truth_x: Tensor, truth_batch: Tensor, num_graphs: int, counts: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None) -> Tensor:
        """Boolean mask ``(N,)`` of the sampled reconstructed particles (see the class docstring)."""
        logits = self(truth_x)
        batch = _check_batch(torch.as_tensor(truth_batch, device=truth_x.device), truth_x.size(0), num_graphs,
                             "truth_batch")
        gdev = generator.device if generator is not None else truth_x.device
        u = torch.rand(logits.shape, generator=generator, device=gdev, dtype=logits.dtype).to(logits.device)
        if counts is None:
            return u < torch.sigmoid(logits)
        counts = torch.as_tensor(counts, device=truth_x.device).to(torch.long)
        gumbel = -torch.log(-torch.log(u.clamp(1e-12, 1 - 1e-7)))
        return rank_within_graph(batch, logits + gumbel, num_graphs) < counts[batch]


def set_generation_loss(
    model: SlotSetGenerator,
    batch_dict: Mapping[str, Any],
    kind: str = "hungarian",
    generator: Optional[torch.Generator] = None,
    replicas: Optional[int] = None,
    **loss_kwargs: Any,
) -> Tensor:
    r"""Training loss of :class:`SlotSetGenerator` on one batch of truth/reco sets.

    Generates ``reco_counts`` particles per jet from the truth sets and
    compares them with the reco sets, either with the Hungarian matching loss
    (:func:`~pgjets.nn.hungarian_loss`, squared distance) or the
    per-jet MMD (:func:`~pgjets.nn.mmd_loss`, averaged over the
    jets with at least one reco particle):

    .. math::
        \mathcal{L} = \frac{1}{\sum_b n_b}\sum_b \min_\sigma \sum_k
        \lVert \hat{\mathbf{x}}_{bk} - \mathbf{x}_{b\sigma(k)} \rVert^2
        \quad\text{or}\quad
        \mathcal{L} = \frac{1}{|\{b: n_b > 0\}|}\sum_{b: n_b>0} \mathrm{MMD}^2_b.

    With replicas (``kind="set_mmd"`` or ``"proxy"``) the model generates
    ``replicas`` sets per jet (default: as many as the reference has) and
    compares the two samples of sets per jet with
    :func:`~pgjets.nn.set_of_sets_mmd` or
    :func:`~pgjets.nn.proxy_loss`; the reference replicas are
    ``replica_x``, ``replica_set`` and ``replica_group`` of ``batch_dict``
    (all replicas of jet :math:`b` must have ``reco_counts[b]`` elements).

    Args:
        model: The generator.
        batch_dict: Mapping with ``truth_x``, ``truth_batch``, ``reco_x``,
            ``reco_batch`` and ``reco_counts`` (as returned by
            :func:`pgjets.data.smearing.truth_and_reco_sets`), plus the
            ``replica_*`` entries for the replica losses.
        kind: ``"hungarian"``, ``"mmd"``, ``"set_mmd"`` or ``"proxy"``.
        generator: Random generator of the slot noise.
        replicas: Generated replicas per jet (replica losses only).
        **loss_kwargs: Passed to the loss function.

    Shapes:
        - **output:** :math:`()`
    """
    kinds = ("hungarian", "mmd", "set_mmd", "proxy")
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds}, got {kind!r}")
    need = ["truth_x", "truth_batch", "reco_counts"]
    need += ["reco_x", "reco_batch"] if kind in ("hungarian", "mmd") else ["replica_x", "replica_set", "replica_group"]
    missing = [k for k in need if k not in batch_dict]
    if missing:
        raise KeyError(f"batch_dict misses {missing}")
    counts = batch_dict["reco_counts"]
    if kind in ("set_mmd", "proxy"):
        counts = torch.as_tensor(counts).to(torch.long)
        num_graphs = counts.numel()
        ref_group = torch.as_tensor(batch_dict["replica_group"]).to(torch.long)
        r = int(ref_group.numel() // max(num_graphs, 1)) if replicas is None else check_positive_int(replicas,
                                                                                                      "replicas")
        tx, tset, group = repeat_sets(batch_dict["truth_x"], batch_dict["truth_batch"], num_graphs, r)
        pred, pred_set = model(tx, tset, counts.repeat_interleave(r), generator=generator)
        fn = set_of_sets_mmd if kind == "set_mmd" else proxy_loss
        return fn(pred, pred_set, group, batch_dict["replica_x"].to(pred.device),
                  batch_dict["replica_set"].to(pred.device), ref_group.to(pred.device), **loss_kwargs)
    target, target_batch = batch_dict["reco_x"], batch_dict["reco_batch"]
    pred, pred_batch = model(batch_dict["truth_x"], batch_dict["truth_batch"], counts, generator=generator)
    if kind == "hungarian":
        return hungarian_loss(pred, target, pred_batch, target_batch, **loss_kwargs)
    # MMD per jet needs non-empty sets: renumber the jets that have particles.
    counts = torch.as_tensor(counts, device=pred.device).to(torch.long)
    new_id = torch.cumsum(counts > 0, 0) - 1
    return mmd_loss(
        pred, target, x_batch=new_id[pred_batch], y_batch=new_id[target_batch.to(pred.device)], **loss_kwargs
    )


__all__ = ["SlotSetGenerator", "TruthSelector", "set_generation_loss", "rank_within_graph", "repeat_sets"]
