"""Run all benchmarks (the seven of issue #6, LorentzNet's of issue 14) in one command (``make bench``); JSON lines go to results/.

Quick defaults (a few minutes on a 2-core machine, one CPU thread per measurement); every
script takes flags for bigger runs (``--repeats``, sizes, ``--device cuda``).  ``--only NAME``
runs a subset; ``--device cuda`` is passed to the scripts that support it.  The large-sample
training (``large_sample.py``) and the GPU smoke test (``gpu_smoke.py``) are run by hand.

    python benchmarks/run_all.py [--only particlenet knn] [--device cpu] [--threads 1]
    python benchmarks/run_all.py --device cuda          # issue #17 plan (bench_gpu.py), < 8 min on an H100/H200
    python benchmarks/run_all.py --device cpu --tiny    # the same plan at smoke-test sizes
    bash benchmarks/device/run.sh                       # on the lent GPU machine (see benchmarks/README.md)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: name -> (script, extra arguments, takes --device/--threads/--out)
BENCHMARKS: dict[str, tuple[str, list[str], bool]] = {
    "particlenet": ("bench_particlenet.py", [], True),                 # 1
    "part": ("bench_part.py", [], True),                               # 2
    "knn": ("bench_knn.py", [], True),                                 # 3
    "grid_conv": ("bench_grid_conv.py", [], True),                     # 4
    "attention": ("bench_attention.py", [], True),                     # 5
    "graph_building": ("bench_graph_building.py", ["--k", "0"], False),  # 6a
    "graph_building_knn": ("bench_graph_building.py", ["--k", "16"], False),
    "streaming": ("bench_streaming.py", ["--small"], False),           # 6b, and issue #11 (training)
    "scaling": ("bench_scaling.py", [], True),                         # 7
    "lorentznet": ("bench_lorentznet.py", [], True),                   # issue 14
    "gpu": ("bench_gpu.py", [], True),                                 # issue 17 (the GPU plan)
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tiny", action="store_true",
                        help="issue #17 plan at smoke-test sizes (runs on a CPU in a few minutes)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON lines file (default results/bench_<date>.jsonl)")
    parser.add_argument("--deadline", type=float, default=None,
                        help="bench_gpu.py only: seconds after which no new measurement starts (n/a lines)")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    out = args.out or RESULTS / f"bench_{datetime.now(timezone.utc):%Y%m%d}.jsonl"
    status = 0
    # on a GPU (or with --tiny) the default is the issue #17 plan; the CPU default is every CPU benchmark
    plan = args.only or (["gpu"] if args.device.startswith("cuda") or args.tiny else
                         [n for n in BENCHMARKS if n != "gpu"])
    for name in plan:
        script, extra, common = BENCHMARKS[name]
        if name == "gpu" and args.tiny:
            extra = [*extra, "--tiny"]
        if name == "gpu" and args.deadline is not None:
            extra = [*extra, "--deadline", str(args.deadline)]
        cmd = [sys.executable, str(HERE / script), *extra, "--out", str(out), "--threads", str(args.threads)]
        if common:
            cmd += ["--device", args.device]
        print(f"== {name}: {script} {' '.join(extra)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"   ({time.perf_counter() - t0:.0f} s, exit {rc})", flush=True)
        status |= rc
    print(f"results appended to {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
