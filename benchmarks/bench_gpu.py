"""Issue #17 plan: everything the GPU side-by-side asks for, in one script (``run_all.py --device cuda``).

1. ParticleNet and ParT training step and inference vs weaver-core at the published configurations,
   batch 256 and 512, fp32 and bf16 autocast on both sides (jets/s, ratio peer / pgjets);
   LorentzNet jets/s next to ParticleNet's (no weaver peer).
2. ``knn_graph(backend="torch")`` vs torch-cluster, 2-D and 64-D, 1 024 jets, k = 16; both checked
   against a float64 brute-force search (the share of particles whose neighbours are exactly right).
3. ``MultiHeadAttention`` (dense path) vs padded ``F.scaled_dot_product_attention`` restricted to
   the flash / memory-efficient kernels on CUDA.
4. Host-device synchronisations in one training step of ParticleNet and ParT (and LorentzNet)
   (``torch.cuda.set_sync_debug_mode('warn')``, warnings counted; CUDA only, else ``n/a``).
5. A profile of one fp32 training step of ParticleNet and ParT, pgjets and weaver side by side: kernel
   time against wall time, kernel launches, the top kernels and operators by CUDA time (the profile the
   issue asks for where a goal is missed, taken in the same run).
6. ``torch.compile`` of the training step: compile time (first steps) and steady-state speed-up.

Every piece degrades gracefully: a missing peer (weaver-core, torch-cluster), bf16 that the device
cannot run, or a CUDA-only measurement is written as a line with ``"status": "n/a"`` and a reason;
an exception in one piece is written as ``"status": "error"`` and the next piece runs.  With
``--deadline SECONDS`` no measurement starts after that time (``torch.compile`` needs
``--compile-need-s`` left): a run cut off by a time limit keeps every line it finished, and says what
it skipped.  ``benchmarks/device/run.sh`` runs this plan on a lent GPU machine (see the README).
``--tiny`` shrinks batches and repeats so that the whole plan runs on a CPU in a few minutes
(a smoke test, not a measurement).  Sizes are chosen to fit in ~8 minutes on an H100/H200.

    python benchmarks/bench_gpu.py --device cuda --out results/gpu.jsonl --deadline 480
    python benchmarks/bench_gpu.py --device cpu --tiny
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _timing import _sync, compare, compare_train_and_inference, machine, report, setup  # noqa: E402


def header(device: torch.device) -> dict[str, Any]:
    """Device name, torch and CUDA versions (printed and written as the first line)."""
    info = {"benchmark": "gpu_plan_header", "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    print(f"# device {info['device_name']} | torch {info['torch']} | CUDA {info['cuda']} | "
          f"cuDNN {info['cudnn']}", flush=True)
    return info


def write(rec: dict[str, Any], out: Path | None, device: torch.device) -> None:
    rec = {**rec, **machine(device)}
    print("  ", json.dumps({k: rec[k] for k in rec if k in ("benchmark", "status", "reason", "value")}), flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")


def na(name: str, reason: str, out, device, status: str = "n/a", **extra) -> None:
    reason = reason if len(reason) <= 400 else reason[:400] + " ..."
    write({"benchmark": name, "status": status, "reason": reason, **extra}, out, device)


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def bf16_ok(device: torch.device) -> str | None:
    """``None`` when bf16 autocast runs on ``device``, else the reason."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "bf16 not supported on this GPU"
    try:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            torch.nn.Linear(4, 4).to(device)(torch.ones(2, 4, device=device))
    except Exception as e:  # noqa: BLE001 - the reason goes into the record
        return f"bf16 autocast fails: {e}"
    return None


def unsupported(device: torch.device, precision: str) -> str | None:
    """``None`` when ``precision`` (``fp32`` or ``bf16``) runs on ``device``, else the reason."""
    return bf16_ok(device) if precision == "bf16" else None


def late(args, need: float = 0.0) -> str | None:
    """The reason to skip a measurement that needs about ``need`` seconds and would end after
    ``--deadline``, else ``None``."""
    if time.perf_counter() + need > args.t_end:
        return f"skipped: less than {need:.0f} s left before the plan's deadline ({args.deadline:.0f} s)"
    return None


