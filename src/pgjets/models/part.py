r"""Particle Transformer (ParT; Qu, Li, Qian, ICML 2022) from pgjets layers.

1. Particle embedding: per-particle MLP of the input features.
2. Interaction embedding: the pairwise features
   :math:`(\ln\Delta, \ln k_T, \ln z, \ln m^2)` of every particle pair
   (:mod:`pgjets.ops.pairwise`) pass through a pointwise MLP to one bias per
   head, :math:`U_{ij}^h`.
3. Particle-attention blocks: NormFormer blocks
   (:class:`~pgjets.nn.transformer.TransformerBlock` with ``normformer=True``)
   whose attention logits are :math:`q_i \cdot k_j / \sqrt d + U_{ij}^h`
   (dense fused path).
4. Class-attention blocks: a class token attends to the particles
   (:class:`~pgjets.nn.pma.ClassAttentionPool`, the raw token as the query,
   NormFormer blocks, no dropout); a linear layer on the class token gives the
   logits.

With the defaults this is the published network layer for layer: the same
parameters as weaver-core's ``ParticleTransformer`` (2.14 M for the 17 JetClass
features and 10 classes), and the same outputs when its weights are copied
over (eval mode; ``tests/models/test_part.py`` checks it against weaver when
weaver-core is installed).

Without positional encodings the output is permutation invariant.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

from ..nn.attention import dense_attention_mask
from ..ops.pairwise import NUM_PAIR_FEATURES, dense_pairwise_features
from ..ops.sizes import host_node_counts
from ..nn.pma import ClassAttentionPool
from ..nn.transformer import TransformerBlock
from .padded import check_inference, rowwise, check_model_dtypes


def _lower_triangle(n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    r"""Rows and columns of the pairs :math:`i \ge j` of an :math:`n \times n` grid, row-major.

    Closed form from the position :math:`t` (no ``tril_indices``, whose size would have to be
    known as a plain integer): :math:`i = \lfloor (\sqrt{8t + 1} - 1) / 2 \rfloor`,
    :math:`j = t - i(i + 1)/2`.
    """
    return _triangle_rows_cols(torch.arange(n * (n + 1) // 2, device=device))


def _triangle_rows_cols(t: Tensor) -> tuple[Tensor, Tensor]:
    """Row and column of position ``t`` in the row-major list of the pairs ``i >= j``."""
    i = ((torch.sqrt(8.0 * t.double() + 1.0) - 1.0) / 2.0).floor().long()
    j = t - i * (i + 1) // 2
    return i, j


class ParticleTransformer(nn.Module):
    r"""ParT jet tagger.

    .. math::
        \mathrm{Attn}^h(X)_i = \sum_j \operatorname{softmax}_j\Big(
            \frac{q^h_i \cdot k^h_j}{\sqrt{d}} + U^h_{ij}\Big) v^h_j,
        \qquad U^h_{ij} = \mathrm{MLP}^h\big(\ln\Delta_{ij}, \ln k_{T,ij}, \ln z_{ij}, \ln m^2_{ij}\big)

    Args:
        in_channels: Node feature size.
        num_classes: Output logits.
        embed_dims: Particle-embedding MLP sizes (last = model width :math:`C`), default ``(128, 512, 128)``.
        pair_embed_dims: Interaction-embedding MLP sizes, default ``(64, 64, 64)``.
        heads: Attention heads (published: 8).
        num_layers: Particle-attention blocks (published: 8).
        num_cls_layers: Class-attention blocks (published: 2).
        dropout: Dropout in attention and feed-forward layers of the particle blocks
            (published: 0.1; the class-attention blocks have none).
        use_pair_features: Add the interaction bias (needs ``p4`` on the batch).
        normformer: NormFormer blocks, as published (``False``: plain pre-norm blocks,
            a normalised class-token query, class blocks with ``dropout`` and no
            norm after the pair MLP).

    On the CPU (eager mode) the graph path builds the interaction bias and runs the particle
    attention in groups of consecutive jets whose ``(jets, H, N, N)`` block takes at most
    :attr:`chunk_bytes` (8 MiB; ``None``: the whole batch at once): a training step then allocates
    no block over all pairs of the batch, which with glibc's default malloc would be mapped and
    unmapped (page faults) at every step.  The result is the same (the batch-norm sums of the pair
    MLP round differently; the dropout draws are the same).

    The dense attention needs the largest jet and the number of pairs as Python numbers.  In eager
    mode they come from the batch's slice table on the CPU (:func:`pgjets.ops.host_node_counts`),
    so a training step on a GPU reads nothing back from the device; without the table they are
    read from the device once per forward.

    Shapes:
        - **input:** ``Batch`` with ``x`` :math:`(N, F)`, ``p4`` :math:`(N, 4)`, ``batch``
        - **output:** :math:`(B, \text{num\_classes})`
    """

    #: Largest ``(jets, H, N, N)`` block of the grouped CPU attention, in bytes (``None``: no groups).
    chunk_bytes: Optional[int] = 8 << 20

    def __init__(
        self,
        in_channels: int,
        num_classes: int = 2,
        embed_dims: Sequence[int] = (128, 512, 128),
        pair_embed_dims: Sequence[int] = (64, 64, 64),
        heads: int = 8,
        num_layers: int = 8,
        num_cls_layers: int = 2,
        dropout: float = 0.1,
        use_pair_features: bool = True,
        normformer: bool = True,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.input_norm = nn.BatchNorm1d(in_channels)
        layers: list[nn.Module] = []
        c = in_channels
        for d in embed_dims:
            layers += [nn.LayerNorm(c), nn.Linear(c, d), nn.GELU()]
            c = d
        self.embed = nn.Sequential(*layers)
        self.channels = c
        self.use_pair_features = use_pair_features
        if use_pair_features:
            pl: list[nn.Module] = [nn.BatchNorm1d(NUM_PAIR_FEATURES)]
            p = NUM_PAIR_FEATURES
            for d in pair_embed_dims:
                pl += [nn.Linear(p, d), nn.BatchNorm1d(d), nn.GELU()]
                p = d
            pl.append(nn.Linear(p, heads))
            if normformer:
                pl.append(nn.BatchNorm1d(heads))
            self.pair_embed = nn.Sequential(*pl)
        self.blocks = nn.ModuleList([TransformerBlock(c, heads, dropout=dropout, normformer=normformer)
                                     for _ in range(num_layers)])
        self.cls = ClassAttentionPool(c, heads, num_blocks=num_cls_layers, dropout=0.0 if normformer else dropout,
                                      query_norm=not normformer, normformer=normformer)
        self.norm = nn.LayerNorm(c)
        self.head = nn.Linear(c, num_classes)
        #: Fields of :meth:`forward_padded` (before the mask).
        self.padded_inputs: tuple[str, ...] = ("x", "p4") if use_pair_features else ("x",)
        self.input_shapes = {"x": (in_channels,), "p4": (4,)} if use_pair_features else {"x": (in_channels,)}

    def pair_bias_reference(self, p4: Tensor, batch: Tensor) -> Tensor:
        """Interaction bias ``(B, H, N_max, N_max)`` through the pair MLP on every ordered pair (reference)."""
        dense, mask = to_dense_batch(p4, batch)
        feats = dense_pairwise_features(dense, mask)  # (B, N, N, 4)
        B, N = mask.shape
        pair_mask = mask[:, :, None] & mask[:, None, :]
        emb = self.pair_embed(feats[pair_mask])
        out = emb.new_zeros(B, N, N, self.heads)
        out[pair_mask] = emb
        return out.permute(0, 3, 1, 2).contiguous()

    def _plain_pair_embed(self) -> bool:
        """Whether the pair MLP is made of batch norms, linear maps and GELUs only (the fast paths)."""
        return all(isinstance(m, (nn.BatchNorm1d, nn.Linear, nn.GELU)) for m in self.pair_embed)

    def _folded_pair_embed(self) -> Optional[list[tuple[Tensor, Tensor, Optional[nn.Module]]]]:
        """The eval-mode pair MLP as ``(weight, bias, activation)`` layers, batch norms folded in.

        Returns ``None`` unless the MLP is the usual ``BN, (Linear, BN, GELU)*, Linear`` stack
        with running statistics.
        """
        mods = list(self.pair_embed)
        if not self._plain_pair_embed():
            return None
        if any(isinstance(m, nn.BatchNorm1d) and (m.running_mean is None or not m.affine) for m in mods):
            return None

        def bn_affine(bn: nn.BatchNorm1d) -> tuple[Tensor, Tensor]:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            return scale, bn.bias - bn.running_mean * scale

        layers: list[tuple[Tensor, Tensor, Optional[nn.Module]]] = []
        pre: Optional[tuple[Tensor, Tensor]] = None
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.BatchNorm1d) and not layers and pre is None:
                pre = bn_affine(m)  # input normalisation, folded into the next linear map
                i += 1
                continue
            if not isinstance(m, nn.Linear):
                return None
            w = m.weight
            b = m.bias if m.bias is not None else w.new_zeros(w.size(0))
            if pre is not None:
                b = b + w @ pre[1]
                w = w * pre[0]
                pre = None
            i += 1
            if i < len(mods) and isinstance(mods[i], nn.BatchNorm1d):
                scale, shift = bn_affine(mods[i])
                w, b = w * scale[:, None], b * scale + shift
                i += 1
            act = None
            if i < len(mods) and isinstance(mods[i], nn.GELU):
                act = mods[i]
                i += 1
            layers.append((w, b, act))
        return layers if pre is None else None

    def _pair_embed_weighted_chunks(self, feats: list[Tensor], weights: list[Tensor]) -> list[Tensor]:
        r"""Training-mode pair MLP on unordered pairs listed in blocks (rows of one batch), batch norms
        weighted as over ordered pairs.

        Pair :math:`\{i, j\}` with :math:`i \ne j` stands for the two ordered pairs
        :math:`(i, j)` and :math:`(j, i)` (weight 2), :math:`i = j` for one (weight 1); the batch
        mean and (biased) variance are the weighted ones, the running statistics are updated with
        the unbiased variance of the ordered pairs, exactly as ``BatchNorm1d`` on all ordered pairs.
        Every layer runs block by block; a batch norm takes its moments over all blocks (sums of
        the blocks' matrix-vector products), so no ``(pairs, channels)`` tensor of the whole
        batch is allocated.
        """
        total = weights[0].sum()
        for wt in weights[1:]:
            total = total + wt.sum()
        ws = [wt / total for wt in weights]
        hs = list(feats)
        for m in self.pair_embed:
            if isinstance(m, nn.BatchNorm1d):
                # weighted moments as matrix-vector products (few passes over the pairs)
                mean = sq = None
                for w, h in zip(ws, hs):
                    mean = w @ h if mean is None else mean + w @ h
                    sq = w @ (h * h) if sq is None else sq + w @ (h * h)
                var = (sq - mean * mean).clamp_min(0.0)
                if m.track_running_stats and m.running_mean is not None:
                    with torch.no_grad():
                        m.num_batches_tracked.add_(1)
                        mom = m.momentum if m.momentum is not None else 1.0 / m.num_batches_tracked
                        unbiased = total / (total - 1.0).clamp_min(1.0)  # no host read of the count
                        m.running_mean.mul_(1 - mom).add_(mom * mean.detach())
                        m.running_var.mul_(1 - mom).add_(mom * var.detach() * unbiased)
                scale = torch.rsqrt(var + m.eps)
                if m.affine:
                    scale = scale * m.weight
                    shift = m.bias - mean * scale
                else:
                    shift = -mean * scale
                hs = [torch.addcmul(shift, h, scale) for h in hs]  # (h - mean) * scale + bias
            else:
                hs = [m(h) for h in hs]
        return hs

    def pair_bias(self, p4: Tensor, batch: Tensor, num_graphs: Optional[int] = None,
                  max_num_nodes: Optional[int] = None, num_pairs: Optional[int] = None) -> Tensor:
        r"""Interaction bias ``(B, H, N_max, N_max)``; pairs with padding get 0.

        The pair features are symmetric, :math:`U_{ij} = U_{ji}`, so the pair MLP runs on the
        real pairs :math:`i \ge j` only (:math:`\sum_b n_b (n_b + 1) / 2 =` ``num_pairs``, listed
        without ``nonzero``) and the result is mirrored; the MLP itself is the one of the padded
        path (:meth:`_pair_mlp`).  With the sizes given no value is read back to the host.
        Equal to :meth:`pair_bias_reference` up to rounding in both modes.
        """
        if not self._plain_pair_embed() or (not self.training and self._folded_pair_embed() is None):
            return self.pair_bias_reference(p4, batch)
        B = num_graphs if num_graphs is not None else (int(batch.max()) + 1 if batch.numel() else 1)
        counts = torch.zeros(B, dtype=torch.long, device=p4.device).scatter_add_(0, batch, torch.ones_like(batch))
        tri = counts * (counts + 1) // 2  # pairs i >= j per jet
        if max_num_nodes is None or num_pairs is None:
            max_num_nodes, num_pairs = torch.stack([counts.max(), tri.sum()]).tolist()
        feats, weight, pairs = self._listed_pairs(p4, batch, tri, B, max_num_nodes, num_pairs)
        return self._mirrored_bias(self._pair_mlp(feats, weight), pairs, B, max_num_nodes)

    @staticmethod
    def _listed_pairs(p4: Tensor, batch: Tensor, tri: Tensor, num_graphs: int, max_num_nodes: int,
                      num_pairs: int) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
        """The pair features ``(P, 4)`` of the pairs :math:`i \\ge j` of every jet (``tri`` per jet),
        their batch-norm weights (2 for :math:`i \\ne j`, 1 for :math:`i = j`) and their
        ``(jet, i, j)`` indices."""
        dense, mask = to_dense_batch(p4, batch, batch_size=num_graphs, max_num_nodes=max_num_nodes)
        g = torch.repeat_interleave(torch.arange(num_graphs, device=p4.device), tri, output_size=num_pairs)
        i, j = _triangle_rows_cols(torch.arange(num_pairs, device=p4.device) - (torch.cumsum(tri, 0) - tri)[g])
        feats = dense_pairwise_features(dense, mask)[g, i, j]  # (pairs, 4)
        return feats, torch.where(i == j, 1.0, 2.0).to(feats.dtype), (g, i, j)

    def _mirrored_bias(self, h: Tensor, pairs: tuple[Tensor, Tensor, Tensor], num_graphs: int,
                       max_num_nodes: int) -> Tensor:
        """The ``(B, H, N, N)`` bias of the listed pairs' MLP outputs ``h``, mirrored (0 at padding)."""
        g, i, j = pairs
        out = h.new_zeros(num_graphs, max_num_nodes, max_num_nodes, self.heads)
        out[g, i, j] = h
        out[g, j, i] = h
        return out.permute(0, 3, 1, 2)

    def _pair_mlp(self, feats: Tensor, weight: Tensor) -> Tensor:
        """The pair MLP on listed pairs ``(P, 4)``: training mode with batch norms over the ordered
        pairs (``weight`` 2 for :math:`i \\ne j`, 1 for :math:`i = j`, 0 for padding), eval mode
        with the batch norms folded (or the modules as they are)."""
        return self._pair_mlp_chunks([feats], [weight])[0]

    def _pair_mlp_chunks(self, feats: list[Tensor], weights: list[Tensor]) -> list[Tensor]:
        """:meth:`_pair_mlp` on pairs listed in blocks (the batch norms' statistics over all of them)."""
        if self.training and self._plain_pair_embed():
            return self._pair_embed_weighted_chunks(feats, weights)
        layers = None if self.training else self._folded_pair_embed()
        if layers is None:
            if len(feats) > 1 and self.training:
                raise ValueError("the pair MLP in blocks needs batch norms, linear maps and GELUs only")
            return [self.pair_embed(f) for f in feats]
        out = []
        for h in feats:
            for w, b, act in layers:
                h = torch.nn.functional.linear(h, w, b)
                if act is not None:
                    h = act(h)
            out.append(h)
        return out

    def pair_bias_chunks(self, p4: Tensor, batch: Tensor, counts: Sequence[int], max_num_nodes: int,
                         chunk_sizes: Sequence[int]) -> list[Tensor]:
        r""":meth:`pair_bias` in groups of consecutive jets: one ``(B_c, H, N, N)`` block per group.

        ``counts`` are the particles per jet and ``chunk_sizes`` the jets per group (host
        numbers).  The pair features, the pair MLP (batch norms over all pairs of the batch) and
        the mirrored bias are built group by group, so that no tensor over all pairs or all
        ``(B, H, N, N)`` entries is allocated.  Concatenated, the blocks equal :meth:`pair_bias`
        (up to the rounding of the batch-norm sums in training mode).
        """
        counts, sizes, N = [int(c) for c in counts], [int(c) for c in chunk_sizes], int(max_num_nodes)
        if sum(sizes) != len(counts):
            raise ValueError(f"chunk_sizes {sizes} do not split {len(counts)} jets")
        if not self._plain_pair_embed() or (not self.training and self._folded_pair_embed() is None):
            return list(self.pair_bias_reference(p4, batch).split(sizes))
        feats: list[Tensor] = []
        weights: list[Tensor] = []
        layout = []
        jet = node = 0
        for size in sizes:
            cnt = counts[jet:jet + size]
            tri = [c * (c + 1) // 2 for c in cnt]
            nodes = sum(cnt)
            f, w, pairs = self._listed_pairs(p4[node:node + nodes], batch[node:node + nodes] - jet,
                                             torch.tensor(tri, dtype=torch.long, device=p4.device), size, N, sum(tri))
            feats.append(f)
            weights.append(w)
            layout.append((size, pairs))
            jet, node = jet + size, node + nodes
        return [self._mirrored_bias(h, pairs, size, N)
                for h, (size, pairs) in zip(self._pair_mlp_chunks(feats, weights), layout)]

    def _chunk_sizes(self, num_graphs: int, max_num_nodes: int, x: Tensor) -> Optional[list[int]]:
        """Jets per group of the grouped attention (:attr:`chunk_bytes`), or ``None`` for one block."""
        if self.chunk_bytes is None or x.device.type != "cpu" or torch.compiler.is_compiling():
            return None
        per_jet = self.heads * max_num_nodes * max_num_nodes * x.element_size()
        if num_graphs * per_jet <= self.chunk_bytes:
            return None
        n = max(1, self.chunk_bytes // max(per_jet, 1))
        return [min(n, num_graphs - s) for s in range(0, num_graphs, n)]

    def node_embeddings(self, data) -> Tensor:
        batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros(
            data.x.size(0), dtype=torch.long, device=data.x.device)
        B = getattr(data, "num_graphs", None) if getattr(data, "batch", None) is not None else 1
        if B is None:
            B = int(batch.max()) + 1 if batch.numel() else 1
        # the sizes: the largest jet (padded length) and the number of pairs i >= j, in eager mode
        # from the batch's slice table on the CPU (no host sync), else read once from the device
        # (the one host read of the graph path; under torch.compile the one graph break)
        counts = host_node_counts(data, batch, num_graphs=B)
        if counts is None:
            counts = torch.zeros(B, dtype=torch.long, device=batch.device).scatter_add_(
                0, batch, torch.ones_like(batch))
        N, P = torch.stack([counts.max(), (counts * (counts + 1) // 2).sum()]).tolist()
        x = self.embed(self.input_norm(data.x))
        sizes = self._chunk_sizes(B, N, x)
        if sizes is None:
            bias = self.pair_bias(data.p4, batch, B, N, P) if self.use_pair_features else None
        else:  # the CPU: bias and attention in groups of jets (no (B, H, N, N) temporaries)
            bias = self.pair_bias_chunks(data.p4, batch, counts.tolist(), N, sizes) if self.use_pair_features else None
        # the additive mask (pair bias, -inf at the padding keys) built once, shared by all blocks
        mask = dense_attention_mask(batch, bias, dtype=x.dtype, num_graphs=B, max_num_nodes=N, chunk_sizes=sizes)
        for blk in self.blocks:
            x = blk(x, batch=batch, dense=True, dense_mask=mask)
        return x

    def graph_embeddings(self, data) -> Tensor:
        check_model_dtypes(self, data=data)
        x = self.node_embeddings(data)
        size = getattr(data, "num_graphs", None)
        return self.norm(self.cls(x, data.batch, dim_size=size))

    def forward(self, data) -> Tensor:
        return self.head(self.graph_embeddings(data))

    def pair_bias_padded(self, p4: Tensor, mask: Tensor) -> Tensor:
        r"""Interaction bias ``(B, H, N, N)`` of padded jets; pairs with padding get 0.

        The pair features are symmetric, :math:`U_{ij} = U_{ji}`, so the pair MLP runs on the
        pairs :math:`i \ge j` only (a fixed index set: static shapes) and the result is
        mirrored.  In eval mode the batch norms are folded into the linear maps; in training
        mode they are weighted (pairs with padding 0, :math:`i \ne j` 2, :math:`i = j` 1) so
        that their statistics and gradients are those over all ordered pairs of real particles.
        """
        B, N = mask.shape
        rows, cols = _lower_triangle(N, p4.device)  # rows >= cols
        pair = mask[:, rows] & mask[:, cols]  # (B, T)
        feats = dense_pairwise_features(p4, mask)[:, rows, cols]  # (B, T, 4)
        feats = feats.masked_fill(~pair.unsqueeze(-1), 0.0).reshape(-1, feats.size(-1))
        weight = pair.to(feats.dtype) * torch.where(rows == cols, 1.0, 2.0).to(feats.dtype)
        h = self._pair_mlp(feats, weight.reshape(-1))
        h = h.view(B, rows.numel(), -1).masked_fill(~pair.unsqueeze(-1), 0.0)
        out = h.new_zeros(B, N, N, h.size(-1))
        out[:, rows, cols] = h
        out[:, cols, rows] = h
        return out.permute(0, 3, 1, 2)

    def forward_padded(self, x: Tensor, *rest: Tensor) -> Tensor:
        r"""Logits from padded jets (inference path for ``torch.compile`` and ONNX).

        Called as ``forward_padded(x, p4, mask)`` (``forward_padded(x, mask)``
        without pair features); the attention of every block is restricted to
        the valid particles.  Equal to :meth:`forward` on the same jets (eval mode).

        .. math::
            U_{bij}^h = M_{bi} M_{bj}\, \mathrm{MLP}^h(\mathbf{e}_{bij})

        Shapes:
            - **input:** ``x`` :math:`(B, N, F)`, ``p4`` :math:`(B, N, 4)`, ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, \text{num\_classes})`
        """
        check_model_dtypes(self, padded=(x, *rest))
        check_inference(self)
        if len(rest) != len(self.padded_inputs):
            raise TypeError(f"forward_padded takes {(*self.padded_inputs, 'mask')}")
        mask = rest[-1]
        h = self.embed(rowwise(self.input_norm, x))
        bias = self.pair_bias_padded(rest[0], mask) if self.use_pair_features else None
        for blk in self.blocks:
            h = blk.forward_padded(h, mask, bias)
        return self.head(self.norm(self.cls.forward_padded(h, mask)))


def part_lite(in_channels: int, num_classes: int = 2) -> ParticleTransformer:
    """A small ParT for CPUs: width 64, 4 heads, 3 + 1 blocks, pair MLP (32, 32)."""
    return ParticleTransformer(in_channels, num_classes, embed_dims=(64, 128, 64), pair_embed_dims=(32, 32),
                               heads=4, num_layers=3, num_cls_layers=1, dropout=0.0)


__all__ = ["ParticleTransformer", "part_lite"]
