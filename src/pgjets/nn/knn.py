"""``pgjets.nn.knn``: the kNN graph of :mod:`pgjets.ops.knn`, under its public layer name.

The kernel lives in :mod:`pgjets.ops.knn` (graph builders and layers both use it);
``pgjets.nn.knn_graph`` is the same function (a contract, like PyG's
``torch_geometric.nn.knn_graph``).
"""

from __future__ import annotations

from ..ops.knn import AUTO_CLUSTER_MAX_DIM, MAX_BLOCK_ELEMENTS, MAX_BUCKETS, knn_graph, torch_cluster_available

__all__ = ["knn_graph", "torch_cluster_available", "MAX_BLOCK_ELEMENTS", "MAX_BUCKETS", "AUTO_CLUSTER_MAX_DIM"]
