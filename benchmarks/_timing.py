"""Shared timing helpers for the benchmark scripts (not part of the package, not a test).

Every comparison runs the peer and pgjets in the same process, on the same
inputs, after a warm-up, alternating call by call (``peer, pgjets, peer,
pgjets, ...``) so that the noise of a shared machine hits both alike.  The
result is the median time of each and the ratio ``peer / pgjets`` (> 1: pgjets
is faster).  Results are printed for humans and appended as one JSON line each.

On Linux CPUs glibc's malloc is told to keep freed memory (:func:`keep_freed_memory`,
``--default-malloc`` to opt out): with its defaults, every block above the mmap threshold (at
most 32 MiB: the attention matrices, the kNN blocks) is mapped on allocation and unmapped on
free, so a training step spends much of its time in page faults, and how much depends on what
the other side freed just before (the alternation couples the two): weaver's ParT step took
6.4-7.4 s next to pgjets of one version and 12.8-14.6 s next to the one before.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = HERE / ".cache"


def add_common_arguments(parser: argparse.ArgumentParser, repeats: int = 10, warmup: int = 2) -> argparse.ArgumentParser:
    """Flags shared by the comparison scripts: device, threads, repeats, warm-up, output file."""
    parser.add_argument("--device", default="cpu", help="cpu or cuda (GPU numbers are taken by hand)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = one core)")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed calls per side (alternating)")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed calls per side first")
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines to this file")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc as it is (default: keep freed memory, see _timing.py)")
    return parser


#: How this process's malloc was set (``"kept"``: :func:`keep_freed_memory`), recorded in every JSON line.
MALLOC = "default"


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to serve every block from its heaps (no mmap) and never trim them.

    Freed tensors are then reused without page faults, on both sides of a comparison alike.
    Returns whether it applied (glibc only).
    """
    global MALLOC
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    if libc.mallopt(m_mmap_max, 0) and libc.mallopt(m_trim_threshold, 1 << 30):
        MALLOC = "kept"
        return True
    return False


