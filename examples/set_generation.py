"""Fast simulation as set generation: learn a tracker response with slot attention.

Top jets (Pythia 8 + FastJet) give truth sets (charged generator particles) and
reco sets (tracking efficiency + pT/angular smearing, see pgjets.data.smearing),
plus ``--replicas`` re-smearings of the found tracks of every jet. Every
configuration below trains a generator on the training jets and is then run
*fully generatively* on the test jets: a TruthSelector (a per-particle
reconstruction probability learnt from the truth-reco association) draws how
many (and, for the "sel" rows, which) truth particles are reconstructed, and the
generator produces the reco set. The generated sets are compared with the reco
sets: 1-D Wasserstein distances of log pT, deta, dphi and of the number of
particles per jet, and the pT response of particles matched to their truth
particle (mean = bias, IQR/1.349 = resolution) and the IQR/1.349 of their angle
residuals. A second, independent run of the detector model on the test jets
("detector rerun") gives the floor of these statistics: what a perfect generator
would score. The generator and its loss see deta, dphi times ``--angle-scale``
(default 3): in raw units the 2 mrad angular smearing weighs 25 times less than
the 1 % pT smearing in the squared distance, and the generator blurred dphi to
about 4 mrad.

Configurations (``--configs``, comma separated):

    hungarian     slot attention on all truth particles, given N, Hungarian loss (no replicas)
    mmd           same, per-jet MMD loss
    cvae          the cVAE baseline (Deep Sets condition, MLP decoder), given N, Hungarian loss
    sel-hungarian slot attention on the selected subset, Hungarian loss against the reco set
    sel-ssmmd1    selected subset, set-of-sets MMD against the one reco set (R = 1)
    sel-ssmmd     selected subset, set-of-sets MMD with R replicas on both sides
    sel-proxy     selected subset, L_proxy (closest pair of replicas) with R replicas

    nice -n 15 python examples/set_generation.py --data /tmp/studies_jets/qtw4k --jets 2000 \\
        --steps 200 --replicas 4 --out docs/_static/set_generation
    python examples/set_generation.py --jets 60 --steps 20 --configs hungarian,sel-ssmmd   # smoke run

The measured table is in docs/studies.rst (section "Set generation").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from pgjets.data import generate_jets, truth_and_reco_sets
from pgjets.models import ConditionalVAE, SlotSetGenerator, TruthSelector, set_generation_loss
from pgjets.train import resolution, wasserstein_1d
from pgjets.nn import hungarian_loss

CONFIGS = ("hungarian", "mmd", "cvae", "sel-hungarian", "sel-ssmmd1", "sel-ssmmd", "sel-proxy")
#: Kernel widths of the set-of-sets MMD: the per-element squared distance between two
#: replicas is ~2e-4 (1-2.5 % pT smearing), so widths of 0.005-0.05 resolve it.
SSMMD_BANDWIDTHS = (0.005, 0.01, 0.02, 0.05)


def load_top_jets(args: argparse.Namespace):
    if args.data:
        from pgjets.data import load_process

        return load_process(args.data, "top", args.jets)
    return generate_jets("top", args.jets, seed=args.seed, fast=True)


def subset(d: dict, jets: torch.Tensor, replicas: int) -> dict:
    """Truth, reco and replica sets of the selected jets (renumbered 0..len(jets)-1)."""
    out = {}
    num = len(d["truth_counts"])
    remap = torch.full((num,), -1, dtype=torch.long)
    remap[jets] = torch.arange(len(jets))
    for side in ("truth", "reco"):
        b = remap[d[f"{side}_batch"]]
        keep = b >= 0
        order = torch.argsort(b[keep], stable=True)
        out[f"{side}_x"] = d[f"{side}_x"][keep][order]
        out[f"{side}_batch"] = b[keep][order]
        out[f"{side}_counts"] = d[f"{side}_counts"][jets]
    rb = remap[d["reco_batch"]]
    keep = rb >= 0
    order = torch.argsort(rb[keep], stable=True)
    idx = d["reco_index"][keep][order]
    out["kept_x"] = d["truth_x"][idx]  # the truth particles the detector found, in reco order
    found = torch.zeros(len(d["truth_x"]), dtype=torch.bool)
    found[d["reco_index"]] = True
    tb = remap[d["truth_batch"]]
    tkeep = tb >= 0
    out["truth_found"] = found[tkeep][torch.argsort(tb[tkeep], stable=True)]
    if replicas:
        set_jet = d["replica_set"] // replicas
        sj = remap[set_jet]
        keep = sj >= 0
        new_set = sj[keep] * replicas + d["replica_set"][keep] % replicas
        order = torch.argsort(new_set, stable=True)
        out["replica_x"] = d["replica_x"][keep][order]
        out["replica_set"] = new_set[order]
        out["replica_group"] = torch.arange(len(jets)).repeat_interleave(replicas)
    return out


def scale_angles(x: torch.Tensor, factor: float) -> torch.Tensor:
    """(log pT, deta, dphi) with the two angles multiplied by ``factor`` (a copy)."""
    if factor == 1.0:
        return x
    return x * x.new_tensor([1.0, factor, factor])


def scaled_sets(data: dict, factor: float) -> dict:
    """``data`` with the angles of every set (truth, reco, kept, replicas) scaled by ``factor``."""
    return {k: scale_angles(v, factor) if k.endswith("_x") else v for k, v in data.items()}


def train_selector(train: dict, steps: int = 300) -> TruthSelector:
    torch.manual_seed(1)
    sel = TruthSelector(3, hidden=32)
    opt = torch.optim.Adam(sel.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss = sel.loss(train["truth_x"], train["truth_found"])
        loss.backward()
        opt.step()
    return sel


def loss_batch(b: dict, config: str, replicas: int) -> tuple[dict, str, dict]:
    """The batch dict, loss kind and loss options of one configuration."""
    if not config.startswith("sel-"):
        kind = config
        return b, kind, {}
    d = {"truth_x": b["kept_x"], "truth_batch": b["reco_batch"], "reco_counts": b["reco_counts"],
         "reco_x": b["reco_x"], "reco_batch": b["reco_batch"]}
    if config == "sel-hungarian":
        return d, "hungarian", {}
    if config == "sel-ssmmd1":
        d.update(replica_x=b["reco_x"], replica_set=b["reco_batch"],
                 replica_group=torch.arange(len(b["reco_counts"])))
        return d, "set_mmd", {"bandwidths": SSMMD_BANDWIDTHS}
    d.update(replica_x=b["replica_x"], replica_set=b["replica_set"], replica_group=b["replica_group"])
    if config == "sel-ssmmd":
        return d, "set_mmd", {"bandwidths": SSMMD_BANDWIDTHS}
    return d, "proxy", {}


def cvae_step(model: ConditionalVAE, b: dict, gen: torch.Generator) -> torch.Tensor:
    keep = b["reco_counts"] > 0
    jets = torch.nonzero(keep).squeeze(-1)
    sub = subset_local(b, jets)
    target = Data(x=sub["reco_x"], batch=sub["reco_batch"])
    cond = Data(x=sub["truth_x"], batch=sub["truth_batch"])
    return model(target, cond, generator=gen)["loss"]


def subset_local(b: dict, jets: torch.Tensor) -> dict:
    remap = torch.full((len(b["reco_counts"]),), -1, dtype=torch.long)
    remap[jets] = torch.arange(len(jets))
    out = {}
    for side in ("truth", "reco"):
        nb = remap[b[f"{side}_batch"]]
        k = nb >= 0
        out[f"{side}_x"], out[f"{side}_batch"] = b[f"{side}_x"][k], nb[k]
    return out


def cvae_generate(model: ConditionalVAE, test: dict, counts: torch.Tensor, gen: torch.Generator):
    cond = Data(x=test["truth_x"], batch=test["truth_batch"])
    return model.sample(cond, generator=gen, counts=counts)  # the first N outputs: the set the loss trained


def run_config(config: str, train: dict, train_jets: torch.Tensor, test: dict, data: dict, args) -> dict:
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.process_time()
    if config == "cvae":
        n_out = int(data["reco_counts"].max())
        model = ConditionalVAE(3, 3, latent=8, hidden=64, n_out=n_out, beta=1e-3, unmatched_cost=1.0,
                               given_counts=True)
    else:
        model = SlotSetGenerator(channels=64, iters=3)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    for step in range(args.steps):
        pick = torch.randint(len(train_jets), (min(args.batch, len(train_jets)),), generator=gen).unique()
        b = subset(data, train_jets[pick], args.replicas)
        if config == "cvae":
            loss = cvae_step(model, b, gen)
        else:
            d, kind, kw = loss_batch(b, config, args.replicas)
            loss = set_generation_loss(model, d, kind=kind, generator=gen, **kw)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, args.steps // 5) == 0 or step == args.steps - 1:
            print(f"  [{config}] step {step:4d}  loss {float(loss.detach()):.5f}", flush=True)
    return {"model": model, "cpu_s": time.process_time() - t0}


def evaluate(config: str, model, selector: TruthSelector, test: dict, seed: int, angle_scale: float = 1.0) -> dict:
    """Fully generative sets of the test jets: sampled subset/count, then the generator.

    The generator works on angles scaled by ``angle_scale``; its output is scaled back.
    """
    model.eval()
    scaled = scaled_sets(test, angle_scale)
    gen = torch.Generator().manual_seed(seed + 2)
    n_jets = len(test["truth_counts"])
    with torch.no_grad():
        keep = selector.sample(test["truth_x"], test["truth_batch"], n_jets, generator=gen)
        counts = torch.bincount(test["truth_batch"][keep], minlength=n_jets)
        if config == "cvae":
            pred, pred_batch = cvae_generate(model, scaled, counts, gen)
        elif config.startswith("sel-"):
            pred, pred_batch = model(scaled["truth_x"][keep], test["truth_batch"][keep], counts, generator=gen)
        else:
            pred, pred_batch = model(scaled["truth_x"], test["truth_batch"], counts, generator=gen)
    pred = scale_angles(pred, 1.0 / angle_scale)
    return {"x": pred, "batch": pred_batch, "counts": counts}


def matched_response(x: torch.Tensor, b: torch.Tensor, test: dict) -> tuple[np.ndarray, np.ndarray]:
    """(pT - pT_truth)/pT_truth and (deta, dphi) - truth of particles matched (Hungarian) to their jet's truth."""
    _, idx = hungarian_loss(x, test["truth_x"], b, test["truth_batch"], allow_unequal=True,
                            return_assignment=True)
    pt, pt_truth = x[idx[0], 0].exp(), test["truth_x"][idx[1], 0].exp()
    return ((pt - pt_truth) / pt_truth).numpy(), (x[idx[0], 1:] - test["truth_x"][idx[1], 1:]).numpy()


