"""
How inputs become graphs
========================

Three of the inputs pgjets turns into PyG graphs, drawn from real data:

1. a top jet generated with Pythia 8 + FastJet, as a point cloud in
   :math:`(\\Delta\\eta, \\Delta\\phi)` with its :math:`k`-nearest-neighbour edges;
2. the same jet as a :math:`p_T`-weighted image and its grid graph (one node per
   non-empty pixel, edges to the 8 neighbouring pixels);
3. a collision event of the H :math:`\\to` ZZ sample of scikit-hep-testdata as a fully
   connected graph of its reconstructed objects.
"""

# sphinx_gallery_thumbnail_number = 1
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection

from pgjets.data import constituent_features, generate_jets, read_hzz_events
from pgjets.data import jet_image
from pgjets.graphs import cloud_to_graph, event_to_graph, image_to_graph

torch.manual_seed(0)
torch.set_num_threads(1)

# %%
# A jet as a kNN graph
# --------------------
# :func:`~pgjets.data.generate_jets` runs Pythia and FastJet on the spot; each
# constituent keeps its generator-truth hard parent (the :math:`b` or one of the two
# quarks of the :math:`W` decay). :func:`~pgjets.graphs.cloud_to_graph` builds the kNN
# graph on the coordinates relative to the jet axis.

table = generate_jets("top", 3, seed=7, fast=True)
features = constituent_features(table)
first = slice(int(table.offsets[0]), int(table.offsets[1]))
jet = cloud_to_graph(features["x"][first], features["pos"][first], k=8, pt=features["pt"][first])
print(jet)

pos = jet.pos.numpy()
parent = table.parent[first]
src, dst = jet.edge_index.numpy()
fig, ax = plt.subplots(figsize=(6, 5.5))
ax.add_collection(LineCollection(np.stack([pos[src], pos[dst]], 1), colors="0.75", linewidths=0.5, zorder=1))
names = {0: "from the b", 1: "from W quark", 2: "from W antiquark", -1: "other"}
for code, colour in zip((0, 1, 2, -1), ("tab:blue", "tab:red", "tab:orange", "0.4")):
    sel = parent == code
    ax.scatter(pos[sel, 0], pos[sel, 1], s=8 + 300 * jet.pt.numpy()[sel] / jet.pt.max().item(),
               c=colour, label=names[code], zorder=2, edgecolors="k", linewidths=0.3)
ax.set_xlabel(r"$\Delta\eta$")
ax.set_ylabel(r"$\Delta\phi$")
ax.set_title(f"top jet: {jet.num_nodes} particles, k = 8 ({jet.num_edges} edges)")
ax.legend(loc="upper right", fontsize=8)
ax.set_aspect("equal")
fig.tight_layout()

# %%
# The same jet as an image and a grid graph
# -----------------------------------------
# :func:`~pgjets.data.jet_image` centres, rotates and flips the jet and sums the
# :math:`p_T` per pixel; :func:`~pgjets.graphs.image_to_graph` with ``drop_zeros=True``
# keeps only the non-empty pixels as nodes. On a full image a
# :class:`~pgjets.nn.GridConv` over this graph equals ``nn.Conv2d``.

image = jet_image(table.take(np.array([0])), npix=16)[0]
grid = image_to_graph(image, connectivity=8, drop_zeros=True)
print(grid)

fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
axes[0].imshow(image[0].numpy(), cmap="viridis", norm="log", origin="lower")
axes[0].set_title("jet image (16 x 16, pT per pixel)")
rc = grid.pos.numpy()
s, d = grid.edge_index.numpy()
axes[1].imshow(image[0].numpy() > 0, cmap="Greys", alpha=0.15, origin="lower")
axes[1].add_collection(LineCollection(np.stack([rc[s][:, ::-1], rc[d][:, ::-1]], 1), colors="tab:blue",
                                      linewidths=0.8))
axes[1].scatter(rc[:, 1], rc[:, 0], c=grid.x[:, 0].numpy(), cmap="viridis", norm="log", s=30, zorder=2)
axes[1].set_title(f"grid graph: {grid.num_nodes} non-empty pixels, {grid.num_edges} edges")
for a in axes:
    a.set_xlabel("column")
    a.set_ylabel("row")
fig.tight_layout()

# %%
# A collision event as a graph of its objects
# -------------------------------------------
# :func:`~pgjets.graphs.event_to_graph` makes one node per muon, electron, jet, photon
# and the missing transverse momentum, with features
# :math:`(p_T, \eta, \phi, E, q, \text{one-hot collection})`.

events = read_hzz_events(stop=200)
counts = np.array([len(e.Muon) + len(e.Electron) + len(e.Jet) + len(e.Photon) for e in events])
event = events[int(np.argmax((counts >= 6) & (counts <= 9)))]
graph = event_to_graph(event, connectivity="full")
print(graph)

fig, ax = plt.subplots(figsize=(6, 5))
p = graph.pos.numpy()
s, d = graph.edge_index.numpy()
ax.add_collection(LineCollection(np.stack([p[s], p[d]], 1), colors="0.8", linewidths=0.6, zorder=1))
for t, (name, colour) in enumerate(zip(("muon", "electron", "jet", "photon", "MET"),
                                      ("tab:red", "tab:green", "tab:blue", "gold", "k"))):
    sel = graph.node_type.numpy() == t
    if sel.any():
        ax.scatter(p[sel, 0], p[sel, 1], s=20 + 2 * graph.pt.numpy()[sel], c=colour, label=name, zorder=2,
                   edgecolors="k", linewidths=0.4)
ax.set_xlabel(r"$\eta$")
ax.set_ylabel(r"$\phi$")
ax.set_title(f"H->ZZ event: {graph.num_nodes} objects, fully connected")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
