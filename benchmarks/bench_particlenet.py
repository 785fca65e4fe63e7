"""ParticleNet training step and inference, jets/s: pgjets vs ``weaver.nn.model.ParticleNet``.

Same configuration on both sides: 3 EdgeConv blocks, k = 16, channels 64/128/256, one FC layer
of 256 (dropout 0.1), input batch norm, mean pooling over the real particles, no fusion
(weaver's ``use_fusion=False``; pgjets has none), 13 input features, 2 classes.  Same batch: 128
real Pythia 8 jets of 20-150 constituents, as a PyG ``Batch`` for pgjets and padded to the longest
jet for weaver (points, features, mask).  Building the inputs is not timed.  A training step is
forward + cross-entropy + backward + AdamW step; inference is a forward under ``torch.no_grad``
in eval mode.  weaver's ``SequenceTrimmer`` (on by default) trims the padding of training batches
to a random 90-100 % quantile of the jet lengths after 5 warm-up steps; it is put in that steady
state before timing.  Goal: >= 1.5x weaver on CPU for both.

    python benchmarks/bench_particlenet.py --batch-size 128 --repeats 10 --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _jets import weaver_comparison  # noqa: E402
from _timing import add_model_arguments, compare_train_and_inference, setup  # noqa: E402

GOAL = 1.5
CONV = [(16, (64, 64, 64)), (16, (128, 128, 128)), (16, (256, 256, 256))]
FC = [(256, 0.1)]


def build_models(num_features: int, device: torch.device, conv=CONV, fc=FC):
    """``(weaver ParticleNet, pgjets ParticleNet)`` at the same configuration (default: published)."""
    from weaver.nn.model.ParticleNet import ParticleNet as WeaverParticleNet

    from pgjets.models import ParticleNet

    torch.manual_seed(0)
    peer = WeaverParticleNet(num_features, 2, conv_params=list(conv), fc_params=list(fc), use_fusion=False,
                             use_fts_bn=True, use_counts=True).to(device)
    ours = ParticleNet(num_features, 2, blocks=[(k, c) for k, c in conv], fc=fc, input_norm=True).to(device)
    return peer, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    args = parser.parse_args()
    device = setup(args)

    batch, w, peer, ours, common = weaver_comparison(build_models, args.batch_size, device, GOAL)
    compare_train_and_inference("particlenet", peer, ours, lambda: peer(w["points"], w["features"], w["mask"]),
                                lambda: ours(batch), batch.y, args, common, device)

if __name__ == "__main__":
    main()
