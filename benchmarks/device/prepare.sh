#!/usr/bin/env bash
# Issue 17, step 1 of 2, run HERE (a machine with PyPI): fill .device/ (gitignored) with what the GPU
# machine lacks and cannot download -- the weaver-core wheel and the torch-cluster source -- and make sure
# the benchmark jets (benchmarks/.cache/jets, Pythia 8 + FastJet, ~1 MB) exist.  Step 2 is run.sh, there.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
mkdir -p .device
"$PY" -m pip download -q --no-deps -d .device weaver-core==0.5.3
# the source, not a wheel: it is built on the GPU machine against that machine's torch and CUDA
"$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d .device torch-cluster==1.6.3
"$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); from _jets import real_jets; print(len(real_jets()), 'jets cached')"
du -sh .device benchmarks/.cache
echo "now: run.sh on the GPU machine, carrying .device and benchmarks/.cache (see benchmarks/README.md)"
