"""Kernels: tensors in, tensors out, shared by the graph builders and the layers.

kNN graphs (:mod:`pgjets.ops.knn`), the Particle Transformer pair features
(:mod:`pgjets.ops.pairwise`), the grid-graph neighbour offsets
(:mod:`pgjets.ops.grid`), the padded-path helpers (:mod:`pgjets.ops.padded`), the
graph sizes of a batch read on the host and the offsets of counted runs
(:mod:`pgjets.ops.sizes`), the one azimuth wrap (:mod:`pgjets.ops.angles`) and the column
layout of the constituent features (:mod:`pgjets.ops.features`).
They import only the base helpers (:mod:`pgjets.errors`, ``_checks``), torch and
PyG, so :mod:`pgjets.graphs` and :mod:`pgjets.nn` can both use them.
"""

from .knn import knn_graph, torch_cluster_available
from .pairwise import pairwise_features, dense_pairwise_features, NUM_PAIR_FEATURES
from .grid import grid_offsets, GRID_OFFSETS
from .padded import rowwise, key_padding_mask
from .sizes import batch_from_slices, host_node_counts, ptr_from_counts
from .angles import wrap_phi
from .features import feature_names, FEATURE_NAMES, KINEMATIC, PID

__all__ = [
    "FEATURE_NAMES", "GRID_OFFSETS", "KINEMATIC", "NUM_PAIR_FEATURES", "PID",
    "batch_from_slices", "dense_pairwise_features", "feature_names", "grid_offsets", "host_node_counts",
    "key_padding_mask", "knn_graph",
    "pairwise_features", "ptr_from_counts", "rowwise", "torch_cluster_available", "wrap_phi",
]
