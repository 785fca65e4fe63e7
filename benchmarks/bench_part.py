"""ParT training step and inference, jets/s: pgjets vs ``weaver.nn.model.ParticleTransformer``.

Same size on both sides (the published ParT): particle embedding (128, 512, 128), pair embedding
(64, 64, 64) of the 4 pair features (ln Delta, ln kT, ln z, ln m^2), 8 heads, 8 particle-attention
blocks, 2 class-attention blocks, 13 input features, 2 classes.  Same batch: ``--batch-size`` real
Pythia 8 jets of 20-150 constituents, a PyG ``Batch`` (``x``, ``p4``) for pgjets, padded
``(B, C, P)`` features, four-vectors ``(px, py, pz, E)`` and mask for weaver (padded to the
longest jet; weaver trims to it anyway).  Building the inputs is not timed.  A training step is
forward + cross-entropy + backward + AdamW step; inference a forward under ``torch.no_grad`` in
eval mode.  Goal: >= 1.0x weaver.

    python benchmarks/bench_part.py --batch-size 128 --repeats 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _jets import weaver_comparison  # noqa: E402
from _timing import add_model_arguments, compare_train_and_inference, setup  # noqa: E402

GOAL = 1.0


def build_models(num_features: int, device: torch.device):
    """``(weaver ParT, pgjets ParT)`` at the published size."""
    from weaver.nn.model.ParticleTransformer import ParticleTransformer as WeaverParT

    from pgjets.models import ParticleTransformer

    torch.manual_seed(0)
    peer = WeaverParT(num_features, num_classes=2, pair_input_dim=4, embed_dims=[128, 512, 128],
                      pair_embed_dims=[64, 64, 64], num_heads=8, num_layers=8, num_cls_layers=2,
                      fc_params=[]).to(device)
    ours = ParticleTransformer(num_features, 2, embed_dims=(128, 512, 128), pair_embed_dims=(64, 64, 64),
                               heads=8, num_layers=8, num_cls_layers=2, dropout=0.1).to(device)
    return peer, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    args = parser.parse_args()
    device = setup(args)

    batch, w, peer, ours, common = weaver_comparison(build_models, args.batch_size, device, GOAL, seed=4)
    mask = w["mask"].bool()
    compare_train_and_inference("part", peer, ours, lambda: peer(w["features"], v=w["lorentz"], mask=mask),
                                lambda: ours(batch), batch.y, args, common, device)


if __name__ == "__main__":
    main()
