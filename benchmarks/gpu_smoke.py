"""GPU smoke check (not a test): every jet model trains one AMP epoch on CUDA and matches CPU in eval.

    python benchmarks/gpu_smoke.py                 # on a GPU machine (benchmarks/device/run.sh runs it)
    python benchmarks/gpu_smoke.py --device cpu    # the same code path on a CPU (a check of the script)
"""

from __future__ import annotations

import argparse

import torch
from torch_geometric.data import Batch, Data

from pgjets.models import MODELS, build_model
from pgjets.ops import knn_graph
from pgjets.train import TrainConfig, Trainer


def jets(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        m = int(torch.randint(10, 60, (1,), generator=g))
        pt = torch.rand(m, generator=g) * 50 + 1
        pos = torch.randn(m, 2, generator=g) * 0.3
        eta, phi = pos[:, 0], pos[:, 1]
        p4 = torch.stack([pt * eta.cosh(), pt * phi.cos(), pt * phi.sin(), pt * eta.sinh()], 1)
        x = torch.cat([pos, pt.log()[:, None], torch.randn(m, 4, generator=g)], 1)
        out.append(Data(x=x, pos=pos, pt=pt, p4=p4, y=torch.tensor([i % 2]), edge_index=knn_graph(pos, 8)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rtol", type=float, default=1e-3,
                        help="largest |device - cpu| allowed, relative to 1 + max |cpu| (float32 eval)")
    args = parser.parse_args()
    device = args.device
    data = jets()
    failed = []
    for name in sorted(n for n, (_, rep, _) in MODELS.items() if rep != "image"):
        torch.manual_seed(0)
        model = build_model(name, 7, 2)
        tr = Trainer(model, TrainConfig(epochs=1, batch_size=32, progress=False, verbose=False, device=device))
        tr.fit(data)
        b = Batch.from_data_list(data[:16])
        model.eval()
        with torch.no_grad():
            dev = model(b.to(device)).float().cpu()
            cpu = model.cpu()(b.cpu())
        diff = (dev - cpu).abs().max().item()
        ok = bool(torch.isfinite(dev).all()) and diff <= args.rtol * (1 + cpu.abs().max().item())
        if not ok:
            failed.append(name)
        print(f"{name:20s} amp-train ok, eval max |{device} - cpu| = {diff:.2e}  {'ok' if ok else 'MISMATCH'}",
              flush=True)
    print(f"gpu_smoke: {len(failed)} mismatches" + (f" ({', '.join(failed)})" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
