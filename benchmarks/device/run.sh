#!/usr/bin/env bash
# Issue 17, step 2 of 2, run ON THE GPU MACHINE from the repository root: install the carried peers,
# build torch-cluster for that GPU, then run the whole plan (bench_gpu.py) within a time budget.
#
#   bash benchmarks/device/run.sh                        # CUDA, results under $OUT
#   DEVICE=cpu TINY=1 PYTHON=... bash benchmarks/device/run.sh   # the same steps as a CPU smoke run
#
# The machine has torch, torch-geometric, numpy, scipy, h5py, ... but neither weaver-core nor torch-cluster
# and no network: prepare.sh (run where PyPI is reachable) put them into .device/.  pgjets runs from src/.
# Everything the run writes goes to $OUT: gpu.jsonl (one JSON line per figure), log.txt, the build log,
# nvidia-smi's report and, on CUDA, the output of the CUDA-only tests and of gpu_smoke.py.  BUDGET
# (seconds, whole script) less the setup time and CHECKS_S (kept for those CUDA checks at the end) is
# bench_gpu.py's deadline: pieces that would start too late are written as "n/a" lines instead of being
# cut off mid-way.
set -uo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
OUT=${OUT:-/tmp/pgjets_gpu_out}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-540}
CHECKS_S=${CHECKS_S:-90}
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/pgjets_site}
TC=/tmp/pgjets_torch_cluster
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
{ nvidia-smi || true; } > "$OUT/nvidia-smi.txt" 2>&1

ls .device/weaver_core-*.whl .device/torch_cluster-*.tar.gz benchmarks/.cache/jets/manifest.json >/dev/null \
  || { echo "missing carried files: run benchmarks/device/prepare.sh here and carry .device and benchmarks/.cache"; exit 2; }
"$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" .device/weaver_core-*.whl

# torch-cluster: its setup.py builds one extension per operation without ninja; `build_ext -j` builds the
# nine of them side by side.  Only the CUDA variants on a GPU (they hold the CPU kernels as well), for
# this GPU's architecture only.
rm -rf "$TC" && mkdir -p "$TC" && tar xzf .device/torch_cluster-*.tar.gz -C "$TC" --strip-components 1
if [ "$DEVICE" = cuda ]; then
  export FORCE_ONLY_CUDA=1
  # torch finds CUDA through CUDA_HOME, nvcc on PATH or /usr/local/cuda; look further if none of those
  if [ -z "${CUDA_HOME:-}" ] && ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    nvcc_path=$(find /usr/local /opt -path '*/bin/nvcc' -type f 2>/dev/null | head -n 1)
    [ -n "$nvcc_path" ] && export CUDA_HOME=$(dirname "$(dirname "$nvcc_path")")
  fi
  echo "CUDA_HOME=${CUDA_HOME:-unset}, nvcc: $(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")"
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")}
else
  export FORCE_ONLY_CPU=1
fi
(cd "$TC" && "$PY" setup.py build_ext --inplace -j "$(nproc)") > "$OUT/torch_cluster_build.log" 2>&1 \
  || echo "torch-cluster did not build (tail of $OUT/torch_cluster_build.log below); the kNN comparison will be n/a"
tail -n 3 "$OUT/torch_cluster_build.log"
export PYTHONPATH="$PWD/src:$SITE:$TC${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c "import torch, torch_geometric, weaver, pgjets; print('torch', torch.__version__, '| PyG', torch_geometric.__version__)"
"$PY" -c "import torch_cluster; print('torch-cluster', torch_cluster.__version__)" || true
used=$(( $(date +%s) - start ))
echo "setup took ${used} s"
[ "$DEVICE" = cuda ] || CHECKS_S=0
"$PY" benchmarks/bench_gpu.py --device "$DEVICE" ${TINY:+--tiny} --out "$OUT/gpu.jsonl" \
  --deadline $(( BUDGET - used - CHECKS_S )) 2>&1 | tee "$OUT/log.txt"
if [ "$DEVICE" = cuda ]; then
  # the tests that skip without a GPU (CI never has one), then every jet model's AMP epoch on CUDA vs CPU
  timeout 35 "$PY" -m pytest -q -p no:cacheprovider -k cuda \
    tests/graphs/test_set.py tests/graphs/test_cloud.py tests/graphs/test_image.py > "$OUT/cuda_tests.txt" 2>&1
  tail -n 3 "$OUT/cuda_tests.txt"
  timeout 50 "$PY" benchmarks/gpu_smoke.py > "$OUT/gpu_smoke.txt" 2>&1; tail -n 20 "$OUT/gpu_smoke.txt"
fi
echo "run.sh done in $(( $(date +%s) - start )) s"
