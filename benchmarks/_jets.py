"""Real generated jets for the benchmarks, in both input forms (not part of the package).

Jets come from Pythia 8 + FastJet through :func:`pgjets.data.generate.generate_dataset`
(fast mode, MPI off), generated once into ``benchmarks/.cache/jets`` (gitignored)
and reused.  :func:`pick` draws jets with 20-150 constituents; :func:`pgjets_batch`
builds the PyG ``Batch`` pgjets models take, :func:`weaver_inputs` the padded
``(B, C, P)`` tensors weaver-core models take.  Building either is never timed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import Tensor

from _timing import CACHE

JETS_DIR = CACHE / "jets"


def real_jets(n_per_process: int = 400, path: Path = JETS_DIR):
    """Top and QCD jets (``n_per_process`` each), generated on the first call and cached."""
    from pgjets.data import generate_dataset
    from pgjets.data import load_table

    if not (path / "manifest.json").exists():
        print(f"generating {2 * n_per_process} jets with Pythia 8 + FastJet into {path} (once) ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_dataset(["qcd", "top"], n_per_process, path, seed=1, fast=True, workers=2,
                         chunk_size=max(1, n_per_process // 2), progress=False)
    return load_table(path)


def pick(table, n_jets: int, n_min: int = 20, n_max: int = 150, seed: int = 0):
    """``n_jets`` jets with ``n_min``-``n_max`` constituents (drawn with replacement if too few)."""
    counts = table.n_constituents
    ok = np.nonzero((counts >= n_min) & (counts <= n_max))[0]
    if ok.size == 0:
        raise SystemExit(f"no cached jet has {n_min}-{n_max} constituents")
    rng = np.random.default_rng(seed)
    idx = rng.choice(ok, n_jets, replace=ok.size < n_jets)
    return table.take(np.sort(idx))


def features(table) -> dict:
    """Flat pgjets features of a table (``x``, ``pos``, ``pt``, ``p4`` tensors, ``counts``, ``y``, and
    ``batch``, the jet index of every constituent)."""
    from pgjets.data import constituent_features

    f = constituent_features(table, "particlenet")
    counts = torch.from_numpy(table.n_constituents).long()
    return {
        "x": torch.from_numpy(f["x"]), "pos": torch.from_numpy(f["pos"]), "pt": torch.from_numpy(f["pt"]),
        "p4": torch.from_numpy(f["p4"]), "counts": counts, "y": torch.from_numpy(table.label).long(),
        "batch": torch.repeat_interleave(torch.arange(counts.numel()), counts),
    }


def pgjets_batch(table, device: torch.device | str = "cpu"):
    """The PyG ``Batch`` of the jets (no edges: ParticleNet and ParT build their own)."""
    from pgjets.graphs import clouds_to_batch

    f = features(table)
    b = clouds_to_batch(f["x"], f["pos"], f["counts"], k=None, pt=f["pt"], p4=f["p4"], y=f["y"])
    return b.to(device)


def pad(flat: Tensor, counts: Tensor, length: Optional[int] = None) -> tuple[Tensor, Tensor]:
    """Flat ``(P, C)`` rows to a zero-padded ``(B, C, L)`` block and a ``(B, 1, L)`` float mask."""
    b = counts.numel()
    length = int(counts.max()) if length is None else length
    batch = torch.repeat_interleave(torch.arange(b), counts)
    ptr = torch.zeros(b + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=ptr[1:])
    local = torch.arange(flat.size(0)) - ptr[batch]
    out = flat.new_zeros(b, length, flat.size(1))
    out[batch, local] = flat
    mask = torch.zeros(b, length)
    mask[batch, local] = 1.0
    return out.transpose(1, 2).contiguous(), mask.unsqueeze(1)


def weaver_inputs(table, device: torch.device | str = "cpu", length: Optional[int] = None) -> dict:
    """Padded weaver inputs: ``points (B,2,P)``, ``features (B,F,P)``, ``mask (B,1,P)``,
    ``lorentz (B,4,P)`` as ``(px, py, pz, E)`` (weaver's order), ``y (B,)``.

    ``length`` defaults to the longest jet of the batch (the cheapest padding for weaver).
    """
    f = features(table)
    counts = f["counts"]
    points, mask = pad(f["pos"], counts, length)
    feats, _ = pad(f["x"], counts, length)
    p4 = f["p4"]  # (E, px, py, pz)
    lorentz, _ = pad(torch.cat([p4[:, 1:], p4[:, :1]], 1), counts, length)
    return {k: v.to(device) for k, v in
            {"points": points, "features": feats, "mask": mask, "lorentz": lorentz, "y": f["y"]}.items()}


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters of a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["real_jets", "pick", "features", "pgjets_batch", "pad", "weaver_inputs", "count_parameters", "JETS_DIR"]


def weaver_comparison(build_models: Callable, batch_size: int, device: torch.device, goal: float,
                      seed: int = 0) -> tuple[Any, dict, torch.nn.Module, torch.nn.Module, dict]:
    """Inputs and models of a pgjets-vs-weaver comparison on ``batch_size`` real jets.

    Returns ``(batch, weaver_inputs, peer, ours, common)``: the PyG batch, weaver's padded inputs,
    the two models from ``build_models(num_features, device)``, and the fields every result line
    shares.  weaver's ``SequenceTrimmer`` (on by default) trims the padding of training batches
    after 5 warm-up steps; it is put in that steady state so that every timed weaver step is a
    trimmed one (this favours weaver).
    """
    table = pick(real_jets(), batch_size, seed=seed)
    batch = pgjets_batch(table, device)
    w = weaver_inputs(table, device)
    peer, ours = build_models(batch.x.size(1), device)
    peer.trimmer._counter.fill_(peer.trimmer.warmup_steps)
    n_peer, n_ours = count_parameters(peer), count_parameters(ours)
    padded_to = int(w["mask"].size(-1))
    print(f"{batch_size} jets, {batch.num_nodes} particles (mean {batch.num_nodes / batch_size:.1f}, "
          f"padded to {padded_to} for weaver); parameters weaver {n_peer:,}, pgjets {n_ours:,}")
    common = {"batch_size": batch_size, "particles": int(batch.num_nodes), "padded_to": padded_to,
              "params_peer": n_peer, "params_pgjets": n_ours, "goal": goal, "peer": "weaver-core 0.5.3"}
    return batch, w, peer, ours, common
