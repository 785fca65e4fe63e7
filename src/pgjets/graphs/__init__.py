"""Graph builders: every input becomes a PyG ``Data`` graph (functions and ``BaseTransform`` classes)."""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "image": ["image_to_graph", "images_to_batch", "ImageToGraph", "grid_offsets", "grid_neighbours",
              "conv_output_grid"],
    "cloud": ["cloud_to_graph", "clouds_to_batch", "batch_from_flat", "CloudKNNGraph", "KNNGraph", "CloudToGraph"],
    "set": ["set_to_graph", "fully_connected_edge_index", "FullyConnected"],
    "molecule": ["molecule_to_graph", "MoleculeToGraph", "InvalidSmilesError"],
    "from_networkx": ["networkx_to_graph", "FromNetworkx"],
    "event": ["event_to_graph", "events_to_batch", "events_to_hetero", "batch_to_hetero", "hetero_to_batch",
              "EventToGraph", "DEFAULT_COLLECTIONS"],
})
