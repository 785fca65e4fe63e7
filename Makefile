# pgjets: the two commands a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,physics,chem,plot,deploy

.PHONY: install install-ext demo test test-fast docs docs-html docs-smoke docs-clean bench clean

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

# The bench extra (weaver-core) too: tests/models/test_part.py and test_particlenet.py compare
# the published models with weaver's, weights copied over.
# Real event files of other layouts (Delphes, EDM4hep, PHYSLITE, ...) come from coffea's sdist on PyPI,
# pinned and hash-checked (tests/external_samples.py); the suite then requires them.
test: EXTRAS := $(EXTRAS),bench
test: install-ext
	$(PYTHON) tests/external_samples.py
	PGJETS_REQUIRE_SAMPLES=1 $(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

# The documentation site: installs the docs extra, then builds docs/_build/html with the
# gallery (examples/gallery) executed; any Sphinx warning fails the build.
docs: EXTRAS := $(EXTRAS),docs
docs: install
	$(MAKE) docs-html PYTHON="$(PYTHON)"

# Only the Sphinx build (pgjets and the docs extra already installed).
docs-html:
	$(PYTHON) -m sphinx -W --keep-going -b html docs docs/_build/html

# Opens the built index and a gallery page in headless Chromium and checks that they render
# with their images and math (Debian: apt-get install chromium libjs-mathjax).
docs-smoke:
	$(PYTHON) docs/smoke_test.py docs/_build/html

docs-clean:
	rm -rf docs/_build docs/auto_examples docs/generated

# All seven benchmarks of issue #6 (benchmarks/README.md); torch-cluster is the kNN peer.
bench: install-ext
	$(PIP) install -q -e ".[bench]"
	$(PYTHON) benchmarks/run_all.py

clean:
	rm -rf build dist .pytest_cache src/*.egg-info
