r"""
Event classification on H :math:`\to` ZZ events
===============================================

Whole collision events as graphs: the 2421 simulated events of ``uproot-HZZ.root``
(scikit-hep-testdata, no download) become graphs of their muons, electrons, jets,
photons and missing transverse momentum (:class:`~pgjets.data.EventDataset`). The label
says whether the event holds two disjoint same-flavour opposite-charge lepton pairs, the
:math:`H \to ZZ^* \to 4\ell` topology (``label="four_lepton"``). A permutation-invariant
model has to count leptons by flavour and charge across the whole event.

Two set models of :mod:`pgjets.models` are compared: :class:`~pgjets.models.DeepSets`
(sum of per-object embeddings) and :class:`~pgjets.models.SetTransformer` (self-attention
between the objects, pooling by attention).

At the end, the exercise of the lecture notes: Deep Sets over the muons alone, read
straight from the flat ROOT branches. 59 of the 2421 events have no muon; they are graphs
with zero nodes, and the model answers them with its head applied to a zero embedding.
"""

import matplotlib.pyplot as plt
import torch
import uproot

from pgjets.data import EventDataset, read_hzz_events
from pgjets.data.event_dataset import dimuon_z_candidate, hzz_path
from pgjets.graphs import events_to_batch
from pgjets.models import DeepSets, EventDeepSets, SetTransformer
from pgjets.train import TrainConfig, Trainer, roc_auc, roc_curve

torch.manual_seed(0)
torch.set_num_threads(1)

dataset = EventDataset(label="four_lepton")
train_idx, val_idx, test_idx = dataset.split((0.7, 0.1, 0.2), seed=0)
print(dataset, dataset[0], sep="\n")
print(f"four-lepton events: {dataset.labels.float().mean():.1%}")


def subset(indices: torch.Tensor) -> list:
    return [dataset[int(i)] for i in indices]


train, val, test = subset(train_idx), subset(val_idx), subset(test_idx)

# %%
# Training both models with the same settings.

models = {"Deep Sets": DeepSets(dataset.num_features, 2, pool="sum"),
          "Set Transformer": SetTransformer(dataset.num_features, 2, channels=32, heads=4)}
config = TrainConfig(epochs=8, batch_size=64, lr=3e-3, device="cpu", progress=False, verbose=False, seed=0)
scores = {}
for name, model in models.items():
    trainer = Trainer(model, config)
    trainer.fit(train, val)
    logits, target = trainer.predict(test)
    scores[name] = torch.softmax(logits, -1)[:, 1]
    print(f"{name:<16} test AUC {roc_auc(scores[name], target):.3f}")

# %%
# ROC curves on the test events.

fig, ax = plt.subplots(figsize=(5.5, 4.8))
for name, score in scores.items():
    fpr, tpr, _ = roc_curve(score, target)
    ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc(score, target):.3f})")
ax.plot([0, 1], [0, 1], "k:", lw=0.8)
ax.set_xlabel("false positive rate")
ax.set_ylabel("true positive rate")
ax.set_title(r"four-lepton events ($H \to ZZ^* \to 4\ell$ topology)")
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# Deep Sets on muons. ``tree.arrays()`` returns the flat branches (``Muon_Px``,
# ``Muon_Charge``, ...) and :func:`~pgjets.graphs.events_to_batch` reads them as they are.
# The label is the dimuon Z candidate (an opposite-charge pair with
# :math:`60 < m_{\mu\mu} < 120` GeV), a function of the muons alone.

with uproot.open(hzz_path()) as f:
    arrays = f["events"].arrays()
muon_graphs = events_to_batch(arrays, collections=("Muon",))
print(f"{muon_graphs.num_graphs} events, {int((muon_graphs.ptr.diff() == 0).sum())} without muons")

z_label, _ = dimuon_z_candidate(read_hzz_events())
muons = EventDataset.from_events(arrays, label=z_label, collections=("Muon",))
train_m, test_m = muons.subset(train_idx), muons.subset(test_idx)
torch.manual_seed(0)
trainer = Trainer(EventDeepSets(muons.num_features, 2), config)
trainer.fit(train_m)
logits, target_m = trainer.predict(test_m)
print(f"Deep Sets on muons: test AUC {roc_auc(torch.softmax(logits, -1)[:, 1], target_m):.3f} "
      "for the Z-candidate label")
