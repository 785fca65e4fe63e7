"""Assembled networks built from :mod:`pgjets.nn` layers."""

from .particlenet import ParticleNet, particlenet_lite
from .part import ParticleTransformer, part_lite
from .pfn import ParticleFlowNetwork, EnergyFlowNetwork
from .set_models import DeepSets, SetTransformer
from .sage_mean_net import SAGEMeanNet
from .gcn import GCN
from .grid_cnn import GridCNN
from .lorentznet import LorentzNet
from .invariant_particlenet import InvariantParticleNet, particlenet_inv_lite
from .jetclr import JetCLREncoder
from .autoencoders import GraphAutoencoder, JetVAE, ConditionalVAE, gaussian_kl, reparameterize
from .set_generator import SlotSetGenerator, set_generation_loss, TruthSelector, repeat_sets
from .seed_cnn import SeedImageCNN, seed_image_cnn
from .event_models import (
    EventDeepSets, EventTransformer, EventGNN, EventHeteroGNN, BipartiteAdapter,
)
from .registry import MODELS, EVENT_MODELS, build_model, representation_of
from .padded import (
    PaddedJetModel, compile_padded, pad_batch, pad_images, masked_reduce, has_padded_path,
)

__all__ = [
    "BipartiteAdapter", "ConditionalVAE", "DeepSets", "EVENT_MODELS", "EnergyFlowNetwork",
    "EventDeepSets", "EventGNN", "EventHeteroGNN", "EventTransformer", "GCN", "GraphAutoencoder",
    "GridCNN", "InvariantParticleNet", "JetCLREncoder", "JetVAE", "LorentzNet", "MODELS",
    "PaddedJetModel", "ParticleFlowNetwork", "ParticleNet", "ParticleTransformer", "SAGEMeanNet",
    "SeedImageCNN", "SetTransformer", "SlotSetGenerator", "TruthSelector", "build_model",
    "compile_padded", "gaussian_kl", "has_padded_path", "masked_reduce", "pad_batch", "pad_images",
    "part_lite", "particlenet_inv_lite", "particlenet_lite", "reparameterize", "repeat_sets",
    "representation_of", "seed_image_cnn", "set_generation_loss",
]


def __getattr__(name: str) -> object:
    # Old path ``pgjets.models.train_jetclr`` (and the other JetCLR training names): they live in
    # pgjets.train.jetclr now; pgjets.models.jetclr resolves them on first use (CONTRIBUTING: exceptions).
    from . import jetclr

    if name in jetclr._MOVED:
        return getattr(jetclr, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
