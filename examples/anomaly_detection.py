"""Anomaly detection with autoencoders trained on QCD jets only.

The autoencoder lecture (seed 003) trains on background only and flags what the
network cannot reconstruct. Three autoencoders are trained on QCD jets and their
reconstruction error is used as an anomaly score for top and W jets (never seen
in training):

    dense AE     a dense autoencoder (5 -> 16 -> 2 -> 16 -> 5) on standardised
                 high-level features: jet mass, pT, tau21, tau32, number of constituents
                 (N-subjettiness with exclusive-kt axes, pgjets.data.observables)
    GraphAE      pgjets.models.GraphAutoencoder on the constituents (standardised deta, dphi,
                 log pT/pT_J; kNN graph in (deta, dphi), 2 latent numbers per particle);
                 score = feature MSE of the jet
    JetVAE       pgjets.models.JetVAE on the 30 hardest constituents (one 4-d latent per
                 jet, Hungarian reconstruction); score = per-jet Hungarian cost
    mass only    the jet mass itself as the score (the baseline)

The AUC of separating the QCD test jets from the top (W) jets is reported per score.

    nice -n 10 python examples/anomaly_detection.py --data /tmp/studies_jets/qtw4k --jets 4000 \\
        --out docs/_static/anomaly
    python examples/anomaly_detection.py --jets 200 --epochs 2        # smoke run (generates jets)

The measured table is in docs/studies.rst (section "Anomaly detection").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Data

from pgjets.data import jet_observables, JetTable
from pgjets.models import GraphAutoencoder, JetVAE
from pgjets.nn import hungarian_loss

HIGH_LEVEL = ("mass", "pt", "tau21", "tau32", "n_constituents")
N_HARD = 30


def load(args: argparse.Namespace) -> dict[str, JetTable]:
    if args.data:
        from pgjets.data import load_process

        return {p: load_process(args.data, p, args.jets) for p in ("qcd", "top", "w")}
    from pgjets.data import generate_jets

    return {p: generate_jets(p, args.jets, seed=args.seed, fast=True) for p in ("qcd", "top", "w")}


def constituents(table: JetTable) -> tuple[torch.Tensor, torch.Tensor]:
    """(deta, dphi, log pT/pT_J) of the N_HARD hardest constituents of every jet, and the jet index."""
    from pgjets.data.features import wrap_phi

    px, py, pz = (np.asarray(getattr(table, k), dtype=np.float64) for k in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-12))
    phi = np.arctan2(py, px)
    off = table.offsets
    xs, bs = [], []
    for j in range(len(table)):
        a, b = int(off[j]), int(off[j + 1])
        w = pt[a:b]
        ej = float((w * eta[a:b]).sum() / w.sum())
        pj = float(np.arctan2(py[a:b].sum(), px[a:b].sum()))
        idx = np.argsort(-w, kind="stable")[:N_HARD]
        xs.append(np.column_stack([eta[a:b][idx] - ej, wrap_phi(phi[a:b][idx] - pj), np.log(w[idx] / w.sum())]))
        bs.append(np.full(len(idx), j))
    return torch.as_tensor(np.concatenate(xs), dtype=torch.float32), torch.as_tensor(np.concatenate(bs))


def auc(bkg: np.ndarray, sig: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.concatenate([np.zeros(len(bkg)), np.ones(len(sig))])
    return float(roc_auc_score(y, np.concatenate([bkg, sig])))


def jets_of(x: torch.Tensor, b: torch.Tensor, jets: np.ndarray) -> Data:
    remap = torch.full((int(b.max()) + 1,), -1, dtype=torch.long)
    remap[torch.as_tensor(jets)] = torch.arange(len(jets))
    nb = remap[b]
    keep = nb >= 0
    order = torch.argsort(nb[keep], stable=True)
    xx = x[keep][order]
    return Data(x=xx, pos=xx[:, :2], batch=nb[keep][order])


def train_dense(train: np.ndarray, epochs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2), nn.ReLU(), nn.Linear(2, 16), nn.ReLU(),
                          nn.Linear(16, 5))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x = torch.as_tensor(train, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs * 4):
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), 128):
            xb = x[perm[s:s + 128]]
            loss = ((model(xb) - xb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def batches(n: int, size: int, g: torch.Generator):
    perm = torch.randperm(n, generator=g).numpy()
    for s in range(0, n, size):
        yield np.sort(perm[s:s + size])


def jet_scores(score, x: torch.Tensor, b: torch.Tensor, jets: np.ndarray) -> np.ndarray:
    """``score(d)`` (one number per jet of the batch ``d``) of the jets ``jets``, 256 at a time."""
    out = []
    with torch.no_grad():
        for s in range(0, len(jets), 256):
            out.append(score(jets_of(x, b, jets[s:s + 256])))
    return torch.cat(out).numpy()


def gae_score(model: GraphAutoencoder, d: Data) -> torch.Tensor:
    """Mean squared feature error of every jet."""
    err = ((model(d)["x_hat"] - d.x) ** 2).mean(1)
    return torch.zeros(int(d.batch.max()) + 1).index_add(0, d.batch, err) / torch.bincount(d.batch).float()


def vae_score(model: JetVAE, d: Data) -> torch.Tensor:
    """Hungarian cost of every jet's reconstruction from the mean of its latent."""
    mu, _ = model.encode(d.x, d.batch)
    x_hat, xb = model.decode(mu)
    return hungarian_loss(x_hat, d.x, xb, d.batch, allow_unequal=True, reduction="none")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="")
    ap.add_argument("--jets", type=int, default=1000, help="jets per process")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.process_time()
    tables = load(args)
    obs = {p: jet_observables(t) for p, t in tables.items()}
    n_qcd = len(tables["qcd"])
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(n_qcd)
    tr, te = np.sort(perm[: n_qcd // 2]), np.sort(perm[n_qcd // 2:])
    print(f"{n_qcd} QCD ({len(tr)} train / {len(te)} test), {len(tables['top'])} top, {len(tables['w'])} W jets; "
          f"observables in {time.process_time() - t0:.0f} CPU-s", flush=True)

    def hl(p):
        return np.column_stack([obs[p][k] for k in HIGH_LEVEL])

    mean, std = hl("qcd")[tr].mean(0), hl("qcd")[tr].std(0)
    scores: dict[str, dict[str, np.ndarray]] = {}
    scores["mass only"] = {"qcd": obs["qcd"]["mass"][te], "top": obs["top"]["mass"], "w": obs["w"]["mass"]}

    dense = train_dense((hl("qcd")[tr] - mean) / std, args.epochs, args.seed)
    with torch.no_grad():
        def dscore(a):
            x = torch.as_tensor((a - mean) / std, dtype=torch.float32)
            return ((dense(x) - x) ** 2).mean(1).numpy()
        scores["dense AE (high-level)"] = {"qcd": dscore(hl("qcd")[te]), "top": dscore(hl("top")), "w": dscore(hl("w"))}
    print(f"dense AE done ({time.process_time() - t0:.0f} CPU-s)", flush=True)

    cons = {p: constituents(t) for p, t in tables.items()}
    xq, bq = cons["qcd"]
    train_rows = torch.isin(bq, torch.as_tensor(tr))
    c_mean, c_std = xq[train_rows].mean(0), xq[train_rows].std(0)  # standardise with the QCD training jets
    cons = {p: ((x - c_mean) / c_std, b) for p, (x, b) in cons.items()}
    xq, bq = cons["qcd"]
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    gae = GraphAutoencoder(3, latent=2, hidden=32, k=8, edge_weight=0.1)
    vae = JetVAE(3, latent=4, hidden=64, n_out=N_HARD, beta=1e-3)
    opt_g = torch.optim.Adam(gae.parameters(), lr=3e-3)
    opt_v = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        for jb in batches(len(tr), 128, g):
            d = jets_of(xq, bq, tr[jb])
            for model, opt in ((gae, opt_g), (vae, opt_v)):
                loss = model.loss(d)["loss"] if model is gae else model(d, generator=g)["loss"]
                opt.zero_grad()
                loss.backward()
                opt.step()
        print(f"epoch {epoch}: GraphAE loss {float(gae.loss(d)['loss'].detach()):.4f}  "
              f"JetVAE loss {float(loss.detach()):.4f}  ({time.process_time() - t0:.0f} CPU-s)", flush=True)
    gae.eval()
    vae.eval()
    all_jets = {p: np.arange(len(tables[p])) for p in ("top", "w")}
    for name, score in (("GraphAutoencoder (constituents)", lambda d: gae_score(gae, d)),
                        ("JetVAE (constituents)", lambda d: vae_score(vae, d))):
        scores[name] = {"qcd": jet_scores(score, xq, bq, te),
                        **{p: jet_scores(score, *cons[p], all_jets[p]) for p in ("top", "w")}}

    table = {k: {"AUC top": auc(s["qcd"], s["top"]), "AUC W": auc(s["qcd"], s["w"])} for k, s in scores.items()}
    print(f"\n{'score':34s}{'AUC top vs QCD':>16s}{'AUC W vs QCD':>14s}")
    for k, r in table.items():
        print(f"{k:34s}{r['AUC top']:16.3f}{r['AUC W']:14.3f}")
    print(f"total {time.process_time() - t0:.0f} CPU-s")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps({"table": table, "args": vars(args)}, indent=1))
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axs = plt.subplots(1, len(scores), figsize=(3.3 * len(scores), 3.0))
        for ax, (k, s) in zip(axs, scores.items()):
            hi = np.percentile(np.concatenate(list(s.values())), 99)
            bins = np.linspace(0, hi, 41)
            for p, c in (("qcd", "C0"), ("top", "C3"), ("w", "C2")):
                ax.hist(np.clip(s[p], 0, hi), bins=bins, histtype="step", density=True, color=c, label=p)
            ax.set_title(k, fontsize=8)
            ax.set_xlabel("score", fontsize=8)
        axs[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "scores.png", dpi=100)
        print(f"wrote {out / 'results.json'} and {out / 'scores.png'}")


if __name__ == "__main__":
    main()
