"""Attention on fully connected jet graphs: pgjets ``MultiHeadAttention(dense=True)`` vs padded SDPA.

The peer is what one writes by hand on padded tensors: Q/K/V projections of a ``(B, N, C)``
block, ``F.scaled_dot_product_attention`` with a key-padding mask and the output projection;
it shares the very same ``nn.Linear`` modules with the pgjets layer.  pgjets gets the flat
``(P, C)`` node features and ``batch`` of the same 128 real jets (20-150 constituents), pads
internally and returns the flat ``(P, C)`` output; the peer's padding is done once outside the
timing.  Outputs agree on the real particles (checked).  Timed: a forward pass (no grad) and a
forward + backward pass.  Goal: >= 0.9x.

    python benchmarks/bench_attention.py --jets 128 --channels 128 --heads 8
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor  # noqa: E402

from _jets import features, pick, real_jets  # noqa: E402
from _timing import add_common_arguments, compare, report, setup  # noqa: E402

GOAL = 0.9


def padded_attention(mha, xd: Tensor, key_mask: Tensor) -> Tensor:
    """Self-attention of a padded ``(B, N, C)`` block with a ``(B, 1, 1, N)`` boolean key mask."""
    B, N, C = xd.shape
    H, D = mha.heads, mha.head_dim
    q = mha.lin_q(xd).view(B, N, H, D).transpose(1, 2)
    k = mha.lin_k(xd).view(B, N, H, D).transpose(1, 2)
    v = mha.lin_v(xd).view(B, N, H, D).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
    return mha.lin_out(out.transpose(1, 2).reshape(B, N, C))


def attention_inputs(jets: int, channels: int, heads: int, device: torch.device):
    """``(x, batch, mha, xd, node_mask, key_mask)``: ``jets`` real jets embedded to ``channels``
    features (a seeded random linear map), the layer, and the padded block with its masks."""
    from torch_geometric.utils import to_dense_batch

    from pgjets.nn import MultiHeadAttention

    f = features(pick(real_jets(), jets, seed=2))
    batch = f["batch"].to(device)
    torch.manual_seed(0)
    embed = torch.nn.Linear(f["x"].size(1), channels)
    with torch.no_grad():
        x = embed(f["x"]).to(device)
    mha = MultiHeadAttention(channels, heads=heads).to(device).eval()
    xd, node_mask = to_dense_batch(x, batch)
    return x, batch, mha, xd, node_mask, node_mask[:, None, None, :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=128)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--heads", type=int, default=8)
    add_common_arguments(parser, repeats=40, warmup=3)
    args = parser.parse_args()
    device = setup(args)
    x, batch, mha, xd, node_mask, key_mask = attention_inputs(args.jets, args.channels, args.heads, device)

    with torch.no_grad():
        ours = mha(x, batch=batch, dense=True)
        peer = padded_attention(mha, xd, key_mask)[node_mask]
    err = float((ours - peer).abs().max())
    if err > 1e-4:
        raise SystemExit(f"outputs differ by {err:.2e}")
    common = {"jets": args.jets, "particles": int(x.size(0)), "padded_to": int(xd.size(1)),
              "channels": args.channels, "heads": args.heads, "max_abs_diff": err, "goal": GOAL,
              "peer": "padded F.scaled_dot_product_attention"}

    def fwd_peer() -> None:
        with torch.no_grad():
            padded_attention(mha, xd, key_mask)

    def fwd_ours() -> None:
        with torch.no_grad():
            mha(x, batch=batch, dense=True)

    res = compare(fwd_peer, fwd_ours, args.repeats, args.warmup, device)
    report({"benchmark": "attention_forward", **common, **res}, args.out, device, args.jets)

    xg = x.clone().requires_grad_(True)
    xdg = xd.clone().requires_grad_(True)

    def train_peer() -> None:
        padded_attention(mha, xdg, key_mask)[node_mask].sum().backward()

    def train_ours() -> None:
        mha(xg, batch=batch, dense=True).sum().backward()

    res = compare(train_peer, train_ours, args.repeats, args.warmup, device)
    report({"benchmark": "attention_forward_backward", **common, **res}, args.out, device, args.jets)


if __name__ == "__main__":
    main()
