"""Graph builders: every input becomes a PyG ``Data`` graph (functions and ``BaseTransform`` classes)."""

from .image import (
    image_to_graph, images_to_batch, ImageToGraph, grid_offsets, grid_neighbours, conv_output_grid,
)
from .cloud import (
    cloud_to_graph, clouds_to_batch, batch_from_flat, CloudKNNGraph, KNNGraph, CloudToGraph,
)
from .set import set_to_graph, fully_connected_edge_index, FullyConnected
from .molecule import molecule_to_graph, MoleculeToGraph, InvalidSmilesError
from .from_networkx import networkx_to_graph, FromNetworkx
from .event import (
    event_to_graph, events_to_batch, events_to_hetero, batch_to_hetero, hetero_to_batch,
    EventToGraph, DEFAULT_COLLECTIONS, event_knn_graph, EventData,
)

__all__ = [
    "CloudKNNGraph", "CloudToGraph", "DEFAULT_COLLECTIONS", "EventData", "EventToGraph", "FromNetworkx",
    "FullyConnected", "ImageToGraph", "InvalidSmilesError", "KNNGraph", "MoleculeToGraph",
    "batch_from_flat", "batch_to_hetero", "cloud_to_graph", "clouds_to_batch", "conv_output_grid",
    "event_knn_graph", "event_to_graph", "events_to_batch", "events_to_hetero", "fully_connected_edge_index",
    "grid_neighbours", "grid_offsets", "hetero_to_batch", "image_to_graph", "images_to_batch",
    "molecule_to_graph", "networkx_to_graph", "set_to_graph",
]
