r"""LorentzNet (Gong, Meng, Ma, Chen, Wang, Zhao, Liu, Li; JHEP 07 (2022) 030, arXiv:2201.08187).

A jet is the fully connected graph of its constituents' four-momenta
:math:`x_i = p_i = (E, p_x, p_y, p_z)` (the ``p4`` of the jet graph convention,
in GeV), plus, as in the authors' top-tagging code, two *beam* particles

.. math::
    p_{\pm} = (\sqrt{2}, 0, 0, \pm 1) \qquad (m = 1)

per jet.  Scalar inputs :math:`\mathbf{s}_i` are embedded,
:math:`\mathbf{h}^{(0)}_i = W \mathbf{s}_i`, passed through :math:`L` Lorentz group
equivariant blocks (:class:`~pgjets.nn.lorentz_conv.LorentzConv`, the input scalars
fed to every block as node attributes, no four-vector update in the last one)
and mean-pooled over all nodes of the jet, beams included,

.. math::
    f(G) = \mathrm{MLP}\Big(\frac{1}{n + 2}\sum_{i} \mathbf{h}^{(L)}_i\Big), \qquad
    \mathrm{MLP} = \mathrm{Linear} - \mathrm{ReLU} - \mathrm{Dropout} - \mathrm{Linear}.

**Scalars.**  The authors use :math:`\psi` (below) of a one-hot of "particle" and "beam"
multiplied by the mass :math:`\sqrt{|p^2|}`: a beam gets :math:`(0, \ln 2)`, a particle
:math:`(\psi(m), 0)`, which for massless constituents stored in float32 is round-off
(:math:`\psi(x) = \mathrm{sign}(x) \ln(|x| + 1)`).  Here the scalars are the plain one-hot
:math:`(1, 0)` for a constituent and :math:`(0, 1)` for a beam (the constituents'
masses are not resolved from float32 four-momenta of energetic particles:
:math:`E^2 - |\vec p|^2` cancels to round-off), optionally extended by
Lorentz-invariant columns of ``x`` such as the charge and particle-ID one-hots
(``scalar_columns``).  Without beams the one-hot is a single constant 1.

**Symmetry.**  All four-momenta enter through Minkowski products only.  Without
beams the logits are invariant under every proper orthochronous Lorentz
transformation of the jet (:func:`pgjets.symmetry.lorentz_error`).  The beams
single out the :math:`z` axis: a boost along it, or a rotation that tilts it,
changes the beam four-vectors relative to the jet, so only the rotations about
the beam axis (a common shift of every particle's :math:`\phi`) remain exact
(:func:`pgjets.symmetry.azimuthal_rotation_error`).

Differences from the authors' code (``sdogsq/LorentzNet-release``): the scalars
above; the mean pools over the real nodes of each jet (their padded code divides
by the padded size); and the four-vector update is not clamped (they clip each
component of :math:`\phi_x`-weighted differences to :math:`\pm 100` GeV, which
acts on energetic pairs once :math:`|\phi_x|` exceeds about 0.1 and, acting per
component, breaks the equivariance).  With the same scalars, jets of one size
and their weights copied (``LGEBs.k`` to ``convs.k``, ``graph_dec`` to
``classifier``; 224 072 parameters each at the published top-tagging settings,
``hidden_channels=72, num_layers=6, c_weight=5e-3``) both give the same logits
to float32 round-off (an outside review).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool

from ..errors import InputShapeError
from ..graphs.set import complete_graph_edges, fully_connected_edge_index
from ..ops.sizes import batch_from_slices, host_node_counts
from ..nn.lorentz_conv import LorentzConv
from .padded import check_inference, masked_reduce


def _batch_of(data, n: int, device: torch.device) -> tuple[Tensor, int, Optional[Tensor]]:
    """The graph index of every particle, the number of jets and the particles per jet on the host.

    The host counts come from the slice table of ``p4`` (:func:`~pgjets.ops.host_node_counts`;
    ``None`` when the batch has no usable table: the sizes are then read from the device).  PyG
    gives a ``Batch`` of graphs that carry only ``p4`` (no ``x``, no ``num_nodes``) no ``batch``
    vector; it is rebuilt from that table, so such a batch is not mistaken for one jet.
    """
    batch = getattr(data, "batch", None)
    num = getattr(data, "num_graphs", None)
    if batch is not None:
        num = int(num) if num is not None else int(batch.max()) + 1
        return batch, num, host_node_counts(data, batch, num_graphs=num, key="p4")
    if num is None or int(num) <= 1:
        return torch.zeros(n, dtype=torch.long, device=device), 1, torch.tensor([n])
    rebuilt = batch_from_slices(data, "p4", num_graphs=int(num))
    if rebuilt is None:
        raise InputShapeError(
            f"LorentzNet got a batch of {int(num)} jets without a batch vector and without the slice "
            "table of p4: build it with Batch.from_data_list or a PyG DataLoader, or set batch.batch"
        )
    return rebuilt[0].to(device), int(num), rebuilt[1]


class LorentzNet(nn.Module):
    r"""LorentzNet jet tagger on the four-momenta ``p4`` (see the module docstring).

    .. math::
        f(G) = \mathrm{MLP}\Big(\underset{i \in G \cup \{p_+, p_-\}}{\mathrm{mean}}\,
            \mathbf{h}_i^{(L)}\Big), \qquad
        (\mathbf{h}^{(l+1)}, x^{(l+1)}) = \mathrm{LGEB}_l(\mathbf{h}^{(l)}, x^{(l)})

    Args:
        in_channels: Size of ``batch.x`` (only read for ``scalar_columns``; the
            registry passes it).
        num_classes: Output logits.
        hidden_channels: Width of the blocks (72 in the paper).
        num_layers: Number of LGEB blocks (6 in the paper).
        c_weight: Step :math:`c` of the four-vector update (0.005 for top tagging).
        dropout: Dropout of the classifier (0.2 in the authors' top-tagging run).
        beams: Append the two beam particles :math:`(\sqrt{2}, 0, 0, \pm 1)` per jet.
        scalar_columns: Columns of ``x`` appended to the scalar inputs (they must be
            Lorentz invariant, e.g. charge and particle-ID one-hots); default none.
        p4_scale: Factor applied to ``p4`` (and the beams) before the first block
            (1: GeV, as the authors).

    Shapes:
        - **input:** a PyG ``Batch`` with ``p4`` :math:`(N, 4)` (and ``x`` :math:`(N, F)` for
          ``scalar_columns``), ``batch`` (a batch of ``p4``-only graphs, which PyG leaves without
          it, gets it from the slice table of ``p4``; a single ``Data`` is one jet)
        - **output:** logits :math:`(B, \text{num\_classes})`
    """

    #: Fields of :meth:`forward_padded` (before the mask), see :func:`pgjets.models.padded.pad_batch`.
    padded_inputs: tuple[str, ...] = ("p4",)

    def __init__(
        self,
        in_channels: Optional[int] = None,
        num_classes: int = 2,
        hidden_channels: int = 72,
        num_layers: int = 6,
        c_weight: float = 0.005,
        dropout: float = 0.2,
        beams: bool = True,
        scalar_columns: Optional[Sequence[int]] = None,
        p4_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.in_channels = in_channels
        self.beams = bool(beams)
        self.scalar_columns = tuple(int(c) for c in (scalar_columns or ()))
        if self.scalar_columns:
            if in_channels is None:
                raise ValueError("scalar_columns needs in_channels")
            bad = [c for c in self.scalar_columns if not -in_channels <= c < in_channels]
            if bad:
                raise ValueError(f"scalar_columns {bad} are out of range for {in_channels} input features")
            self.padded_inputs = ("x", "p4")
        self.p4_scale = float(p4_scale)
        n_scalar = (2 if self.beams else 1) + len(self.scalar_columns)
        self.num_scalars = n_scalar
        self.embedding = nn.Linear(n_scalar, hidden_channels)
        self.convs = nn.ModuleList([
            LorentzConv(hidden_channels, attr_channels=n_scalar, c_weight=c_weight,
                        last_layer=(i == num_layers - 1))
            for i in range(int(num_layers))
        ])
        self.classifier = nn.Sequential(
            nn.Linear(hidden_channels, hidden_channels), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_channels, num_classes))
        self.embedding_size = hidden_channels

    # ----------------------------------------------------------- inputs
    def _beam_p4(self, num: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        """``(num, 2, 4)``: the beams :math:`(\\sqrt{2}, 0, 0, \\pm 1)` of every jet."""
        r2 = math.sqrt(2.0)
        beams = torch.tensor([[r2, 0.0, 0.0, 1.0], [r2, 0.0, 0.0, -1.0]], dtype=dtype, device=device)
        return beams.expand(num, 2, 4)

    def _particle_scalars(self, data, n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
        one = torch.ones(n, 1, dtype=dtype, device=device)
        parts = [one, torch.zeros_like(one)] if self.beams else [one]
        if self.scalar_columns:
            parts.append(data.x[..., list(self.scalar_columns)].to(dtype))
        return torch.cat(parts, dim=-1)

    def _inputs(self, data) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
        """``(scalars, p4, batch, edge_index, num_graphs)`` of the jets plus their beams."""
        p4 = getattr(data, "p4", None)
        if p4 is None or p4.dim() != 2 or p4.size(1) != 4:
            raise InputShapeError("LorentzNet needs batch.p4 (num_nodes, 4) = (E, px, py, pz)")
        if self.scalar_columns and getattr(data, "x", None) is None:
            raise InputShapeError("LorentzNet with scalar_columns needs batch.x")
        n = p4.size(0)
        dtype, device = self.embedding.weight.dtype, p4.device
        # the graph sizes on the host (slice table, or one jet): the edges are then built with every
        # output size known, so a training step reads nothing back from the device
        batch, num, host = _batch_of(data, n, device)
        p4 = p4.to(dtype) * self.p4_scale
        scalars = self._particle_scalars(data, n, dtype, device)
        if self.beams:
            beam_p4 = self._beam_p4(num, dtype, device).reshape(-1, 4) * self.p4_scale
            beam_s = torch.zeros(2 * num, self.num_scalars, dtype=dtype, device=device)
            beam_s[:, 1] = 1.0
            owner = torch.cat([batch, torch.arange(num, device=device).repeat_interleave(2)])
            is_beam = torch.cat([torch.zeros_like(batch), torch.ones(2 * num, dtype=torch.long, device=device)])
            order = torch.argsort(owner * 2 + is_beam, stable=True)  # each jet's particles, then its beams
            p4 = torch.cat([p4, beam_p4])[order]
            scalars = torch.cat([scalars, beam_s])[order]
            batch = owner[order]
        if host is None:
            return scalars, p4, batch, fully_connected_edge_index(torch.bincount(batch, minlength=num)), num
        host = host + (2 if self.beams else 0)
        counts = torch.zeros(num, dtype=torch.long, device=device).scatter_add_(0, batch, torch.ones_like(batch))
        edges = complete_graph_edges(counts, int(host.sum()), int((host * (host - 1)).sum()))
        return scalars, p4, batch, edges, num

    # ---------------------------------------------------------- forward
    def _encode(self, data) -> tuple[Tensor, Tensor, Tensor, int]:
        scalars, x, batch, edge_index, num = self._inputs(data)
        h = self.embedding(scalars)
        for conv in self.convs:
            h, x = conv(h, x, edge_index, node_attr=scalars)
        return h, x, batch, num

    def node_embeddings(self, data) -> tuple[Tensor, Tensor, Tensor]:
        r"""``(h, x, batch)`` after the last block, beams included (``h`` :math:`(N', C)`)."""
        h, x, batch, _ = self._encode(data)
        return h, x, batch

    def graph_embeddings(self, data) -> Tensor:
        """Mean-pooled jet embedding, ``(B, C)``."""
        h, _, batch, num = self._encode(data)
        return global_mean_pool(h, batch, size=num)

    def forward(self, data) -> Tensor:
        return self.classifier(self.graph_embeddings(data))

    def forward_padded(self, *tensors: Tensor) -> Tensor:
        r"""Logits from padded jets (inference path for ``torch.compile`` and ONNX).

        Called as ``forward_padded(p4, mask)`` (or ``(x, p4, mask)`` with
        ``scalar_columns``).  The beams are prepended to every jet; all pairs of
        valid particles interact (dense :math:`(B, N + 2, N + 2)` messages).

        .. math::
            f(P, M) = \mathrm{MLP}\Big(\frac{\sum_i M_i \mathbf{h}^{(L)}_i}{\sum_i M_i}\Big)

        Shapes:
            - **input:** ``p4`` :math:`(B, N, 4)` (``x`` :math:`(B, N, F)`), ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, \text{num\_classes})`
        """
        check_inference(self)
        if self.scalar_columns:
            x, p4, mask = tensors
        else:
            (p4, mask), x = tensors, None
        B, N, _ = p4.shape
        dtype = self.embedding.weight.dtype
        p4 = p4.to(dtype) * self.p4_scale
        mask = mask.to(torch.bool)
        one = torch.ones(B, N, 1, dtype=dtype, device=p4.device)
        parts = [one, torch.zeros_like(one)] if self.beams else [one]
        if x is not None:
            parts.append(x[..., list(self.scalar_columns)].to(dtype))
        scalars = torch.cat(parts, dim=-1)
        if self.beams:
            beam_s = torch.zeros(B, 2, self.num_scalars, dtype=dtype, device=p4.device)
            beam_s[..., 1] = 1.0
            p4 = torch.cat([self._beam_p4(B, dtype, p4.device) * self.p4_scale, p4], dim=1)
            scalars = torch.cat([beam_s, scalars], dim=1)
            mask = torch.cat([torch.ones(B, 2, dtype=torch.bool, device=mask.device), mask], dim=1)
        h = self.embedding(scalars)
        xv = p4
        for conv in self.convs:
            h, xv = conv.forward_padded(h, xv, mask, node_attr=scalars)
        return self.classifier(masked_reduce(h, mask, "mean"))


__all__ = ["LorentzNet"]
