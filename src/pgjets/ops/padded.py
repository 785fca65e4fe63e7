r"""Helpers of the padded, static-shape inference path of the layers.

Jets padded to :math:`(B, N, \cdot)` with a valid-particle mask :math:`M \in
\{0, 1\}^{B \times N}` (see :mod:`pgjets.models.padded`).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn


def rowwise(module: nn.Module, x: Tensor) -> Tensor:
    """Apply a per-row module (``BatchNorm1d``, ``Sequential`` of them) to the last axis of ``x``.

    Shapes:
        - **input:** :math:`(*, F_{in})`
        - **output:** :math:`(*, F_{out})`
    """
    shape = x.shape
    out = module(x.reshape(-1, shape[-1]))
    return out.reshape(*shape[:-1], out.size(-1))


def key_padding_mask(key_mask: Tensor, bias: Optional[Tensor] = None,
                     dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    r"""Additive attention mask that hides the padding keys, and the graphs without keys.

    .. math::
        A_{bhij} = \begin{cases} U^h_{bij} & M_{bj} = 1 \text{ or } \textstyle\sum_l M_{bl} = 0 \\
        -\infty & \text{otherwise} \end{cases}

    (:math:`U = 0` without ``bias``).  A graph without any valid key may attend
    anywhere (no NaN from an empty softmax); its rows are to be zeroed after
    attention with the returned ``empty`` flags.

    Args:
        key_mask: Valid keys ``(B, N)``.
        bias: Additive bias ``(B, H, M, N)``.
        dtype: dtype of the mask (that of the queries).

    Shapes:
        - **input:** :math:`(B, N)`, :math:`(B, H, M, N)`
        - **output:** ``mask`` :math:`(B, H, M, N)` (:math:`(B, 1, 1, N)` without bias),
          ``empty`` :math:`(B, 1, 1, 1)` bool
    """
    B, N = key_mask.shape
    empty = ~key_mask.any(-1).view(B, 1, 1, 1)
    allowed = key_mask.view(B, 1, 1, N) | empty
    mask = torch.zeros(B, 1, 1, N, dtype=dtype, device=key_mask.device) if bias is None else bias.to(dtype)
    return mask.masked_fill(~allowed, float("-inf")), empty


__all__ = ["key_padding_mask", "rowwise"]
