r"""
Digits as grid graphs with GridCNN
==================================

The 1797 :math:`8 \times 8` digit images of scikit-learn become grid graphs (one node per
pixel, edges to the 8 neighbours, the offset as ``edge_attr``) with
:class:`~pgjets.data.DigitsGridDataset`. :class:`~pgjets.models.GridCNN` stacks
:class:`~pgjets.nn.GridConv` (a message-passing layer that equals ``nn.Conv2d`` on a
full image) and :class:`~pgjets.nn.GridPool` (``MaxPool2d`` on graphs), so a graph
network classifies images like a small CNN.
"""

import matplotlib.pyplot as plt
import torch

from pgjets.data import DigitsGridDataset
from pgjets.models import GridCNN
from pgjets.train import TrainConfig, Trainer, accuracy, confusion_matrix

torch.manual_seed(0)
torch.set_num_threads(1)

dataset = DigitsGridDataset(connectivity=8)
train_idx, val_idx, test_idx = dataset.split((0.7, 0.1, 0.2), seed=0)
print(dataset, dataset[0], sep="\n")

# %%
# Training for a few epochs with the :class:`~pgjets.train.Trainer` (PyG datasets are
# batched by a seeded loader).

model = GridCNN(1, dataset.num_classes, channels=(16, 32))
config = TrainConfig(epochs=10, batch_size=64, lr=3e-3, device="cpu", progress=False, verbose=False)
trainer = Trainer(model, config)
history = trainer.fit(dataset[train_idx], dataset[val_idx])
logits, target = trainer.predict(dataset[test_idx])
acc = accuracy(logits, target)
print(f"test accuracy {acc:.3f} on {len(test_idx)} digits")

# %%
# Confusion matrix on the test digits and a few of the digit graphs with their
# predictions.

matrix = confusion_matrix(logits, target, dataset.num_classes)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
im = axes[0].imshow(matrix / matrix.sum(1, keepdims=True), cmap="Blues", vmin=0, vmax=1)
axes[0].set_xlabel("predicted digit")
axes[0].set_ylabel("true digit")
axes[0].set_xticks(range(10))
axes[0].set_yticks(range(10))
axes[0].set_title(f"GridCNN, test accuracy {acc:.3f}")
fig.colorbar(im, ax=axes[0], fraction=0.046)
axes[1].axis("off")
pred = logits.argmax(-1)
for i in range(8):
    sub = fig.add_axes([0.56 + 0.105 * (i % 4), 0.52 - 0.42 * (i // 4), 0.095, 0.36])
    sub.imshow(dataset.images[test_idx[i], 0].numpy(), cmap="gray_r")
    sub.set_title(f"pred {int(pred[i])}", fontsize=9)
    sub.axis("off")
plt.show()
