r"""
Set generation: a learned detector response
===========================================

Fast simulation as conditional set generation. For generated top jets,
:func:`~pgjets.data.truth_and_reco_sets` returns the *truth* set (charged generator
particles) and a *reco* set (a toy tracker: tracking efficiency, :math:`p_T` and angular
smearing) of every jet. A :class:`~pgjets.models.SlotSetGenerator` (slot attention
conditioned on the truth set) learns to produce reco-like sets, trained with the
permutation-invariant Hungarian loss (:func:`~pgjets.models.set_generation_loss`), and
the generated sets are compared with the reco sets through per-feature 1-D Wasserstein
distances (:func:`~pgjets.train.wasserstein_1d`). ``examples/set_generation.py`` runs
the longer version with the :math:`p_T` resolution.
"""

import matplotlib.pyplot as plt
import torch

from pgjets.data import generate_jets, truth_and_reco_sets
from pgjets.models import SlotSetGenerator, set_generation_loss
from pgjets.train import wasserstein_1d

torch.manual_seed(0)
torch.set_num_threads(1)

data = truth_and_reco_sets(generate_jets("top", 80, seed=3, fast=True), seed=0)
names = data["names"]
print(f"{len(data['truth_counts'])} jets, {int(data['truth_counts'].sum())} truth and "
      f"{int(data['reco_counts'].sum())} reco tracks; features {names}")

# %%
# Training on the whole sample for 120 steps (the point is the pipeline, not a
# converged detector model).

model = SlotSetGenerator(channels=32, iters=3)
optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
generator = torch.Generator().manual_seed(0)
losses = []
for step in range(120):
    loss = set_generation_loss(model, data, generator=generator)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(float(loss))
print(f"Hungarian loss: first step {losses[0]:.3f}, last step {losses[-1]:.3f}")

# %%
# Generate reco-like sets from the truth sets and compare the distributions.

model.eval()
with torch.no_grad():
    generated, _ = model(data["truth_x"], data["truth_batch"], data["reco_counts"],
                         generator=torch.Generator().manual_seed(1))
w_generated = wasserstein_1d(generated, data["reco_x"], names)
w_truth = wasserstein_1d(data["truth_x"], data["reco_x"], names)
for k in names:
    print(f"W1 to reco, {k:<7} generated {w_generated[k]:.4f}   truth as is {w_truth[k]:.4f}")

fig, axes = plt.subplots(1, len(names) + 1, figsize=(4 * (len(names) + 1), 3.8))
axes[0].plot(losses)
axes[0].set_xlabel("step")
axes[0].set_ylabel("Hungarian loss")
for j, k in enumerate(names):
    ax = axes[j + 1]
    lo = float(torch.quantile(data["reco_x"][:, j], 0.01))
    hi = float(torch.quantile(data["reco_x"][:, j], 0.99))
    bins = torch.linspace(lo, hi, 40).numpy()
    ax.hist(data["truth_x"][:, j].numpy(), bins, histtype="step", label="truth", color="0.5")
    ax.hist(data["reco_x"][:, j].numpy(), bins, histtype="step", label="reco (detector)", lw=1.5)
    ax.hist(generated[:, j].numpy(), bins, histtype="step", label="generated", ls="--", lw=1.5)
    ax.set_xlabel(k)
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()
