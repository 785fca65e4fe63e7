"""Node and edge classification on real generated top jets.

- Node task: which constituents of a top jet come from the W decay?
- Edge task: do two neighbouring constituents share their hard parent (b, q or q')?

Both use the generator truth stored per constituent and pgjets layers under a
``NodeHead`` / ``EdgeHead``.  Run: ``python examples/node_and_edge_tasks.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from pgjets.data.generate import generate_jets
from pgjets.data.truth_labels import truth_batch
from pgjets.nn.dynamic_edge_conv import EdgeConvBlock
from pgjets.nn.graph_net import GraphNet
from pgjets.nn.heads import EdgeHead, NodeHead
from pgjets.train.metrics import roc_auc


class EdgeModel(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.encoder = GraphNet([EdgeConvBlock(in_channels, (32, 32), k=8)], nn.Identity())
        self.head = EdgeHead(32, 1, edge_dim=2, symmetric=True)

    def forward(self, b):
        h = self.encoder.embed(b)
        rel = b.pos[b.edge_index[0]] - b.pos[b.edge_index[1]]
        return self.head(h, b.edge_index, rel.abs()).squeeze(-1)


def train(model, batch, target, epochs: int, lr: float = 3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(batch).reshape(-1), target.float())
        loss.backward()
        opt.step()
    return model.eval()


def run(n_train: int = 150, n_test: int = 50, epochs: int = 60, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    train_b = truth_batch(generate_jets("top", n_train, seed=seed + 1, fast=True), k=8)
    test_b = truth_batch(generate_jets("top", n_test, seed=seed + 2, fast=True), k=8)
    f = train_b.x.size(1)
    node_model = train(GraphNet([EdgeConvBlock(f, (32, 32), k=8)], NodeHead(32, 1)), train_b,
                       train_b.node_y, epochs)
    edge_model = train(EdgeModel(f), train_b, train_b.edge_y, epochs)
    with torch.no_grad():
        node_auc = roc_auc(node_model(test_b).reshape(-1), test_b.node_y)
        edge_auc = roc_auc(edge_model(test_b), test_b.edge_y)
    return {"node_auc": node_auc, "edge_auc": edge_auc}


if __name__ == "__main__":
    res = run()
    print(f"node task (from the W?)      test AUC {res['node_auc']:.3f}")
    print(f"edge task (same hard parent?) test AUC {res['edge_auc']:.3f}")
