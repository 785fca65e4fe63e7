r"""
Symmetry-exact taggers and data efficiency
==========================================

Building a symmetry into the architecture should buy accuracy per training jet. pgjets has
two taggers whose symmetries are exact:

- :class:`~pgjets.models.LorentzNet` (``lorentznet``, Gong et al. 2022): message passing on
  the fully connected graph of the four-momenta with :class:`~pgjets.nn.LorentzConv` blocks.
  The four-vectors enter only through Minkowski products, so without beam particles the
  output is invariant under every Lorentz transformation; the two beam particles it adds by
  default leave the rotations about the beam axis.
- :class:`~pgjets.models.InvariantParticleNet` (``particlenet_inv``): ParticleNet with
  :class:`~pgjets.nn.InvariantEdgeConv` blocks, whose messages see a pair of particles only
  through :math:`\Delta R_{ij}`, momentum fractions and :math:`k_T`: invariant under
  rotations and translations in :math:`(\eta, \phi)`.

First the symmetries are checked with :mod:`pgjets.symmetry`, then the taggers are trained
on a few dozen jets against ParticleNet-Lite, PFN and EFN. This page is built on one CPU in
well under a minute, so the numbers are for show only: the study with more jets, seeds and
its error bars is :doc:`/data_efficiency`.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from pgjets.data import JetDataset, generate_jets, JetTable
from pgjets.models import LorentzNet, build_model
from pgjets.symmetry import azimuthal_rotation_error, check_all, lorentz_error
from pgjets.train import TrainConfig, Trainer, classification_report

torch.manual_seed(0)
torch.set_num_threads(1)

# %%
# Symmetry checks
# ---------------
# In float64 the errors of an exact symmetry are at round-off level. LorentzNet reads the
# four-momenta ``p4``; :func:`~pgjets.symmetry.lorentz_error` applies a random proper
# orthochronous Lorentz transformation (boost of rapidity up to 2 along a random axis,
# composed with rotations) to every jet, :func:`~pgjets.symmetry.azimuthal_rotation_error`
# a common shift of every particle's :math:`\phi`.

table = generate_jets("top", 16, seed=3, fast=True)
batch = next(JetDataset.from_table(table, k=None).batches(16))
for key in ("x", "pos", "pt", "p4"):
    batch[key] = batch[key].double()
with_beams = LorentzNet(batch.x.size(1), hidden_channels=16, num_layers=3).double()
without_beams = LorentzNet(batch.x.size(1), hidden_channels=16, num_layers=3, beams=False).double()
print("relative output change         Lorentz    phi rotation")
for name, model in [("LorentzNet with beams", with_beams), ("LorentzNet without beams", without_beams)]:
    print(f"{name:28s} {lorentz_error(model, batch, relative=True):9.1e} "
          f"{azimuthal_rotation_error(model, batch, relative=True):12.1e}")

# %%
# The eta-phi invariant ParticleNet against the ordinary one (absolute changes of the
# logits): permutation, translation and rotation errors vanish; the IRC errors do not (it
# is not built to be IRC safe).

for name in ["particlenet_inv_lite", "particlenet_lite"]:
    model = build_model(name, batch.x.size(1), 2).double()
    errors = check_all(model, batch)
    print(f"{name:22s} " + "  ".join(f"{k} {v:.1e}" for k, v in errors.items()))

# %%
# Accuracy per training jet
# -------------------------
# Top and QCD jets from Pythia 8 + FastJet; one common test set; every model trained for the
# same epochs with the same schedule on the same ``n`` jets per class.

qcd = generate_jets("qcd", 130, seed=11, fast=True, label=0)
top = generate_jets("top", 130, seed=12, fast=True, label=1)
jets = JetTable.concat([qcd, top])
rng = np.random.default_rng(0)
is_top = jets.label == 1
test_idx = np.concatenate([np.nonzero(~is_top)[0][:80], np.nonzero(is_top)[0][:80]])
pool = {c: np.nonzero(jets.label == c)[0][80:] for c in (0, 1)}
sizes = [15, 50]
models = {
    "LorentzNet": ("lorentznet", dict(hidden_channels=16, num_layers=3)),
    "ParticleNet-inv-Lite": ("particlenet_inv_lite", {}),
    "ParticleNet-Lite": ("particlenet_lite", {}),
    "PFN": ("pfn", dict(phi=(32, 32, 64), f=(32, 32))),
    "EFN": ("efn", dict(phi=(32, 32, 64), f=(32, 32))),
}
test = JetDataset.from_table(jets.take(test_idx), k=None)
auc = {name: [] for name in models}
for n in sizes:
    train_idx = np.concatenate([rng.choice(pool[c], n, replace=False) for c in (0, 1)])
    train = JetDataset.from_table(jets.take(np.sort(train_idx)), k=None)
    for name, (reg, kwargs) in models.items():
        torch.manual_seed(0)
        model = build_model(reg, train.num_features, 2, **kwargs)
        cfg = TrainConfig(epochs=5, batch_size=16, lr=3e-3, schedule="cosine", progress=False, verbose=False)
        trainer = Trainer(model, cfg)
        trainer.fit(train)
        logits, y = trainer.predict(test)
        auc[name].append(classification_report(logits, y.view(-1))["auc"])
        print(f"{name:22s} n = {n:3d} per class: test AUC {auc[name][-1]:.3f}")

fig, ax = plt.subplots(figsize=(5, 3.5))
for name, values in auc.items():
    ax.plot(sizes, values, marker="o", label=name)
ax.set_xscale("log")
ax.set_xlabel("training jets per class")
ax.set_ylabel(f"test AUC ({len(test_idx)} jets)")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
