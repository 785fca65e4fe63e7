r"""Set models: Deep Sets and the Set Transformer.

- :class:`DeepSets` (Zaheer et al. 2017): equivariant layers
  :math:`x_i \mapsto \Lambda x_i + \Gamma\,\mathrm{mean}_j x_j`, a sum/mean readout
  and an MLP, :math:`f(X) = \rho(\sum_i \phi(x_i))`.
- :class:`SetTransformer` (Lee et al. 2019): self-attention blocks (SAB) over
  all pairs of particles, pooling by multi-head attention (PMA) and an MLP.

Both are permutation invariant.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..nn.attention import dense_attention_mask
from ..nn.deep_sets import DeepSetsLayer
from ..nn.deep_sets_pool import DeepSetsPool
from ..nn.pma import PMAPool
from ..nn.transformer import TransformerBlock
from ..ops.sizes import host_node_counts
from .padded import check_inference, masked_reduce, rowwise, check_model_dtypes


def _batch(data) -> tuple[Tensor, int]:
    b = getattr(data, "batch", None)
    if b is None:
        return torch.zeros(data.x.size(0), dtype=torch.long, device=data.x.device), 1
    num_graphs = getattr(data, "num_graphs", None)  # a PyG Batch knows it: no host read
    return b, int(b.max()) + 1 if num_graphs is None else num_graphs


class DeepSets(nn.Module):
    r"""Deep Sets classifier.

    .. math::
        f(X) = \rho\Big(\frac{1}{n}\sum_i \phi(x_i)\Big), \qquad
        \phi = (\Lambda x + \Gamma\,\mathrm{mean}(x))^{\circ L}

    Args:
        in_channels: Node feature size.
        num_classes: Output logits.
        hidden: Sizes of the equivariant layers, default ``(64, 128, 128)``.
        pool: Readout ``"sum"``, ``"mean"`` or ``"max"``.

    Shapes:
        - **input:** ``Batch`` with ``x``, ``batch``; **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, num_classes: int = 2, hidden: Sequence[int] = (64, 128, 128),
                 pool: str = "mean") -> None:
        super().__init__()
        self.input_shapes = {"x": (in_channels,)}  # checked at the first layer (check_input_shapes)
        self.norm = nn.BatchNorm1d(in_channels)
        dims = [in_channels, *hidden]
        self.layers = nn.ModuleList([DeepSetsLayer(a, b) for a, b in zip(dims[:-1], dims[1:])])
        self.pool = DeepSetsPool(pool)
        self.head = nn.Sequential(nn.Linear(dims[-1], 64), nn.ReLU(), nn.Linear(64, num_classes))

    def graph_embeddings(self, data) -> Tensor:
        check_model_dtypes(self, data=data)
        batch, size = _batch(data)
        x = self.norm(data.x)
        for layer in self.layers:
            x = torch.relu(layer(x, batch, num_graphs=size))
        return self.pool(x, batch, dim_size=size)

    def forward(self, data) -> Tensor:
        return self.head(self.graph_embeddings(data))

    #: Fields of :meth:`forward_padded` (before the mask).
    padded_inputs = ("x",)

    def forward_padded(self, x: Tensor, mask: Tensor) -> Tensor:
        r"""Logits from padded jets (inference path for ``torch.compile`` and ONNX).

        .. math::
            \mathbf{x}_i' = \Lambda \mathbf{x}_i + \Gamma \bigoplus_{j:\, M_j = 1} \mathbf{x}_j

        Shapes:
            - **input:** ``x`` :math:`(B, N, F)`, ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, K)`
        """
        check_model_dtypes(self, padded=(x, mask))
        check_inference(self)
        h = rowwise(self.norm, x)
        for layer in self.layers:
            ctx = masked_reduce(h, mask, layer.pool_reduce)
            h = torch.relu(layer.lam(h) + layer.gamma(ctx).unsqueeze(1))
        return self.head(masked_reduce(h, mask, self.pool.aggr))


