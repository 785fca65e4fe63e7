"""Training: the Trainer, training losses, augmentations, metrics, plots and the JetCLR training loop."""

from .trainer import (
    Trainer, TrainConfig, deterministic_algorithms, graph_weights, seed_everything, load_checkpoint_file,
)
from .metrics import (
    roc_curve, roc_auc, background_rejection, accuracy, confusion_matrix, multiclass_auc,
    classification_report, discriminant, working_point_cut, efficiencies_at_cuts, signal_efficiencies,
)
from .losses import LabelSmoothingCrossEntropy, FocalLoss, regression_loss
from .plots import plot_roc, plot_history, plot_confusion_matrix
from .augment import (
    RandomRotation, RandomTranslation, SoftSmearing, CollinearSplitting, RandomPermutation,
    two_views,
)
from .contrastive import nt_xent_loss, NTXentLoss
from .set_losses import hungarian_loss, mmd_loss, set_distances, set_of_sets_mmd, proxy_loss
from .generation_metrics import wasserstein_1d, resolution
from .distributed import init_from_env, barrier, is_main_process
from .jetclr import (
    jetclr_loss, train_jetclr, representations, linear_classifier_test, rotation_invariance,
)

__all__ = [
    "CollinearSplitting", "FocalLoss", "LabelSmoothingCrossEntropy", "NTXentLoss",
    "RandomPermutation", "RandomRotation", "RandomTranslation", "SoftSmearing", "TrainConfig",
    "Trainer", "accuracy", "graph_weights", "background_rejection", "barrier", "classification_report",
    "confusion_matrix", "hungarian_loss", "init_from_env", "is_main_process", "jetclr_loss",
    "linear_classifier_test", "load_checkpoint_file", "mmd_loss", "multiclass_auc", "nt_xent_loss",
    "plot_confusion_matrix", "plot_history", "plot_roc", "proxy_loss", "regression_loss",
    "representations", "resolution", "roc_auc", "roc_curve", "rotation_invariance",
    "deterministic_algorithms", "seed_everything", "set_distances", "set_of_sets_mmd", "train_jetclr", "two_views",
    "wasserstein_1d", "discriminant", "working_point_cut", "efficiencies_at_cuts", "signal_efficiencies",
]