def skipped(tag: str, out: Path | None, device: torch.device, *reasons: str | None) -> bool:
    """Write an ``n/a`` line for ``tag`` with the first reason that is not ``None``; ``True`` if there was one."""
    why = next((r for r in reasons if r), None)
    if why:
        na(tag, why, out, device)
    return why is not None


@contextlib.contextmanager
def recorded(tag: str, out: Path | None, device: torch.device):
    """Run one piece of the plan: an exception becomes an ``error`` line for ``tag``, the plan goes on."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the reason goes into the record
        traceback.print_exc(limit=2)
        na(tag, repr(e), out, device, status="error")


def have(module: str) -> str | None:
    try:
        __import__(module)
    except Exception as e:  # noqa: BLE001
        return f"{module} missing ({type(e).__name__})"
    return None


# ------------------------------------------------------------------ 1. models vs weaver
MODEL_PEERS = ("particlenet", "part")


def weaver_pair(name: str, bs: int, device: torch.device):
    """``(batch, peer, ours, peer_logits, common)`` of the ``name`` comparison on ``bs`` real jets:
    weaver's model called on its padded inputs, pgjets' on the PyG batch (``bench_<name>.py``'s models)."""
    import bench_part
    import bench_particlenet
    from _jets import weaver_comparison

    mod, seed = {"particlenet": (bench_particlenet, 0), "part": (bench_part, 4)}[name]
    batch, w, peer, ours, common = weaver_comparison(mod.build_models, bs, device, mod.GOAL, seed=seed)
    if name == "particlenet":
        def peer_logits() -> torch.Tensor:
            return peer(w["points"], w["features"], w["mask"])
    else:
        mask = w["mask"].bool()

        def peer_logits() -> torch.Tensor:
            return peer(w["features"], v=w["lorentz"], mask=mask)
    return batch, peer, ours, peer_logits, common


def models_vs_weaver(args, device, out) -> None:
    missing = have("weaver.nn.model.ParticleNet")
    for name in MODEL_PEERS:
        for bs in args.batch_sizes:
            for precision in args.precisions:
                tag = f"{name}_{precision}_b{bs}"
                if skipped(tag, out, device, late(args), missing, unsupported(device, precision)):
                    continue
                with recorded(tag, out, device):
                    batch, peer, ours, pl, common = weaver_pair(name, bs, device)
                    ol = lambda: ours(batch)  # noqa: E731
                    common = {**common, "precision": precision}
                    compare_train_and_inference(tag, peer, ours, pl, ol, batch.y.view(-1), args, common, device,
                                                context=lambda: autocast(device, precision))


def lorentznet(args, device, out) -> None:
    from _jets import pgjets_batch, pick, real_jets

    from pgjets.models import LorentzNet, ParticleNet

    for bs in args.batch_sizes:
        for precision in args.precisions:
            tag = f"lorentznet_vs_particlenet_{precision}_b{bs}"
            if skipped(tag, out, device, late(args), unsupported(device, precision)):
                continue
            with recorded(tag, out, device):
                batch = pgjets_batch(pick(real_jets(), bs), device)
                torch.manual_seed(0)
                peer = ParticleNet(batch.x.size(1), 2).to(device)
                ours = LorentzNet(batch.x.size(1), 2).to(device)
                common = {"batch_size": bs, "particles": int(batch.num_nodes), "precision": precision,
                          "peer": "pgjets ParticleNet (published)", "pgjets_model": "LorentzNet (paper)"}
                compare_train_and_inference(tag, peer, ours, lambda: peer(batch), lambda: ours(batch),
                                            batch.y.view(-1), args, common, device,
                                            context=lambda: autocast(device, precision))


# ------------------------------------------------------------------ 2. kNN
def brute_force_knn(x: torch.Tensor, k: int, batch: torch.Tensor) -> torch.Tensor:
    """The exact reference, on the CPU in float64: within each jet the ``k`` nearest other particles
    (edges ``(neighbour, centre)``, like ``knn_graph``'s default flow; jets must be contiguous)."""
    xd, counts = x.detach().cpu().double(), torch.bincount(batch.cpu())
    edges, start = [], 0
    for n in counts.tolist():
        d = torch.cdist(xd[start:start + n], xd[start:start + n])
        d.fill_diagonal_(float("inf"))
        nbr = d.topk(min(k, n - 1), dim=1, largest=False).indices + start
        centre = torch.arange(start, start + n).repeat_interleave(nbr.size(1))
        edges.append(torch.stack([nbr.reshape(-1), centre]))
        start += n
    return torch.cat(edges, 1)


def knn(args, device, out) -> None:
    from _jets import features, pick, real_jets
    from bench_knn import GOAL, coordinates, same_neighbourhoods

    from pgjets.ops import knn_graph

    missing = have("torch_cluster")
    f = features(pick(real_jets(), args.knn_jets, seed=1))
    batch = f["batch"].to(device)
    for dim, x in coordinates(f, (2, 64)):
        tag = f"knn_{dim}d_{args.knn_jets}jets"
        x = x.to(device)
        if skipped(tag, out, device, late(args), missing):
            continue
        import torch_cluster
        with recorded(tag, out, device):
            # backend="torch": pgjets' own kNN (the default, "auto", hands 2-D to torch-cluster itself)
            ref = brute_force_knn(x, 16, batch).cpu()
            peer = torch_cluster.knn_graph(x, 16, batch, loop=False).cpu()
            got = knn_graph(x, 16, batch, loop=False, backend="torch").cpu()
            n = x.size(0)
            exact = {"pgjets": same_neighbourhoods(ref, got, n), "torch_cluster": same_neighbourhoods(ref, peer, n)}
            res = compare(lambda: torch_cluster.knn_graph(x, 16, batch, loop=False),
                          lambda: knn_graph(x, 16, batch, loop=False, backend="torch"),
                          args.repeats * 3, args.warmup, device)
            report({"benchmark": tag, "jets": args.knn_jets, "nodes": n, "dim": dim, "k": 16,
                    "same_neighbourhoods": same_neighbourhoods(peer, got, n),
                    "exact_fraction": exact, "exact": exact["pgjets"] == 1.0,
                    "reference": "float64 brute force (cdist + topk)", "goal": GOAL, "peer": "torch-cluster",
                    **res}, out, device, args.knn_jets)


# ------------------------------------------------------------------ 3. attention
def attention(args, device, out) -> None:
    from bench_attention import GOAL, attention_inputs, padded_attention

    jets = args.batch_sizes[0]
    x, batch, mha, xd, _, key_mask = attention_inputs(jets, 128, 8, device)
    kernels: Any = contextlib.nullcontext()
    kernel_names = "default"
    if device.type == "cuda":
        from torch.nn.attention import SDPBackend, sdpa_kernel
        # flash takes no arbitrary mask: with a key mask SDPA picks memory-efficient; flash is allowed
        kernels = sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION])
        kernel_names = "flash+efficient"
    for precision in args.precisions:
        tag = f"attention_{precision}"
        if skipped(tag, out, device, late(args), unsupported(device, precision)):
            continue
        with recorded(tag, out, device):
            def fwd(fn):
                def run():
                    with torch.no_grad(), autocast(device, precision), kernels:
                        fn()
                return run
            res = compare(fwd(lambda: padded_attention(mha, xd, key_mask)),
                          fwd(lambda: mha(x, batch=batch, dense=True)), args.repeats * 3, args.warmup, device)
            report({"benchmark": f"{tag}_forward", "jets": jets, "particles": int(x.size(0)), "channels": 128,
                    "heads": 8, "precision": precision, "sdpa_kernels": kernel_names, "goal": GOAL,
                    "peer": "padded F.scaled_dot_product_attention", **res}, out, device, jets)