class SetTransformer(nn.Module):
    r"""Set Transformer classifier: embedding, self-attention blocks, PMA, MLP.

    .. math::
        f(X) = \mathrm{MLP}\big(\mathrm{PMA}_S(\mathrm{SAB}^{L}(W\,\mathrm{BN}(X)))\big),

    with pre-norm blocks (:class:`~pgjets.nn.transformer.TransformerBlock`)

    .. math::
        H = X + \mathrm{MHA}(\mathrm{LN}(X)), \qquad
        \mathrm{SAB}(X) = H + \mathrm{FFN}(\mathrm{LN}(H)),

    :math:`\mathrm{FFN}` 4C wide with GELU, attention scaled by :math:`1/\sqrt{d_\text{head}}`,
    and the PMA of :class:`~pgjets.nn.pma.PMAPool`.

    **Differences from the authors' code** (Lee et al., ``juho-lee/set_transformer``), so that
    their weights do not port: their MAB is post-norm (LayerNorm only with ``ln=True``) with a
    one-layer ReLU feed-forward, adds the projected query :math:`\mathrm{fc}_q(Q)` as the
    residual, has no output projection and scales attention by :math:`1/\sqrt{d_V}` (the whole
    width, not a head's); their model has ISAB blocks and SABs after the pooling, none here, and
    no input batch norm. Their padded code also has no mask (padding rows take part in the
    attention); here padding never does.

    Args:
        in_channels: Node feature size.
        num_classes: Output logits.
        channels: Model width.
        heads: Attention heads.
        num_blocks: Self-attention blocks.
        num_seeds: PMA seeds.

    Shapes:
        - **input:** ``Batch`` with ``x``, ``batch``; **output:** :math:`(B, K)`
    """

    def __init__(self, in_channels: int, num_classes: int = 2, channels: int = 64, heads: int = 4,
                 num_blocks: int = 2, num_seeds: int = 1) -> None:
        super().__init__()
        self.input_shapes = {"x": (in_channels,)}
        self.norm = nn.BatchNorm1d(in_channels)
        self.embed = nn.Linear(in_channels, channels)
        self.blocks = nn.ModuleList([TransformerBlock(channels, heads) for _ in range(num_blocks)])
        self.pool = PMAPool(channels, heads, num_seeds)
        self.head = nn.Sequential(nn.Linear(num_seeds * channels, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def graph_embeddings(self, data) -> Tensor:
        check_model_dtypes(self, data=data)
        batch, size = _batch(data)
        x = self.embed(self.norm(data.x))
        # the padded layout, shared by all blocks: the largest set from the batch's slice table
        # on the CPU (eager mode), else read once from the device
        counts = host_node_counts(data, batch, num_graphs=size)
        longest = int(counts.max()) if counts is not None and counts.numel() else None
        mask = dense_attention_mask(batch, dtype=x.dtype, num_graphs=size, max_num_nodes=longest)
        for blk in self.blocks:
            x = blk(x, batch=batch, dense=True, dense_mask=mask)
        return self.pool(x, batch, dim_size=size)

    def forward(self, data) -> Tensor:
        return self.head(self.graph_embeddings(data))

    #: Fields of :meth:`forward_padded` (before the mask).
    padded_inputs = ("x",)

    def forward_padded(self, x: Tensor, mask: Tensor) -> Tensor:
        r"""Logits from padded jets (inference path for ``torch.compile`` and ONNX).

        .. math::
            f(X, M) = \mathrm{MLP}\big(\mathrm{PMA}_M(\mathrm{SAB}_M^{L}(W X))\big)

        Shapes:
            - **input:** ``x`` :math:`(B, N, F)`, ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, K)`
        """
        check_model_dtypes(self, padded=(x, mask))
        check_inference(self)
        h = self.embed(rowwise(self.norm, x))
        for blk in self.blocks:
            h = blk.forward_padded(h, mask)
        return self.head(self.pool.forward_padded(h, mask))


__all__ = ["DeepSets", "SetTransformer"]
