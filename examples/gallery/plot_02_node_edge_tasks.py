r"""
Node and edge classification in top jets
========================================

Two per-particle tasks on real generated top jets, with targets from the generator truth
that :func:`~pgjets.data.generate_jets` stores per constituent:

- **node task**: which particles come from the :math:`W` decay
  (:func:`~pgjets.data.from_w_labels`);
- **edge task**: do two neighbouring particles share their hard parent (the :math:`b`,
  or one of the two :math:`W` quarks; :func:`~pgjets.data.same_parent_labels`)?

Both heads sit on the same encoder, a :class:`~pgjets.nn.EdgeConvBlock` (the
ParticleNet block), wrapped in a :class:`~pgjets.nn.GraphNet`.
"""

import matplotlib.pyplot as plt
import torch
from torch import nn

from pgjets.data import generate_jets, truth_batch
from pgjets.nn import EdgeConvBlock, EdgeHead, GraphNet, NodeHead
from pgjets.train import roc_auc, roc_curve

torch.manual_seed(0)
torch.set_num_threads(1)

# %%
# Data: 150 training and 50 test jets, each a kNN graph (k = 8) carrying ``node_y``
# (from the W?) for every particle and ``edge_y`` (same parent?) for every edge.

train = truth_batch(generate_jets("top", 150, seed=1, fast=True), k=8)
test = truth_batch(generate_jets("top", 50, seed=2, fast=True), k=8)
print(train)
print(f"fraction of particles from the W: {train.node_y.float().mean():.2f}, "
      f"of edges within one parent: {train.edge_y.float().mean():.2f}")

# %%
# Models. The node model is a :class:`~pgjets.nn.GraphNet` with a
# :class:`~pgjets.nn.NodeHead`; the edge model scores each kNN edge with a symmetric
# :class:`~pgjets.nn.EdgeHead` on the two node embeddings and their
# :math:`|\Delta\eta|, |\Delta\phi|` separation.

features = train.x.size(1)


class EdgeModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = GraphNet([EdgeConvBlock(features, (32, 32), k=8)], nn.Identity())
        self.head = EdgeHead(32, 1, edge_dim=2, symmetric=True)

    def forward(self, b):
        h = self.encoder.embed(b)
        separation = (b.pos[b.edge_index[0]] - b.pos[b.edge_index[1]]).abs()
        return self.head(h, b.edge_index, separation)


def fit(model: nn.Module, target: torch.Tensor, epochs: int = 60) -> list[float]:
    """Full-batch training with a binary cross entropy; returns the loss per epoch."""
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(train).reshape(-1), target.float())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


node_model = GraphNet([EdgeConvBlock(features, (32, 32), k=8)], NodeHead(32, 1))
edge_model = EdgeModel()
node_losses = fit(node_model, train.node_y)
edge_losses = fit(edge_model, train.edge_y)

# %%
# Evaluation on the test jets: ROC curves of both tasks.

node_model.eval()
edge_model.eval()
with torch.no_grad():
    node_score = node_model(test).reshape(-1)
    edge_score = edge_model(test).reshape(-1)
node_auc = roc_auc(node_score, test.node_y)
edge_auc = roc_auc(edge_score, test.edge_y)
print(f"node task (from the W?)       test AUC {node_auc:.3f}")
print(f"edge task (same hard parent?) test AUC {edge_auc:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
axes[0].plot(node_losses, label="node task")
axes[0].plot(edge_losses, label="edge task")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("training loss")
axes[0].legend()
for name, score, y, auc in (("node: from the W", node_score, test.node_y, node_auc),
                            ("edge: same parent", edge_score, test.edge_y, edge_auc)):
    fpr, tpr, _ = roc_curve(score, y)
    axes[1].plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
axes[1].plot([0, 1], [0, 1], "k:", lw=0.8)
axes[1].set_xlabel("false positive rate")
axes[1].set_ylabel("true positive rate")
axes[1].legend(loc="lower right")
fig.tight_layout()

# %%
# The node predictions on one test jet, next to the truth.

first = test.batch == 0
pos = test.pos[first].numpy()
fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharey=True)
axes[0].scatter(pos[:, 0], pos[:, 1], c=test.node_y[first].numpy(), cmap="coolwarm", s=25, vmin=0, vmax=1)
axes[0].set_title("truth: from the W (red)")
sc = axes[1].scatter(pos[:, 0], pos[:, 1], c=torch.sigmoid(node_score[first]).numpy(), cmap="coolwarm",
                     s=25, vmin=0, vmax=1)
axes[1].set_title("predicted probability")
fig.colorbar(sc, ax=axes[1])
for a in axes:
    a.set_xlabel(r"$\Delta\eta$")
axes[0].set_ylabel(r"$\Delta\phi$")
fig.tight_layout()
plt.show()
