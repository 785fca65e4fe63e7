r"""JetCLR: self-supervised, contrastively trained jet representations.

Follows the idea of Dillon, Kasieczka, Olischlager, Plehn, Sorrenson and Vogel,
*Symmetries, Safety, and Self-Supervision* (hep-ph/2108.04253): a
permutation-invariant transformer encoder :math:`f` maps a jet to a
representation :math:`r = f(x)`; it is trained with the NT-Xent loss so that
two augmented views :math:`t_1(x), t_2(x)` of the same jet land close together
and views of different jets far apart. The symmetries (rotations,
translations) and the IRC "nuisances" (soft smearing, collinear splitting) the
representation should ignore enter only through the augmentations.

This module holds the encoder; its training loop (:func:`~pgjets.train.train_jetclr`)
and the *linear classifier test* (LCT) of the frozen representations
(:func:`~pgjets.train.linear_classifier_test`) are training code and live in
:mod:`pgjets.train.jetclr`.

IR safety is built in: particles enter the attention only as keys weighted by
their momentum fraction (an additive bias :math:`\log z_j`), and the pooling is
the :math:`z`-weighted sum of :class:`~pgjets.nn.energy_flow_pool.EnergyFlowPool`,
so a particle with :math:`p_T = 0` changes nothing.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, to_dense_batch

from .._checks import check_finite, check_ndim, check_nonempty, check_positive_int, check_sorted
from ..errors import EmptyGraphError, InputShapeError
from ..nn.energy_flow_pool import EnergyFlowPool
from ..nn.transformer import TransformerBlock

#: Additive attention bias for keys with :math:`z_j = 0`; exp of it underflows to exactly 0.
_NO_KEY = -1.0e4


def _momentum_fractions(pt: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """:math:`z_i = p_{T,i} / \\sum_{j \\in \\text{jet}} p_{T,j}` with typed errors."""
    if bool((pt < 0).any()):
        raise InputShapeError("pt must be non-negative")
    total = scatter(pt, batch, 0, dim_size=num_graphs, reduce="sum")
    bad = total <= 0
    if bool(bad.any()):
        g = int(torch.nonzero(bad)[0])
        raise EmptyGraphError(f"jet {g} has no constituents with pt > 0 (momentum fractions undefined)")
    return pt / total[batch]


def _batch_vector(data: Any, n: int, device: torch.device) -> tuple[Tensor, int]:
    batch = getattr(data, "batch", None)
    if batch is None:
        return torch.zeros(n, dtype=torch.long, device=device), 1
    check_ndim(batch, 1, "batch", "(num_nodes,)")
    if batch.numel() != n:
        raise InputShapeError(f"batch has {batch.numel()} entries but the jets have {n} particles")
    num_graphs = getattr(data, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1
    return batch.long(), int(num_graphs)


class JetCLREncoder(nn.Module):
    r"""Permutation-invariant, IR-safe transformer encoder of JetCLR.

    Per particle :math:`i` of a jet the input is
    :math:`u_i = (\Delta\eta_i, \Delta\phi_i, z_i)` with
    :math:`z_i = p_{T,i} / \sum_j p_{T,j}` (``features="pos_z"``, the default)
    or the node features ``x`` (``features="x"``). The encoder computes

    .. math::
        h_i^{(0)} = W u_i + b, \qquad
        h^{(l+1)} = \mathrm{Block}_l\big(h^{(l)};\ \beta_{ij} = \log z_j\big),

    .. math::
        r = \mathrm{MLP}\Big(\sum_{i \in \text{jet}} z_i\, h_i^{(L)}\Big),

    where each :class:`~pgjets.nn.transformer.TransformerBlock` attends over
    the fully connected jet (dense path) with the additive key bias
    :math:`\beta_{ij} = \log z_j`, i.e. attention weights
    :math:`\propto z_j \exp(q_i \cdot k_j / \sqrt{d})`. A particle with
    :math:`z_j = 0` is therefore never attended to and gets zero weight in the
    :class:`~pgjets.nn.energy_flow_pool.EnergyFlowPool`, so with
    ``features="pos_z"`` the representation is exactly invariant to adding
    soft particles (IR safe); it is permutation invariant by construction.
    With ``features="x"`` IR safety holds only if ``x`` itself does not depend
    on the soft particle (it never changes the other rows of ``x`` in practice).

    Args:
        in_channels: Size of the per-particle input (3 for ``"pos_z"``).
        channels: Hidden size :math:`C` of the transformer.
        heads: Attention heads (must divide ``channels``).
        num_layers: Number of transformer blocks :math:`L`.
        out_channels: Size of the representation :math:`r`.
        features: ``"pos_z"`` (build :math:`u_i` from ``pos`` and ``pt``) or ``"x"``.
        pt_weighted_attention: Use the :math:`\log z_j` key bias (needed for
            IR safety); ``False`` gives plain full attention.
        dropout: Dropout inside the blocks.

    Shapes:
        - **input:** a (batch of) jet graph(s) with ``pos`` :math:`(N, 2)`,
          ``pt`` :math:`(N,)` (and ``x`` :math:`(N, F)` for ``features="x"``)
        - **output:** :math:`(B, \text{out\_channels})`
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: int = 64,
        heads: int = 4,
        num_layers: int = 2,
        out_channels: int = 32,
        features: str = "pos_z",
        pt_weighted_attention: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if features not in ("pos_z", "x"):
            raise ValueError(f"features must be 'pos_z' or 'x', got {features!r}")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        if features == "pos_z" and self.in_channels != 3:
            raise ValueError(f"features='pos_z' gives 3 input channels, got in_channels={in_channels}")
        self.channels = check_positive_int(channels, "channels")
        self.heads = check_positive_int(heads, "heads")
        if self.channels % self.heads:
            raise ValueError(f"heads ({heads}) must divide channels ({channels})")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.features = features
        self.pt_weighted_attention = bool(pt_weighted_attention)
        self.embed = nn.Linear(self.in_channels, self.channels)
        self.blocks = nn.ModuleList(
            [TransformerBlock(self.channels, self.heads, dropout=dropout) for _ in range(self.num_layers)]
        )
        self.norm = nn.LayerNorm(self.channels)
        self.pool = EnergyFlowPool(normalize=True)
        self.head = nn.Sequential(
            nn.Linear(self.channels, self.channels), nn.ReLU(), nn.Linear(self.channels, self.out_channels)
        )

    def reset_parameters(self) -> None:
        """Re-initialise all weights."""
        self.embed.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        self.norm.reset_parameters()
        for m in self.head:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def _inputs(self, data: Any) -> tuple[Tensor, Tensor, Tensor, int]:
        pt = getattr(data, "pt", None)
        if pt is None:
            raise InputShapeError("JetCLREncoder needs pt (N,) on the jets")
        if pt.dim() == 2 and pt.size(1) == 1:
            pt = pt.view(-1)
        check_ndim(pt, 1, "pt", "(num_nodes,)")
        n = pt.numel()
        check_nonempty(n, "jet batch")
        check_finite(pt, "pt")
        batch, num_graphs = _batch_vector(data, n, pt.device)
        check_sorted(batch, "batch must be sorted in ascending order (as PyG batches are)")
        z = _momentum_fractions(pt.to(next(self.parameters()).dtype), batch, num_graphs)  # the model's dtype
        if self.features == "pos_z":
            pos = getattr(data, "pos", None)
            if pos is None:
                raise InputShapeError("features='pos_z' needs pos (N, 2) on the jets")
            check_ndim(pos, 2, "pos", "(num_nodes, 2)")
            if pos.shape != (n, 2):
                raise InputShapeError(f"pos must have shape ({n}, 2), got {tuple(pos.shape)}")
            u = torch.cat([pos.to(z.dtype), z.unsqueeze(-1)], dim=-1)
        else:
            x = getattr(data, "x", None)
            if x is None:
                raise InputShapeError("features='x' needs x (N, F) on the jets")
            check_ndim(x, 2, "x", "(num_nodes, features)")
            if x.shape != (n, self.in_channels):
                raise InputShapeError(f"x must have shape ({n}, {self.in_channels}), got {tuple(x.shape)}")
            u = x.to(z.dtype)
        check_finite(u, "per-particle input")
        return u, z, batch, num_graphs

    def _attention_bias(self, z: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        logz = torch.where(z > 0, torch.log(z.clamp_min(1e-30)), torch.full_like(z, _NO_KEY))
        dense, _ = to_dense_batch(logz, batch, fill_value=_NO_KEY, batch_size=num_graphs)  # (B, Nmax)
        b, nmax = dense.shape
        return dense[:, None, None, :].expand(b, self.heads, nmax, nmax)

    def pooled(self, data: Any) -> Tensor:
        r"""The pooled particle embedding :math:`\sum_i z_i h_i^{(L)}` before the head, :math:`(B, C)`."""
        u, z, batch, num_graphs = self._inputs(data)
        h = self.embed(u)
        bias = self._attention_bias(z, batch, num_graphs) if self.pt_weighted_attention else None
        for block in self.blocks:
            h = block(h, batch=batch, dense=True, dense_bias=bias)
        h = self.norm(h)
        return self.pool(h, batch, dim_size=num_graphs, pt=z)

    def forward(self, data: Any) -> Tensor:
        """Representation :math:`r` of every jet in ``data``; see the class docstring."""
        return self.head(self.pooled(data))

    @property
    def padded_inputs(self) -> tuple[str, ...]:
        """Fields of :meth:`forward_padded` (before the mask), see :func:`pgjets.models.padded.pad_batch`."""
        return ("pos", "pt") if self.features == "pos_z" else ("x", "pt")

    def forward_padded(self, u: Tensor, pt: Tensor, mask: Tensor) -> Tensor:
        r"""Representations from padded jets (``torch.compile`` / ONNX path).

        .. math::
            z_{bi} = \frac{M_{bi}\, p_{T,bi}}{\sum_j M_{bj}\, p_{T,bj}}, \qquad
            r_b = \mathrm{MLP}\Big(\sum_i z_{bi}\, h_{bi}^{(L)}\Big)

        with attention restricted to the valid particles.  Equal to :meth:`forward`
        on the same jets; no check for jets with zero total :math:`p_T` here.

        Args:
            u: ``pos`` :math:`(B, N, 2)` for ``features="pos_z"``, else ``x`` :math:`(B, N, F)`.
            pt: Padded transverse momenta :math:`(B, N)`.
            mask: Valid-particle mask :math:`(B, N)`.

        Shapes:
            - **output:** :math:`(B, \text{out\_channels})`
        """
        ptm = pt.to(u.dtype) * mask.to(u.dtype)
        z = ptm / ptm.sum(1, keepdim=True)
        if self.features == "pos_z":
            u = torch.cat([u, z.unsqueeze(-1)], dim=-1)
        h = self.embed(u)
        bias = None
        if self.pt_weighted_attention:
            logz = torch.where(z > 0, torch.log(z.clamp_min(1e-30)), torch.full_like(z, _NO_KEY))
            b, n = z.shape
            bias = logz[:, None, None, :].expand(b, self.heads, n, n)
        for block in self.blocks:
            h = block.forward_padded(h, mask, bias)
        return self.head((self.norm(h) * z.unsqueeze(-1)).sum(1))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, channels={self.channels}, "
            f"heads={self.heads}, num_layers={self.num_layers}, features={self.features!r})"
        )


#: Names that moved to :mod:`pgjets.train.jetclr` (training and evaluation); still importable from here.
_MOVED = ("jetclr_loss", "train_jetclr", "representations", "linear_classifier_test", "rotation_invariance")


def __getattr__(name: str) -> Any:
    # Old import path (``from pgjets.models.jetclr import train_jetclr``): the training code lives in
    # pgjets.train, which models may not import; resolved on first use only (CONTRIBUTING: exceptions).
    if name in _MOVED:
        from ..train import jetclr

        return getattr(jetclr, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["JetCLREncoder"]
