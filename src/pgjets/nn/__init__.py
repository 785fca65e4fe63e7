"""Layers: batched kNN, MessagePassing layers, pooling, heads and the losses that are modules of a model."""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "knn": ["knn_graph", "torch_cluster_available"],
    "pairwise": ["pairwise_features", "dense_pairwise_features"],
    "grid_conv": ["GridConv"],
    "grid_pool": ["GridPool", "GridGraph"],
    "gcn": ["SAGEMeanConv", "GCNLayer"],
    "edge_conv": ["EdgeConvLayer"],
    "dynamic_edge_conv": ["EdgeConvBlock", "DynamicEdgeConv"],
    "deep_sets": ["DeepSetsLayer"],
    "deep_sets_pool": ["DeepSetsPool"],
    "energy_flow_pool": ["EnergyFlowPool"],
    "attention": ["MultiHeadAttention"],
    "transformer": ["TransformerBlock"],
    "pma": ["PMAPool", "ClassAttentionPool"],
    "positional": ["SinusoidalPositionalEncoding"],
    "slot_attention": ["SlotAttention"],
    "heads": ["NodeHead", "EdgeHead", "GraphHead", "mlp"],
    "graph_net": ["GraphNet"],
    "lorentz_conv": ["LorentzConv"],
    "invariant_edge_conv": ["InvariantEdgeConv"],
    "set_losses": ["hungarian_loss", "mmd_loss", "set_distances", "set_of_sets_mmd", "proxy_loss"],
    "contrastive": ["nt_xent_loss", "NTXentLoss"],
})