def iqr_sigma(v: np.ndarray) -> float:
    q25, q75 = np.percentile(v, [25, 75])
    return float((q75 - q25) / 1.349)


def metrics(x, b, counts, test, names) -> dict:
    w = wasserstein_1d(x, test["reco_x"], names)
    w["counts"] = wasserstein_1d(counts.float(), test["reco_counts"].float())["0"]
    resp, dang = matched_response(x, b, test)
    r = resolution(resp + 1.0, np.ones_like(resp), ["pt"])["pt"]
    return {**{f"W1_{k}": v for k, v in w.items()}, "bias": r["mean"], "median": r["median"],
            "sigma": r["iqr_sigma"], "sigma_deta": iqr_sigma(dang[:, 0]), "sigma_dphi": iqr_sigma(dang[:, 1]),
            "response": resp, "dphi_residual": dang[:, 1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="", help="dataset folder with top_*.h5 (default: generate the jets)")
    ap.add_argument("--jets", type=int, default=300)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--angle-scale", type=float, default=3.0,
                    help="the generator and its loss see deta, dphi times this factor (1: raw angles, where the "
                         "2 mrad angular smearing weighs 25 times less than the 1 %% pT smearing in log pT)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="", help="folder for results.json and the response plot")
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    bad = [c for c in configs if c not in CONFIGS]
    if bad:
        raise SystemExit(f"unknown configs {bad}; choose from {CONFIGS}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    table = load_top_jets(args)
    data = truth_and_reco_sets(table, seed=args.seed, replicas=args.replicas)
    names = data["names"]
    n_test = max(1, len(table) // 5)
    perm = torch.randperm(len(table))
    test_jets, train_jets = perm[:n_test].sort().values, perm[n_test:]
    test, train = subset(data, test_jets, 0), subset(data, train_jets, 0)
    print(f"{len(table)} jets ({len(train_jets)} train / {n_test} test), {int(data['truth_counts'].sum())} truth / "
          f"{int(data['reco_counts'].sum())} reco tracks, {args.replicas} replicas")
    selector = train_selector(train)

    rows = {}
    det = metrics(test["reco_x"], test["reco_batch"], test["reco_counts"], test, names)
    det.update({f"W1_{k}": 0.0 for k in (*names, "counts")})
    rows["detector model"] = det
    rows["truth copied"] = metrics(test["truth_x"], test["truth_batch"], test["truth_counts"], test, names)
    # The floor of the statistics: a second, independent run of the detector model on the same test jets
    # (what a perfect generator would give) against the first one.
    rerun = subset(truth_and_reco_sets(table, seed=args.seed + 1), test_jets, 0)
    rows["detector rerun"] = metrics(rerun["reco_x"], rerun["reco_batch"], rerun["reco_counts"], test, names)
    if not args.angle_scale > 0:
        raise SystemExit(f"--angle-scale must be > 0, got {args.angle_scale}")
    train_data = scaled_sets(data, args.angle_scale)
    for config in configs:
        res = run_config(config, train, train_jets, test, train_data, args)
        g = evaluate(config, res["model"], selector, test, args.seed, args.angle_scale)
        rows[config] = metrics(g["x"], g["batch"], g["counts"], test, names)
        rows[config]["cpu_s"] = res["cpu_s"]
        r = rows[config]
        print(f"  [{config}] {res['cpu_s']:.0f} CPU-s  " + "  ".join(f"{c} {r[c]:.4f}" for c in r if c.startswith("W1"))
              + f"  bias {100 * r['bias']:+.2f}%  sigma {100 * r['sigma']:.2f}%"
              + f"  sigma deta/dphi {1e3 * r['sigma_deta']:.2f}/{1e3 * r['sigma_dphi']:.2f} mrad", flush=True)

    cols = [f"W1_{k}" for k in (*names, "counts")]
    print("\n" + f"{'':15s}" + "".join(f"{c:>12s}" for c in cols) + f"{'pT bias':>10s}{'pT sigma':>10s}"
          + f"{'deta sig':>10s}{'dphi sig':>10s}")
    for k, r in rows.items():
        print(f"{k:15s}" + "".join(f"{r[c]:12.4f}" for c in cols) + f"{100 * r['bias']:+9.2f}%{100 * r['sigma']:9.2f}%"
              + f"{1e3 * r['sigma_deta']:10.2f}{1e3 * r['sigma_dphi']:10.2f}")
    print("(deta sig, dphi sig: IQR/1.349 of the angle residuals of the matched particles, mrad)")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        js = {k: {c: v for c, v in r.items() if c not in ("response", "dphi_residual")} for k, r in rows.items()}
        js["_args"] = vars(args)
        (out / "results.json").write_text(json.dumps(js, indent=1))
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
        bins = np.linspace(-0.15, 0.1, 76)
        abins = np.linspace(-0.015, 0.015, 61)
        for k, r in rows.items():
            if k in ("truth copied", "detector rerun"):
                continue
            style = {"color": "black", "lw": 2.0} if k == "detector model" else {"lw": 1.2}
            ax.hist(np.clip(r["response"], bins[0], bins[-1]), bins=bins, histtype="step", density=True,
                    label=f"{k} (mean {100 * r['bias']:+.1f}%, sigma {100 * r['sigma']:.1f}%)", **style)
            ax2.hist(np.clip(r["dphi_residual"], abins[0], abins[-1]), bins=abins, histtype="step", density=True,
                     label=f"{k} (sigma {1e3 * r['sigma_dphi']:.1f} mrad)", **style)
        ax.set_yscale("log")
        ax.set_xlabel(r"$(p_T - p_T^{\mathrm{truth}}) / p_T^{\mathrm{truth}}$ of matched particles")
        ax.set_ylabel("density")
        ax.legend(fontsize=6.5)
        ax2.set_yscale("log")
        ax2.set_xlabel(r"$\Delta\phi - \Delta\phi^{\mathrm{truth}}$ of matched particles")
        ax2.legend(fontsize=6.5)
        fig.tight_layout()
        fig.savefig(out / "response.png", dpi=110)
        print(f"wrote {out / 'results.json'} and {out / 'response.png'}")


if __name__ == "__main__":
    main()
