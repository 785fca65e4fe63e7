r"""
Self-supervised JetCLR representations
======================================

JetCLR (Dillon et al., *Symmetries, Safety, and Self-Supervision*) trains a
permutation-invariant transformer encoder contrastively: two augmented views of the same
jet should map to nearby representations, views of different jets apart (the NT-Xent
loss). The augmentations decide which symmetries the representation learns.

Here two encoders are trained on unlabelled top and QCD jets, one without augmentations
and one with rotations, translations, soft smearing and collinear splitting, and each
frozen representation is judged by a linear classifier test (top vs QCD AUC) and by its
rotation invariance :math:`S_\mathrm{rot}` (mean cosine similarity between
:math:`f(x)` and :math:`f(Rx)`; 1 means invariant). ``examples/jetclr_table.py`` runs
the full table of augmentation sets.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from pgjets.data import JetDataset, JetTable, generate_jets
from pgjets.models import JetCLREncoder
from pgjets.train import (
    CollinearSplitting, RandomRotation, RandomTranslation, SoftSmearing, linear_classifier_test,
    representations, rotation_invariance, train_jetclr,
)

torch.manual_seed(0)
torch.set_num_threads(1)

table = JetTable.concat([generate_jets("top", 150, seed=21, fast=True, label=1),
                         generate_jets("qcd", 150, seed=22, fast=True, label=0)])
dataset = JetDataset.from_table(table, feature_set="angular")
probe = next(iter(dataset.batches(128, shuffle=True, seed=1)))

augmentation_sets = {
    "none": [],
    "rotations + translations + soft + collinear": [RandomRotation(), RandomTranslation(scale=0.1),
                                                   SoftSmearing(lambda_soft=0.1), CollinearSplitting(max_splits=20)],
}
results, losses = {}, {}
for name, augmentations in augmentation_sets.items():
    torch.manual_seed(0)
    encoder = JetCLREncoder(channels=32, heads=4, num_layers=2, out_channels=16)
    losses[name] = train_jetclr(encoder, lambda epoch: dataset.batches(64, shuffle=True, seed=epoch),
                                augmentations, epochs=5, lr=1e-3, temperature=0.1, seed=0)
    features, labels = representations(encoder, dataset.batches(256))
    test = linear_classifier_test(features, labels, test_fraction=0.3, seed=0)
    results[name] = (test["auc"], rotation_invariance(encoder, probe, seed=0))
    print(f"{name:<46} linear-classifier AUC {results[name][0]:.3f}   S_rot {results[name][1]:.3f}")

# %%
# Contrastive loss per epoch, and the two measures of the frozen representations.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for name, curve in losses.items():
    axes[0].plot(np.arange(1, len(curve) + 1), curve, marker="o", label=name)
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("NT-Xent loss")
axes[0].legend(fontsize=8)
x = np.arange(2)
for i, (name, (auc, rot)) in enumerate(results.items()):
    axes[1].bar(x + (i - 0.5) * 0.35, [auc, rot], 0.35, label=name)
axes[1].set_xticks(x, ["linear-classifier AUC", r"rotation invariance $S_\mathrm{rot}$"])
axes[1].set_ylim(0, 1.05)
axes[1].legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()
