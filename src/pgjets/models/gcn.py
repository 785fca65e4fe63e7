"""Deprecated: ``pgjets.models.GCN`` is :class:`~pgjets.models.sage_mean_net.SAGEMeanNet`."""

from __future__ import annotations

from typing import Any

from .._checks import warn_deprecated_name
from .sage_mean_net import SAGEMeanNet

#: Keywords of PyG's ``torch_geometric.nn.GCN`` that ``SAGEMeanNet`` does not take.
_PYG_ONLY = ("hidden_channels", "num_layers", "out_channels")


class GCN(SAGEMeanNet):
    """Deprecated alias of :class:`~pgjets.models.SAGEMeanNet` (removed in the next release).

    Same arguments (``in_channels, num_classes=2, hidden=(64, 64, 64)``), outputs and
    ``state_dict`` keys; constructing it emits a ``DeprecationWarning``.  It is a graph-level
    classifier of GraphSAGE-mean layers, not PyG's node-level ``torch_geometric.nn.GCN``
    (``GCN(in_channels, hidden_channels, num_layers, out_channels)`` of ``GCNConv`` layers).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warn_deprecated_name("pgjets.models.GCN", "pgjets.models.SAGEMeanNet (GraphSAGE-mean layers)",
                             "; it shadowed torch_geometric.nn.GCN (node-level, GCNConv layers)")
        if (len(args) > 2 and isinstance(args[2], int)) or any(k in kwargs for k in _PYG_ONLY):
            # PyG's call GCN(in_channels, hidden_channels, num_layers, ...): a clear pointer, not a bad `hidden`
            raise TypeError("pgjets.models.GCN is the deprecated alias of SAGEMeanNet(in_channels, num_classes, "
                            "hidden), not PyG's GCN(in_channels, hidden_channels, num_layers, out_channels): "
                            "use torch_geometric.nn.GCN")
        super().__init__(*args, **kwargs)


__all__ = ["GCN"]
