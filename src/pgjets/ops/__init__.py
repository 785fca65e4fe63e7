"""Kernels: tensors in, tensors out, shared by the graph builders and the layers.

kNN graphs (:mod:`pgjets.ops.knn`), the Particle Transformer pair features
(:mod:`pgjets.ops.pairwise`), the grid-graph neighbour offsets
(:mod:`pgjets.ops.grid`), the padded-path helpers (:mod:`pgjets.ops.padded`) and
the column layout of the constituent features (:mod:`pgjets.ops.features`).
They import only the base helpers (:mod:`pgjets.errors`, ``_checks``), torch and
PyG, so :mod:`pgjets.graphs` and :mod:`pgjets.nn` can both use them.
"""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "knn": ["knn_graph", "torch_cluster_available"],
    "pairwise": ["pairwise_features", "dense_pairwise_features", "NUM_PAIR_FEATURES"],
    "grid": ["grid_offsets", "GRID_OFFSETS"],
    "padded": ["rowwise", "key_padding_mask"],
    "features": ["feature_names", "FEATURE_NAMES", "KINEMATIC", "PID"],
})
