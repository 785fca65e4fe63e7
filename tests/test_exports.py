"""Every name a subpackage advertises resolves; exports are plain imports; optional extras load lazily."""

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


@pytest.mark.parametrize("old, new, names", [
    ("pgjets.nn.knn", "pgjets.ops.knn", ["knn_graph", "torch_cluster_available", "MAX_BLOCK_ELEMENTS"]),
    ("pgjets.nn.pairwise", "pgjets.ops.pairwise", ["pairwise_features", "dense_pairwise_features",
                                                   "NUM_PAIR_FEATURES"]),
    ("pgjets.nn.padded", "pgjets.ops.padded", ["rowwise", "key_padding_mask"]),
    ("pgjets.nn", "pgjets.ops", ["knn_graph", "pairwise_features", "dense_pairwise_features"]),
    ("pgjets.train.set_losses", "pgjets.nn.set_losses", ["hungarian_loss", "mmd_loss", "set_distances",
                                                         "set_of_sets_mmd", "proxy_loss"]),
    ("pgjets.train.contrastive", "pgjets.nn.contrastive", ["nt_xent_loss", "NTXentLoss"]),
    ("pgjets.train", "pgjets.nn", ["hungarian_loss", "nt_xent_loss", "NTXentLoss"]),
    ("pgjets.models.jetclr", "pgjets.train.jetclr", ["jetclr_loss", "train_jetclr", "representations",
                                                     "linear_classifier_test", "rotation_invariance"]),
    ("pgjets.models", "pgjets.train", ["train_jetclr", "linear_classifier_test"]),
    ("pgjets.data.features", "pgjets.ops.features", ["FEATURE_NAMES", "feature_names"]),
    ("pgjets.graphs.image", "pgjets.ops.grid", ["grid_offsets"]),
])
def test_old_import_paths_are_the_objects_of_the_new_home(old, new, names):
    old_mod, new_mod = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_mod, name) is getattr(new_mod, name), (old, name)


@pytest.mark.parametrize("package", PACKAGES)
def test_exports_are_plain_imports(package):
    """Each name of ``__all__`` is bound when the package is imported (no module ``__getattr__`` table)."""
    import subprocess
    import sys

    code = (f"import {package} as p; missing = [n for n in p.__all__ if n not in vars(p)]; "
            "assert not missing, missing")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_every_package_loads_no_optional_dependency():
    """Optional dependencies are imported inside the functions that need them, not by ``import pgjets.*``."""
    import subprocess
    import sys

    optional = ["h5py", "awkward", "uproot", "rdkit", "pythia8", "pythia8mc", "fastjet", "matplotlib",
                "vector", "datamol", "sklearn", "onnx", "onnxruntime", "yaml"]
    # what torch_geometric itself loads does not count (it imports numba where installed, and numba yaml)
    code = ("import sys, torch_geometric; base = set(sys.modules); import pgjets, " + ", ".join(PACKAGES)
            + ", pgjets.symmetry, pgjets.transforms; "
            f"loaded = [m for m in {optional!r} if m in sys.modules and m not in base]; assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_moved_jetclr_names_keep_their_old_package_path():
    import pgjets.models as models
    from pgjets.train import train_jetclr

    assert models.train_jetclr is train_jetclr
    assert "train_jetclr" not in models.__all__
