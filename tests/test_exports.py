"""Every name a subpackage advertises resolves (lazy exports stay in sync with the modules)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["pgjets.graphs", "pgjets.nn", "pgjets.data", "pgjets.train", "pgjets.models"]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_exports_resolve(package):
    mod = importlib.import_module(package)
    assert mod.__all__
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name
    with pytest.raises(AttributeError):
        getattr(mod, "does_not_exist")


def test_public_contract_names():
    from pgjets.graphs import image_to_graph
    from pgjets.nn import knn_graph

    assert callable(knn_graph) and callable(image_to_graph)
