# pgjets: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,physics,chem,plot

.PHONY: install install-ext demo test test-fast docs bench clean

install:
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q -e ".[$(EXTRAS)]"

# torch-scatter / torch-cluster compile against the installed torch (15-20 min
# the first time on 2 cores; pip caches the built wheels afterwards).
install-ext: install
	$(PIP) install -q --no-build-isolation "torch-scatter>=2.1" "torch-cluster>=1.6" \
		|| echo "WARNING: torch-scatter/torch-cluster did not build; pgjets falls back to pure torch"

demo: install
	pgjets demo

test: install-ext
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

bench: install
	$(PIP) install -q -e ".[bench]"
	$(PYTHON) benchmarks/run_all.py

clean:
	rm -rf build dist .pytest_cache src/*.egg-info

# All seven benchmarks of issue #6 (benchmarks/README.md); torch-cluster is the kNN peer.
bench: install-ext