# ------------------------------------------------------------------ 4. host syncs
def one_step(model, batch, target):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(batch), target).backward()
        opt.step()
    return step


def pgjets_model(name: str, bs: int, device):
    """A batch of ``bs`` real jets and pgjets' ``name`` model on ``device``: ``"particlenet"`` or
    ``"part"`` at the published sizes, ``"lorentznet"`` at the paper's."""
    import bench_particlenet
    from _jets import pgjets_batch, pick, real_jets

    from pgjets.models import LorentzNet, ParticleTransformer, ParticleNet

    batch = pgjets_batch(pick(real_jets(), bs), device)
    nf = batch.x.size(1)
    torch.manual_seed(0)
    if name == "particlenet":
        model = ParticleNet(nf, 2, blocks=[(k, c) for k, c in bench_particlenet.CONV], fc=bench_particlenet.FC,
                            input_norm=True)
    elif name == "part":
        model = ParticleTransformer(nf, 2, embed_dims=(128, 512, 128), pair_embed_dims=(64, 64, 64), heads=8,
                                    num_layers=8, num_cls_layers=2, dropout=0.1)
    else:
        model = LorentzNet(nf, 2)
    return batch, model.to(device)


def host_syncs(args, device, out) -> None:
    for name in ("particlenet", "part", "lorentznet"):  # the goal is about the first two
        tag = f"host_syncs_{name}_train_step"
        cpu = "torch.cuda.set_sync_debug_mode needs CUDA" if device.type != "cuda" else None
        if skipped(tag, out, device, late(args), cpu):
            continue
        with recorded(tag, out, device):
            batch, model = pgjets_model(name, args.batch_sizes[0], device)
            step = one_step(model, batch, batch.y.view(-1))
            step()  # warm-up: lazy initialisation is not counted
            torch.cuda.synchronize()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
                try:
                    step()
                finally:
                    torch.cuda.set_sync_debug_mode("default")
            syncs = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message)]
            where = [f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)]
            # the kNN: pgjets' own search and torch-cluster's, which pgjets calls in 2-D
            knn_files = ("ops/knn.py:", "torch_cluster/")
            outside = [w for w in where if not any(k in w.replace("\\", "/") for k in knn_files)]
            write({"benchmark": tag, "status": "ok", "value": len(syncs), "outside_knn": len(outside),
                   "met": not outside, "batch_size": args.batch_sizes[0], "sync_sites": where,
                   "messages": syncs[:20], "goal": "0 outside the kNN"}, out, device)


