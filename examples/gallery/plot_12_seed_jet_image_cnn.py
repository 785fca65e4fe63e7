r"""
The seed's 5x5 jet-image CNN as a graph network
===============================================

The jet-image lecture classifies :math:`20 \times 20` jet images with two unpadded
:math:`5 \times 5` convolutions (``Conv2d(1, 5, 5)`` and ``Conv2d(5, 10, 5)``), each
followed by ReLU and ``MaxPool2d(2)``, and a small MLP (3 505 parameters).
:class:`~pgjets.models.seed_cnn.SeedImageCNN` computes the same function on grid graphs:
:func:`~pgjets.graphs.image.images_to_batch` with ``radius=2`` connects every pixel to
its 24 neighbours of a 5x5 window (on the standard ``radius=1`` graphs a 5x5 kernel acts
as 3x3), :class:`~pgjets.nn.GridConv` (``kernel_size=5``) gives the zero-padded result at
every pixel, and :func:`~pgjets.graphs.image.conv_output_grid` keeps the pixels of the
unpadded ("valid") output. With copied weights both networks give the same logits; here
both are trained from the same start on the same batches of top and QCD jet images, and
their learned first-layer filters are compared.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from pgjets.data import generate_jets, jet_image, JetTable
from pgjets.graphs import images_to_batch
from pgjets.models import SeedImageCNN, seed_image_cnn
from pgjets.train import roc_auc

torch.manual_seed(0)
torch.set_num_threads(1)

table = JetTable.concat([generate_jets("top", 250, seed=21, fast=True, label=1),
                         generate_jets("qcd", 250, seed=22, fast=True, label=0)])
images = jet_image(table, npix=20).float()  # (J, 1, 20, 20)
labels = torch.as_tensor(table.label)
order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
train, test = order[:375], order[375:]
print(f"{len(labels)} jet images {tuple(images.shape[1:])}, {len(train)} for training")

# %%
# Two copies of the seed network (2 classes here), the graph one loaded with the weights
# of the ``Conv2d`` one, so both start from the same point.

cnn = seed_image_cnn(num_classes=2)
gnn = SeedImageCNN(num_classes=2).load_reference(cnn)
print(f"{sum(p.numel() for p in cnn.parameters())} parameters each (3 505 with the seed's 5 classes)")
batch = images_to_batch(images[test], radius=2)
with torch.no_grad():
    print("max |logit difference| at the start:", float((gnn(batch) - cnn(images[test])).abs().max()))

# %%
# Training: the same batches, the same optimiser settings.

opts = [torch.optim.Adam(m.parameters(), lr=3e-3) for m in (cnn, gnn)]
loss_fn = torch.nn.CrossEntropyLoss()
history = {"Conv2d": [], "graph": []}
g = torch.Generator().manual_seed(1)
for epoch in range(8):
    perm = train[torch.randperm(len(train), generator=g)]
    for s in range(0, len(perm), 50):
        idx = perm[s:s + 50]
        for name, model, opt, x in (("Conv2d", cnn, opts[0], images[idx]),
                                    ("graph", gnn, opts[1], images_to_batch(images[idx], radius=2))):
            loss = loss_fn(model(x), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            history[name].append(float(loss.detach()))

with torch.no_grad():
    p_cnn = torch.softmax(cnn(images[test]), -1)[:, 1]
    p_gnn = torch.softmax(gnn(batch), -1)[:, 1]
print(f"test AUC: Conv2d {roc_auc(p_cnn, labels[test]):.3f}, graph {roc_auc(p_gnn, labels[test]):.3f}")
print("max |probability difference| after training:", float((p_cnn - p_gnn).abs().max()))

# %%
# The five learned 5x5 filters of the first layer, ``Conv2d`` (top) and graph (bottom),
# and the two loss curves (on top of each other up to float rounding).

fig, axs = plt.subplots(2, 6, figsize=(11, 4))
w_cnn = cnn.convs[0].weight.detach()[:, 0]
w_gnn = gnn.convs[0].conv2d_weight().detach()[:, 0]
lim = float(max(w_cnn.abs().max(), w_gnn.abs().max()))
for row, (name, w) in enumerate((("Conv2d", w_cnn), ("graph", w_gnn))):
    for k in range(5):
        ax = axs[row, k]
        ax.imshow(w[k].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name} filter {k}", fontsize=8)
for row, name in enumerate(history):
    axs[row, 5].plot(np.asarray(history[name]), lw=0.8)
    axs[row, 5].set_title(f"{name} training loss", fontsize=8)
fig.tight_layout()
plt.show()
