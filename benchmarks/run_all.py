"""Run the CPU benchmarks in one command (``make bench``); results go to benchmarks/results/.

GPU and large-sample scripts (``gpu_smoke.py``, ``large_sample.py``) are run by hand on a machine
that has a GPU.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = str(HERE / "results" / "graph_building.jsonl")
SCRIPTS = [
    ["bench_graph_building.py", "--k", "16", "--out", OUT],
    ["bench_graph_building.py", "--k", "0", "--out", OUT],
]


def main() -> int:
    (HERE / "results").mkdir(exist_ok=True)
    status = 0
    for script, *args in SCRIPTS:
        print(f"== {script}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / script), *args])
    return status


if __name__ == "__main__":
    sys.exit(main())