# ------------------------------------------------------------------ 5. profile (where a goal is missed)
def kernel_table(prof, steps: int, top: int, on_cuda: bool) -> dict[str, Any]:
    """Per step: the time the kernels take, how many there are, the ``top`` kernels and the ``top``
    operators by self time.  On CUDA the kernels are the profile's device rows (as the total of
    ``key_averages().table()`` counts them) and operators are ranked by the device time of the kernels they
    launch; on a CPU both are the operators, by self CPU time."""
    from torch.autograd import DeviceType

    def us(e) -> float:  # the attribute was called self_cuda_time_total before torch 2.4
        if on_cuda:
            return float(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0)))
        return float(e.self_cpu_time_total)

    events = list(prof.key_averages())
    ops = [e for e in events if e.device_type == DeviceType.CPU]
    kernels = ([e for e in events if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)]
               if on_cuda else ops)

    def rows(es: list) -> list[dict[str, Any]]:
        return [{"name": e.key[:120], "ms_per_step": round(us(e) / 1e3 / steps, 4), "calls_per_step": e.count / steps}
                for e in sorted(es, key=us, reverse=True)[:top]]

    return {"kernel_s_per_step": sum(us(e) for e in kernels) / 1e6 / steps,
            "kernels_per_step": sum(e.count for e in kernels) / steps,
            "top_kernels": rows(kernels), "top_operators": rows(ops)}


