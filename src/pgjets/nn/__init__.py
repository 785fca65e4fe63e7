"""Layers: batched kNN, MessagePassing layers, pooling, heads and the losses that are modules of a model."""

from .knn import knn_graph, torch_cluster_available
from .pairwise import pairwise_features, dense_pairwise_features
from .grid_conv import GridConv
from .grid_pool import GridPool, GridGraph
from .gcn import SAGEMeanConv, GCNLayer
from .edge_conv import EdgeConvLayer
from .dynamic_edge_conv import EdgeConvBlock, DynamicEdgeConv
from .deep_sets import DeepSetsLayer
from .deep_sets_pool import DeepSetsPool
from .energy_flow_pool import EnergyFlowPool
from .attention import MultiHeadAttention
from .transformer import TransformerBlock
from .pma import PMAPool, ClassAttentionPool
from .positional import SinusoidalPositionalEncoding
from .slot_attention import SlotAttention
from .heads import NodeHead, EdgeHead, GraphHead, mlp
from .graph_net import GraphNet
from .lorentz_conv import LorentzConv
from .invariant_edge_conv import InvariantEdgeConv
from .set_losses import hungarian_loss, mmd_loss, set_distances, set_of_sets_mmd, proxy_loss
from .contrastive import nt_xent_loss, NTXentLoss

__all__ = [
    "ClassAttentionPool", "DeepSetsLayer", "DeepSetsPool", "DynamicEdgeConv", "EdgeConvBlock",
    "EdgeConvLayer", "EdgeHead", "EnergyFlowPool", "GCNLayer", "GraphHead", "GraphNet", "GridConv",
    "GridGraph", "GridPool", "InvariantEdgeConv", "LorentzConv", "MultiHeadAttention", "NTXentLoss",
    "NodeHead", "PMAPool", "SAGEMeanConv", "SinusoidalPositionalEncoding", "SlotAttention",
    "TransformerBlock", "dense_pairwise_features", "hungarian_loss", "knn_graph", "mlp", "mmd_loss",
    "nt_xent_loss", "pairwise_features", "proxy_loss", "set_distances", "set_of_sets_mmd",
    "torch_cluster_available",
]
