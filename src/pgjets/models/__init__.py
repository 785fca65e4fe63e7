"""Assembled networks built from :mod:`pgjets.nn` layers."""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "particlenet": ["ParticleNet", "particlenet_lite"],
    "part": ["ParticleTransformer", "part_lite"],
    "pfn": ["ParticleFlowNetwork", "EnergyFlowNetwork"],
    "set_models": ["DeepSets", "SetTransformer"],
    "gcn": ["GCN"],
    "grid_cnn": ["GridCNN"],
    "lorentznet": ["LorentzNet"],
    "invariant_particlenet": ["InvariantParticleNet", "particlenet_inv_lite"],
    # jetclr_loss ... rotation_invariance live in pgjets.train.jetclr; listed here for the old import path.
    "jetclr": ["JetCLREncoder", "jetclr_loss", "train_jetclr", "representations", "linear_classifier_test",
               "rotation_invariance"],
    "autoencoders": ["GraphAutoencoder", "JetVAE", "ConditionalVAE", "gaussian_kl", "reparameterize"],
    "set_generator": ["SlotSetGenerator", "set_generation_loss", "TruthSelector", "repeat_sets"],
    "seed_cnn": ["SeedImageCNN", "seed_image_cnn"],
    "event_models": ["EventDeepSets", "EventTransformer", "EventGNN", "EventHeteroGNN", "BipartiteAdapter"],
    "registry": ["MODELS", "EVENT_MODELS", "build_model", "representation_of"],
    "padded": ["PaddedJetModel", "compile_padded", "pad_batch", "pad_images", "masked_reduce", "has_padded_path"],
})
