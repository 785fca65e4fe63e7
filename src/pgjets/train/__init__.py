"""Training: the Trainer, training losses, augmentations, metrics, plots and the JetCLR training loop."""

from .._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "trainer": ["Trainer", "TrainConfig", "seed_everything", "load_checkpoint_file"],
    "metrics": ["roc_curve", "roc_auc", "background_rejection", "accuracy", "confusion_matrix",
                "multiclass_auc", "classification_report"],
    "losses": ["LabelSmoothingCrossEntropy", "FocalLoss", "regression_loss"],
    "plots": ["plot_roc", "plot_history", "plot_confusion_matrix"],
    "augment": ["RandomRotation", "RandomTranslation", "SoftSmearing", "CollinearSplitting",
                "RandomPermutation", "two_views"],
    "contrastive": ["nt_xent_loss", "NTXentLoss"],
    "set_losses": ["hungarian_loss", "mmd_loss", "set_distances", "set_of_sets_mmd", "proxy_loss"],
    "generation_metrics": ["wasserstein_1d", "resolution"],
    "distributed": ["init_from_env", "barrier", "is_main_process"],
    "jetclr": ["jetclr_loss", "train_jetclr", "representations", "linear_classifier_test", "rotation_invariance"],
})
