"""Every name a subpackage advertises resolves (lazy exports stay in sync with the modules)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["pgjets.ops", "pgjets.graphs", "pgjets.nn", "pgjets.data", "pgjets.train", "pgjets.models"]


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


def test_export_named_like_its_module_is_the_object_not_the_module():
    import subprocess
    import sys

    # A fresh interpreter: the submodule is imported first, then the name is taken from the package.
    code = (
        "import pgjets.data.jet_image, types; from pgjets.data import jet_image; "
        "assert callable(jet_image) and not isinstance(jet_image, types.ModuleType), jet_image"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