def profile(args, device, out) -> None:
    """Top operators by device time of one fp32 training step, pgjets and weaver side by side, and how
    much of the wall time the kernels fill (a step far longer than its kernels is launch-bound)."""
    from _timing import train_step_fns
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    missing = have("weaver.nn.model.ParticleNet")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    bs, steps = args.batch_sizes[0], 3
    for name in MODEL_PEERS:
        tag = f"profile_{name}_fp32_b{bs}_train_step"
        if skipped(tag, out, device, late(args), missing):
            continue
        with recorded(tag, out, device):
            batch, peer, ours, pl, _ = weaver_pair(name, bs, device)
            sides = dict(zip(("weaver", "pgjets"), train_step_fns(peer, ours, pl, lambda: ours(batch),
                                                                   batch.y.view(-1))))
            rec: dict[str, Any] = {"benchmark": tag, "status": "ok", "batch_size": bs, "steps": steps}
            for side, step in sides.items():
                for _ in range(2):
                    step()
                _sync(device)
                with torch_profile(activities=activities) as prof:
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        step()
                    _sync(device)
                    wall = (time.perf_counter() - t0) / steps
                table = kernel_table(prof, steps, args.profile_top, device.type == "cuda")
                rec[side] = {"wall_s_per_step_profiled": wall, "kernel_fill": table["kernel_s_per_step"] / wall,
                             **table}
                unit = "launches" if device.type == "cuda" else "op calls"
                top3 = ", ".join(f"{r['name'][:40]} {r['ms_per_step']:.2f}" for r in table["top_kernels"][:3])
                print(f"   {side:7s} {wall * 1e3:8.2f} ms/step (profiled), kernels "
                      f"{table['kernel_s_per_step'] * 1e3:8.2f} ms in {table['kernels_per_step']:.0f} {unit}; "
                      f"top: {top3}",
                      flush=True)
            write(rec, out, device)


# ------------------------------------------------------------------ 6. torch.compile
def compiled(args, device, out) -> None:
    for name in args.compile_models:
        tag = f"compile_{name}_train_step"
        if skipped(tag, out, device, late(args, need=args.compile_need_s)):
            continue
        with recorded(tag, out, device):
            batch, eager = pgjets_model(name, args.batch_sizes[0], device)
            torch._dynamo.reset()
            comp = torch.compile(eager)
            target = batch.y.view(-1)
            s_eager, s_comp = one_step(eager, batch, target), one_step(comp, batch, target)
            t0 = time.perf_counter()
            for _ in range(2):  # the first calls compile (training graph, then any recompile)
                s_comp()
            _sync(device)
            compile_s = time.perf_counter() - t0
            res = compare(s_eager, s_comp, args.repeats, args.warmup, device)
            report({"benchmark": tag, "batch_size": args.batch_sizes[0], "compile_s": compile_s,
                    "peer": "pgjets eager", "note": "ratio = eager / compiled (speed-up)", **res},
                   out, device, args.batch_sizes[0])


PLAN: dict[str, Callable] = {"models": models_vs_weaver, "lorentznet": lorentznet, "knn": knn,
                             "attention": attention, "host_syncs": host_syncs, "profile": profile,
                             "compile": compiled}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="CPU smoke sizes (batch 8, 1 repeat, 64 kNN jets)")
    parser.add_argument("--only", nargs="+", choices=list(PLAN), default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds from the start: measurements that would begin later are written as n/a")
    parser.add_argument("--profile-top", type=int, default=15, help="operators listed per profiled step")
    parser.add_argument("--compile-need-s", type=float, default=120.0,
                        help="seconds a torch.compile measurement needs; started only when that much is left")
    args = parser.parse_args(argv)
    args.t_end = time.perf_counter() + (args.deadline if args.deadline is not None else float("inf"))
    device = setup(args)
    args.mode = "both"  # compare_train_and_inference: training step and inference
    if args.tiny:
        args.batch_sizes, args.precisions, args.repeats, args.warmup = [8], ["fp32", "bf16"], 1, 1
        args.knn_jets, args.compile_models = 64, ["particlenet"]
    else:
        args.batch_sizes, args.precisions, args.repeats, args.warmup = [256, 512], ["fp32", "bf16"], 10, 3
        args.knn_jets, args.compile_models = 1024, ["particlenet", "part"]
    write({**header(device), "tiny": args.tiny}, args.out, device)
    t_all = time.perf_counter()
    for name in args.only or list(PLAN):
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        PLAN[name](args, device, args.out)
        print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"plan done in {time.perf_counter() - t_all:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
