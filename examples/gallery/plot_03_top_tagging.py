r"""
Top vs QCD: ParticleNet, PFN and ParT
=====================================

Graph classification of whole jets: top jets (signal) against QCD jets (background),
both generated with Pythia 8 + FastJet. Three models of :mod:`pgjets.models`, each
trained for a few epochs with the :class:`~pgjets.train.Trainer`, compared by ROC AUC
and background rejection :math:`1/\varepsilon_B` at :math:`\varepsilon_S = 0.5`, next to
the classic cut on the jet mass.

On 450 training jets the models stay far from their large-sample performance (see the
benchmarks); ``make demo`` and ``benchmarks/large_sample.py`` train them properly.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from pgjets.data import JetDataset, JetTable, generate_jets
from pgjets.models import ParticleFlowNetwork, part_lite, particlenet_lite
from pgjets.train import TrainConfig, Trainer, background_rejection, roc_auc, roc_curve

torch.manual_seed(0)
torch.set_num_threads(1)

# %%
# Data: 300 top and 300 QCD jets, split 450 / 150. The dataset builds PyG batches
# vectorised (``JetDataset.batches``), with the ParticleNet feature set (kinematics and
# particle identification per constituent).

table = JetTable.concat([generate_jets("top", 300, seed=11, fast=True, label=1),
                         generate_jets("qcd", 300, seed=12, fast=True, label=0)])
order = np.random.default_rng(0).permutation(len(table))
train_table, test_table = table.take(np.sort(order[:450])), table.take(np.sort(order[450:]))
train = JetDataset.from_table(train_table)
test = JetDataset.from_table(test_table)
print(train, test, f"{train.num_features} features per particle", sep="\n")

# %%
# Training. Each model is an ``nn.Module`` called as ``model(batch)``; the trainer
# handles the optimiser, the one-cycle schedule and the evaluation.

models = {
    "ParticleNet-Lite": particlenet_lite(train.num_features),
    "PFN": ParticleFlowNetwork(train.num_features),
    "ParT-Lite": part_lite(train.num_features),
}
config = TrainConfig(epochs=4, batch_size=64, lr=3e-3, schedule="onecycle", device="cpu",
                     progress=False, verbose=False, seed=0)
curves, rows = {}, []
y_test = torch.from_numpy(test_table.label.astype(np.int64))
for name, model in models.items():
    trainer = Trainer(model, config)
    trainer.fit(train)
    logits, target = trainer.predict(test)
    score = torch.softmax(logits, -1)[:, 1]
    auc = roc_auc(score, target)
    rows.append((name, auc, background_rejection(score, target, 0.5)))
    curves[f"{name} (AUC {auc:.3f})"] = roc_curve(score, target)[:2]

mass = table.jet_kinematics()["mass"][np.sort(order[450:])]
mass_score = -np.abs(mass - 172.5)
auc = roc_auc(mass_score, y_test)
rows.append(("mass window", auc, background_rejection(mass_score, y_test, 0.5)))
curves[f"mass window (AUC {auc:.3f})"] = roc_curve(mass_score, y_test)[:2]

print(f"{'tagger':<18}{'AUC':>7}{'1/eps_B(0.5)':>14}")
for name, auc, rej in rows:
    print(f"{name:<18}{auc:7.3f}{rej:14.1f}")

# %%
# ROC curves in the usual jet-tagging view: background rejection :math:`1/\varepsilon_B`
# (log scale) against the signal efficiency :math:`\varepsilon_S` (the same view as
# :func:`~pgjets.train.plot_roc`, which writes it to a file).

fig, ax = plt.subplots(figsize=(6, 5))
for label, (fpr, tpr) in curves.items():
    keep = fpr > 0
    ax.plot(tpr[keep], 1 / fpr[keep], label=label)
eff = np.linspace(0.01, 1, 100)
ax.plot(eff, 1 / eff, "k:", lw=0.8, label="random")
ax.set_yscale("log")
ax.set_xlim(0, 1)
ax.set_xlabel(r"$\varepsilon_S$ (top efficiency)")
ax.set_ylabel(r"background rejection $1/\varepsilon_B$")
ax.set_title("top vs QCD, 450 training jets")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
plt.show()
