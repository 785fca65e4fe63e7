"""``pgjets.nn.padded``: the padded-path helpers of :mod:`pgjets.ops.padded` (old import path)."""

from __future__ import annotations

from ..ops.padded import key_padding_mask, rowwise

__all__ = ["key_padding_mask", "rowwise"]
