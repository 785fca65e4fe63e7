"""``pgjets.nn.pairwise``: the Particle Transformer pair features of :mod:`pgjets.ops.pairwise`.

The kernel lives in :mod:`pgjets.ops.pairwise`; this module keeps the layer-level names.
"""

from __future__ import annotations

from ..ops.pairwise import NUM_PAIR_FEATURES, dense_pairwise_features, pairwise_features

__all__ = ["pairwise_features", "dense_pairwise_features", "NUM_PAIR_FEATURES"]
