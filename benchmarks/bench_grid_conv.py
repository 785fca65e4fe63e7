"""GridConv vs ``nn.Conv2d`` (3x3, padding "same") on batches of 20x20 and 40x40 jet images.

Images: preprocessed jet images of real Pythia 8 jets (:func:`pgjets.data.jet_image.jet_image`),
one intensity channel, lifted to ``--channels`` feature channels by a fixed random per-channel
scale (zero stays zero), so the layer is a ``channels -> channels`` hidden layer.  Two cases:

- ``full``: every pixel is a node (``images_to_batch(drop_zeros=False)``); GridConv is called
  with ``grid_size=(H, W)`` and takes its dense fast path (one ``conv2d``).
- ``full_message_passing``: the same full grids without ``grid_size`` (the general
  message-passing path; shown for reference, the goal applies to ``full`` and ``sparse``).
- ``sparse``: only the non-zero pixels are nodes (``drop_zeros=True``, the natural graph of a
  jet image); GridConv runs as message passing over the kept pixels, Conv2d over all pixels.

The peer is ``nn.Conv2d`` on the ``(B, C, H, W)`` block; the GridConv has the same weights and its
output equals the Conv2d output at every node (checked).  Building graphs/images is not timed.
Goal: >= 0.5x.

    python benchmarks/bench_grid_conv.py --images 128 --npix 20 40 --channels 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # oracles.py: the tests' references

import torch  # noqa: E402

from _jets import pick, real_jets  # noqa: E402
from _timing import add_common_arguments, compare, report, setup  # noqa: E402

GOAL = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--npix", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--channels", type=int, default=16)
    add_common_arguments(parser, repeats=20, warmup=3)
    args = parser.parse_args()
    device = setup(args)
    from pgjets.data import jet_image
    from pgjets.graphs import images_to_batch
    from oracles import conv2d_reference
    from pgjets.nn import GridConv

    table = pick(real_jets(), args.images, seed=3)
    gen = torch.Generator().manual_seed(0)
    scale = torch.rand(1, args.channels, 1, 1, generator=gen) + 0.5
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(args.channels, args.channels, 3, padding="same").to(device).eval()
    gconv = GridConv.from_conv2d(conv).eval()
    for npix in args.npix:
        imgs = (jet_image(table, npix=npix) * scale).to(device)  # (B, C, H, W)
        occupancy = float((imgs[:, 0] != 0).float().mean())
        for case in ("full", "full_message_passing", "sparse"):
            g = images_to_batch(imgs, connectivity=8, drop_zeros=case == "sparse").to(device)
            grid = (npix, npix) if case == "full" else None
            with torch.no_grad():
                out = gconv(g.x, g.edge_index, g.edge_attr, grid_size=grid)
                ref = conv2d_reference(conv, imgs, g.pos, g.batch)
            err = float((out - ref).abs().max())
            if err > 1e-4:
                raise SystemExit(f"GridConv differs from Conv2d by {err:.2e} ({case}, {npix}x{npix})")

            def peer() -> None:
                with torch.no_grad():
                    conv(imgs)

            def ours() -> None:
                with torch.no_grad():
                    gconv(g.x, g.edge_index, g.edge_attr, grid_size=grid)

            res = compare(peer, ours, args.repeats, args.warmup, device)
            report({"benchmark": f"grid_conv_{npix}x{npix}_{case}", "images": args.images, "npix": npix,
                    "channels": args.channels, "nodes": int(g.num_nodes), "edges": int(g.edge_index.size(1)),
                    "occupancy": occupancy, "max_abs_diff": err, "peer": "nn.Conv2d", **res,
                    **({} if case == "full_message_passing" else {"goal": GOAL})},
                   args.out, device, args.images, unit="images")


if __name__ == "__main__":
    main()
