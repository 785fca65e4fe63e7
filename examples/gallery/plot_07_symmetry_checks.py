r"""
Symmetry checks
===============

:mod:`pgjets.symmetry` transforms a batch of jets and measures how much a model's output
changes, :math:`\Delta_T = \max |f(TG) - f(G)|`, for five transformations :math:`T`:

- a permutation of the particles of every jet,
- a translation and a rotation in the :math:`(\Delta\eta, \Delta\phi)` plane,
- a soft emission (a particle with :math:`p_T = 0`) and a collinear splitting (one
  particle replaced by two at the same place sharing its :math:`p_T`): infrared and
  collinear (IRC) safety.

The models here are untrained: the symmetries are properties of the architecture, not
of the training. Errors at round-off level (:math:`\lesssim 10^{-6}`) mean invariance.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from pgjets.data import JetDataset, generate_jets
from pgjets.models import EnergyFlowNetwork, ParticleFlowNetwork, part_lite, particlenet_lite
from pgjets.symmetry import check_all

torch.manual_seed(0)
torch.set_num_threads(1)

# %%
# Jets with angular features only, :math:`x_i = (\Delta\eta_i, \Delta\phi_i)`: the checks
# then know how to transform ``x`` along with ``pos`` (see :mod:`pgjets.symmetry`).

table = generate_jets("top", 32, seed=5, fast=True)
batch = next(JetDataset.from_table(table, feature_set="angular").batches(32))
print(batch)

models = {
    "EFN": EnergyFlowNetwork(),
    "PFN": ParticleFlowNetwork(2),
    "ParticleNet-Lite": particlenet_lite(2),
    "ParT-Lite": part_lite(2),
}
results = {}
for name, model in models.items():
    model.eval()
    results[name] = check_all(model, batch, seed=0)
    print(f"{name:<17}" + "  ".join(f"{k} {v:.1e}" for k, v in results[name].items()))

# %%
# The expected pattern: every model is permutation invariant; none is translation or
# rotation invariant (their inputs are the coordinates themselves); only the Energy Flow
# Network, which weights each particle by its momentum fraction :math:`z_i`, is IRC
# safe. The PFN sums over particles without :math:`p_T` weights, so a soft or a split
# particle changes its output.

checks = list(next(iter(results.values())))
fig, ax = plt.subplots(figsize=(8, 4.5))
width = 0.8 / len(models)
for i, (name, res) in enumerate(results.items()):
    values = np.maximum([res[c] for c in checks], 1e-9)
    ax.bar(np.arange(len(checks)) + (i - (len(models) - 1) / 2) * width, values, width, label=name)
ax.axhline(1e-5, color="k", ls=":", lw=0.8)
ax.text(len(checks) - 0.5, 1.5e-5, "invariant below", ha="right", fontsize=8)
ax.set_yscale("log")
ax.set_xticks(range(len(checks)), checks)
ax.set_ylabel(r"$\max |f(TG) - f(G)|$")
ax.set_title("symmetry checks of untrained models (floor at 1e-9)")
ax.legend(fontsize=8, ncol=2)
fig.tight_layout()
plt.show()
