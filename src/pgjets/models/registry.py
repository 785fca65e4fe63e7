"""Model registry: build any pgjets model by name (used by the CLI and config files).

Each entry says which graph representation the model needs from
:class:`~pgjets.data.jet_dataset.JetDataset` (``"cloud"`` with a kNN graph of
``k`` neighbours, ``"set"`` without edges, ``"image"``); event models
(:data:`EVENT_MODELS`) need the object graphs of
:class:`~pgjets.data.event_dataset.EventDataset` (``"event"``).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from torch import nn

#: name -> (constructor path, representation, k of the prebuilt kNN graph or None)
MODELS: dict[str, tuple[str, str, Optional[int]]] = {
    "particlenet": ("pgjets.models.particlenet:ParticleNet", "cloud", None),
    "particlenet_lite": ("pgjets.models.particlenet:particlenet_lite", "cloud", None),
    "part": ("pgjets.models.part:ParticleTransformer", "cloud", None),
    "part_lite": ("pgjets.models.part:part_lite", "cloud", None),
    "pfn": ("pgjets.models.pfn:ParticleFlowNetwork", "cloud", None),
    "efn": ("pgjets.models.pfn:EnergyFlowNetwork", "cloud", None),
    "deepsets": ("pgjets.models.set_models:DeepSets", "cloud", None),
    "set_transformer": ("pgjets.models.set_models:SetTransformer", "cloud", None),
    "gcn": ("pgjets.models.sage_mean_net:SAGEMeanNet", "cloud", 16),  # the name of recorded runs
    "gridcnn": ("pgjets.models.grid_cnn:GridCNN", "image", None),
    "lorentznet": ("pgjets.models.lorentznet:LorentzNet", "cloud", None),
    "particlenet_inv": ("pgjets.models.invariant_particlenet:InvariantParticleNet", "cloud", None),
    "particlenet_inv_lite": ("pgjets.models.invariant_particlenet:particlenet_inv_lite", "cloud", None),
}

#: Event classifiers (:mod:`pgjets.models.event_models`) on the object graphs of
#: :class:`~pgjets.data.event_dataset.EventDataset`: representation ``"event"``.
#: ``"event_deepsets"`` = Deep Sets over the objects, ``"event_transformer"`` =
#: self-attention over the objects with PMA pooling, ``"event_gnn"`` = EdgeConv on
#: the object graph.  Kept apart from :data:`MODELS` (jet models with a padded path).
EVENT_MODELS: dict[str, tuple[str, str, Optional[int]]] = {
    "event_deepsets": ("pgjets.models.event_models:EventDeepSets", "event", None),
    "event_transformer": ("pgjets.models.event_models:EventTransformer", "event", None),
    "event_gnn": ("pgjets.models.event_models:EventGNN", "event", None),
}


def _entry(name: str) -> tuple[str, str, Optional[int]]:
    if name in MODELS:
        return MODELS[name]
    if name in EVENT_MODELS:
        return EVENT_MODELS[name]
    raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS) + sorted(EVENT_MODELS)}")


def _resolve(path: str) -> Callable[..., nn.Module]:
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def representation_of(name: str) -> tuple[str, Optional[int]]:
    """``(representation, k)`` the model ``name`` needs from the dataset."""
    _, rep, k = _entry(name)
    return rep, k


def build_model(name: str, in_channels: int, num_classes: int = 2, **kwargs: Any) -> nn.Module:
    """Instantiate model ``name`` for ``in_channels`` node features and ``num_classes`` outputs."""
    ctor = _resolve(_entry(name)[0])
    if name == "gridcnn":
        return ctor(1, num_classes, **kwargs)  # jet images have one channel (pT)
    if name == "efn":
        return ctor(num_classes=num_classes, **kwargs)
    return ctor(in_channels, num_classes, **kwargs)


__all__ = ["MODELS", "EVENT_MODELS", "build_model", "representation_of"]