def setup(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads`` (and, on the CPU, :func:`keep_freed_memory`); return the ``--device``."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but no GPU is visible")
    if device.type == "cpu" and not getattr(args, "default_malloc", False):
        keep_freed_memory()
    return device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare(
    peer: Callable[[], Any],
    ours: Callable[[], Any],
    repeats: int = 10,
    warmup: int = 2,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Time ``peer()`` and ``ours()`` alternately; return medians (s) and ``ratio = peer / ours``.

    Args:
        peer: The reference implementation, called without arguments.
        ours: The pgjets implementation, called without arguments.
        repeats: Timed calls of each.
        warmup: Untimed calls of each first (allocator, lazy imports, caches).
        device: Synchronised before and after each call when CUDA.
    """
    device = torch.device(device)
    for _ in range(warmup):
        peer()
        ours()
    t_peer: list[float] = []
    t_ours: list[float] = []
    for i in range(repeats):
        # alternate who goes first as well, so neither always follows the other
        order = ((peer, t_peer), (ours, t_ours)) if i % 2 == 0 else ((ours, t_ours), (peer, t_peer))
        for fn, times in order:
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - t0)
    mp, mo = statistics.median(t_peer), statistics.median(t_ours)
    return {
        "peer_s": mp,
        "pgjets_s": mo,
        "ratio": mp / mo,
        "peer_s_all": [round(t, 6) for t in t_peer],
        "pgjets_s_all": [round(t, 6) for t in t_ours],
        "repeats": repeats,
        "warmup": warmup,
    }


def machine(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Date, host, torch version and thread count, for the JSON lines."""
    device = torch.device(device)
    info = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "malloc": MALLOC,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def report(result: dict[str, Any], out: Optional[Path], device: torch.device | str = "cpu",
           unit_items: Optional[int] = None, unit: str = "jets") -> dict[str, Any]:
    """Print a human line and write one JSON line (to ``out`` when given).

    ``unit_items`` turns the medians into throughputs (``unit`` per second).
    """
    rec = {**result, **machine(device)}
    if unit_items is not None:
        rec[f"peer_{unit}_per_s"] = unit_items / rec["peer_s"]
        rec[f"pgjets_{unit}_per_s"] = unit_items / rec["pgjets_s"]
    goal = rec.get("goal")
    met = "" if goal is None else ("  goal >= %.2fx: %s" % (goal, "met" if rec["ratio"] >= goal else "MISSED"))
    if goal is not None:
        rec["met"] = bool(rec["ratio"] >= goal)
    tp = ""
    if unit_items is not None:
        tp = f"  ({rec[f'peer_{unit}_per_s']:,.0f} vs {rec[f'pgjets_{unit}_per_s']:,.0f} {unit}/s)"
    print(f"{rec['benchmark']:<34} peer {rec['peer_s'] * 1e3:9.2f} ms  pgjets {rec['pgjets_s'] * 1e3:9.2f} ms  "
          f"ratio {rec['ratio']:5.2f}x{tp}{met}", flush=True)
    line = json.dumps(rec)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as f:
            f.write(line + "\n")
    return rec


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (``ru_maxrss``)."""
    import resource
    import sys

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024**2 if sys.platform == "darwin" else r / 1024


__all__ = ["add_common_arguments", "setup", "compare", "machine", "report", "peak_rss_mb", "RESULTS", "CACHE"]


def train_step_fns(peer: torch.nn.Module, ours: torch.nn.Module, peer_logits: Callable[[], torch.Tensor],
                   ours_logits: Callable[[], torch.Tensor], target: torch.Tensor,
                   lr: float = 1e-3) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(step_peer, step_ours)``: forward + cross-entropy + backward + AdamW step of each model.

    ``peer_logits`` / ``ours_logits`` run the forward pass on each side's own input form.
    Both models are put in training mode.
    """
    def make(model: torch.nn.Module, logits: Callable[[], torch.Tensor]) -> Callable[[], None]:
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
        model.train()

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(logits(), target).backward()
            opt.step()

        return step

    return make(peer, peer_logits), make(ours, ours_logits)


def add_model_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags of the model comparisons (:func:`compare_train_and_inference`): ``--batch-size``,
    ``--mode`` and the common ones (3 repeats, 1 warm-up call)."""
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--mode", choices=["both", "train", "infer"], default="both")
    return add_common_arguments(parser, repeats=3, warmup=1)


def compare_train_and_inference(name: str, peer: torch.nn.Module, ours: torch.nn.Module,
                                peer_logits: Callable[[], torch.Tensor], ours_logits: Callable[[], torch.Tensor],
                                target: torch.Tensor, args: argparse.Namespace, common: dict[str, Any],
                                device: torch.device,
                                context: Callable[[], ContextManager[Any]] = contextlib.nullcontext) -> None:
    """Time training steps and/or inference (``args.mode``) of both models and report each.

    Writes the results ``{name}_train_step`` and ``{name}_inference``; inference is an eval-mode
    forward under ``torch.no_grad``.  Both forward passes run inside ``context()`` (e.g. a bf16
    autocast); the training loss is taken on the logits cast to float32.
    """
    n = common["batch_size"]
    if args.mode in ("both", "train"):
        def logits(fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
            def run() -> torch.Tensor:
                with context():
                    return fn().float()
            return run

        steps = train_step_fns(peer, ours, logits(peer_logits), logits(ours_logits), target)
        res = compare(*steps, args.repeats, args.warmup, device)
        report({"benchmark": f"{name}_train_step", **common, **res}, args.out, device, n)
    if args.mode in ("both", "infer"):
        peer.eval()
        ours.eval()

        def no_grad(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
            def run() -> None:
                with context(), torch.no_grad():
                    fn()
            return run

        res = compare(no_grad(peer_logits), no_grad(ours_logits), args.repeats, args.warmup, device)
        report({"benchmark": f"{name}_inference", **common, **res}, args.out, device, n)
