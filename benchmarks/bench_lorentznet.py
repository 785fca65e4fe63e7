"""LorentzNet training step and inference, jets/s, next to pgjets' ParticleNet in the same run.

LorentzNet at the paper's configuration (6 LGEB blocks, 72 channels, two beam particles per jet,
224k parameters) on the fully connected graph of the four-momenta; ParticleNet at the published
configuration (3 EdgeConv blocks, k = 16, 64/128/256 channels, 366k parameters).  Same batch:
``--batch-size`` real Pythia 8 jets of 20-150 constituents as one PyG ``Batch`` (building it is
not timed).  A training step is forward + cross-entropy + backward + AdamW step; inference is an
eval-mode forward under ``torch.no_grad``; ``--padded`` also times LorentzNet's padded inference
path (dense all-pairs messages, the ONNX/``torch.compile`` path).  The printed ratio is
ParticleNet time / LorentzNet time (> 1: LorentzNet is faster); there is no goal, the numbers
are for comparison.

    python benchmarks/bench_lorentznet.py --batch-size 128 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _jets import count_parameters, pgjets_batch, pick, real_jets  # noqa: E402
from _timing import add_model_arguments, compare, compare_train_and_inference, report, setup  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--padded", action="store_true", help="also time LorentzNet's padded inference path")
    add_model_arguments(parser)
    args = parser.parse_args()
    device = setup(args)

    from pgjets.models import LorentzNet, pad_batch, ParticleNet

    batch = pgjets_batch(pick(real_jets(), args.batch_size), device)
    torch.manual_seed(0)
    peer = ParticleNet(batch.x.size(1), 2).to(device)
    ours = LorentzNet(batch.x.size(1), 2).to(device)
    n_peer, n_ours = count_parameters(peer), count_parameters(ours)
    edges = int((torch.bincount(batch.batch) + 2).square().sum())
    print(f"{args.batch_size} jets, {batch.num_nodes} particles (mean {batch.num_nodes / args.batch_size:.1f}); "
          f"LorentzNet {edges:,} edges with beams; parameters ParticleNet {n_peer:,}, LorentzNet {n_ours:,}")
    common = {"batch_size": args.batch_size, "particles": int(batch.num_nodes), "params_peer": n_peer,
              "params_pgjets": n_ours, "peer": "pgjets ParticleNet (published)", "pgjets_model": "LorentzNet (paper)"}
    compare_train_and_inference("lorentznet_vs_particlenet", peer, ours, lambda: peer(batch), lambda: ours(batch),
                                batch.y.view(-1), args, common, device)
    if args.padded:
        ours.eval()
        inputs = pad_batch(batch, ours.padded_inputs)

        def graph() -> None:
            with torch.no_grad():
                ours(batch)

        def padded() -> None:
            with torch.no_grad():
                ours.forward_padded(*inputs)

        res = compare(graph, padded, args.repeats, args.warmup, device)
        report({"benchmark": "lorentznet_padded_vs_graph_inference", **common,
                "peer": "LorentzNet graph path", **res}, args.out, device, args.batch_size)


if __name__ == "__main__":
    main()
