"""Tests of pgjets.data.generate (Pythia 8 + FastJet jet generation)."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest

from pgjets.cli.generate import add_generate_arguments, run_generate
from pgjets.data import (
    PROCESSES, generate_dataset, generate_jets, count_jets, dataset_files, read_jets, read_manifest, JetTable,
)
from pgjets.data.generate import derive_seed
from pgjets.errors import DataFileError

NEUTRINOS = {12, 14, 16}


@pytest.fixture(scope="module")
def top() -> JetTable:
    return generate_jets("top", 5, seed=0, fast=True, label=1)


@pytest.fixture(scope="module")
def qcd() -> JetTable:
    return generate_jets("qcd", 5, seed=0, fast=True)


def _check_jets(t: JetTable, n: int) -> None:
    assert len(t) == n
    kin = t.jet_kinematics()
    # the jet four-momentum is the sum of its constituents (float32 storage)
    assert np.all(kin["pt"] > 550 - 0.5) and np.all(kin["pt"] < 650 + 0.5)
    assert np.all(np.abs(kin["eta"]) < 2.0 + 1e-3)
    assert t.n_constituents.min() > 2
    assert not (set(np.abs(t.pdgid).tolist()) & NEUTRINOS)
    assert np.all(t.E > 0)
    # charge agrees with the PDG id for common particles
    for pid, q in ((22, 0), (211, 1), (-211, -1), (2212, 1), (130, 0), (11, -1)):
        sel = t.pdgid == pid
        assert np.all(t.charge[sel] == q)


def test_top_jets(top):
    _check_jets(top, 5)
    assert np.all(top.label == 1)
    assert set(np.unique(top.parent).tolist()) <= {-1, 0, 1, 2}
    # every top jet holds descendants of its b and of both W quarks
    for j in range(len(top)):
        par = top.parent[top.offsets[j] : top.offsets[j + 1]]
        assert {0, 1, 2} <= set(par.tolist())
    assert set(np.abs(top.extra["truth_pdgid"]).tolist()) == {6}
    kin = top.jet_kinematics()
    np.testing.assert_allclose(top.extra["truth_mass"], 172.5, atol=15)
    assert np.all(np.abs(top.extra["truth_eta"] - kin["eta"]) < 0.8)


def test_qcd_jets(qcd, top):
    _check_jets(qcd, 5)
    assert np.all(qcd.label == 0)
    assert np.all(qcd.parent == -1)
    top_mass = np.median(top.jet_kinematics()["mass"])
    assert top_mass > 100.0
    assert top_mass > np.median(qcd.jet_kinematics()["mass"])


def test_same_seed_same_jets_other_seed_differs(qcd):
    again = generate_jets("qcd", 5, seed=0, fast=True)
    for name in ("px", "py", "pz", "E", "pdgid", "charge", "parent", "offsets"):
        np.testing.assert_array_equal(getattr(again, name), getattr(qcd, name))
    other = generate_jets("qcd", 2, seed=1, fast=True)
    assert not np.array_equal(other.slice(0, 1).px, qcd.slice(0, 1).px)


def test_truth_flag_only_changes_parent():
    a = generate_jets("w", 2, seed=3, fast=True, truth=True)
    b = generate_jets("w", 2, seed=3, fast=True, truth=False)
    np.testing.assert_array_equal(a.px, b.px)
    assert np.all(b.parent == -1)
    assert set(np.unique(a.parent).tolist()) <= {-1, 1, 2} and (a.parent >= 1).any()
    assert set(np.abs(a.extra["truth_pdgid"]).tolist()) == {24}


@pytest.mark.slow
@pytest.mark.parametrize("process,truth_ids", [("z", {23}), ("gluon", {21}), ("quark", {1, 2, 3, 4, 5})])
def test_other_processes(process, truth_ids):
    t = generate_jets(process, 2, seed=0, fast=True)
    _check_jets(t, 2)
    assert set(np.abs(t.extra["truth_pdgid"]).tolist()) <= truth_ids


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown process"):
        generate_jets("higgs", 1)
    with pytest.raises(ValueError, match="n_jets"):
        generate_jets("qcd", 0)
    with pytest.raises(ValueError, match="pt_range"):
        generate_jets("qcd", 1, pt_range=(650.0, 550.0))
    for bad in (0.0, -1.0, float("nan")):  # would generate events until the give-up limit
        with pytest.raises(ValueError, match="eta_max"):
            generate_jets("qcd", 1, eta_max=bad)
    with pytest.raises(ValueError, match="seed"):
        derive_seed(-1, "qcd")
    with pytest.raises(ValueError, match="repeat"):
        generate_dataset(["qcd", "qcd"], 1, "unused")
    with pytest.raises(ValueError, match="at least one"):
        generate_dataset([], 1, "unused")


def test_derive_seed():
    seeds = {derive_seed(7, p, c) for p in PROCESSES for c in range(20)}
    assert len(seeds) == len(PROCESSES) * 20
    assert all(1 <= s <= 900_000_000 for s in seeds)
    assert derive_seed(7, "top", 3) == derive_seed(7, "top", 3) != derive_seed(8, "top", 3)


def _read_all(path):
    return [read_jets(f) for f in dataset_files(path)]


@pytest.mark.slow
def test_dataset_workers_resume_and_cli(tmp_path):
    one = generate_dataset(["top", "qcd"], 3, tmp_path / "one", seed=5, fast=True, chunk_size=2, progress=False)
    two = generate_dataset(["top", "qcd"], 3, tmp_path / "two", seed=5, fast=True, chunk_size=2, workers=2,
                           progress=False)
    man = read_manifest(one)
    # qcd is class 0 whatever the order of the processes
    assert man["label_names"] == ["qcd", "top"] and man["n_jets_total"] == 6
    assert [f["name"] for f in man["files"]] == ["qcd_00000.h5", "qcd_00001.h5", "top_00000.h5", "top_00001.h5"]
    assert [count_jets(f) for f in dataset_files(one)] == [2, 1, 2, 1]
    for a, b in zip(_read_all(one), _read_all(two)):
        np.testing.assert_array_equal(a.px, b.px)
        np.testing.assert_array_equal(a.label, b.label)
        assert a.label_names == ["qcd", "top"]
    labels = np.concatenate([t.label for t in _read_all(one)])
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])

    # an interrupted run: no manifest, a missing chunk, an unfinished temp file
    before = _read_all(one)
    kept = one / "top_00000.h5"
    mtime = os.stat(kept).st_mtime_ns
    (one / "manifest.json").unlink()
    (one / "qcd_00001.h5").unlink()
    (one / ".qcd_00001.h5.tmp-123").write_bytes(b"partial")
    with pytest.raises(DataFileError, match="incomplete"):
        dataset_files(one)
    generate_dataset(["top", "qcd"], 3, one, seed=5, fast=True, chunk_size=2, progress=False)
    assert os.stat(kept).st_mtime_ns == mtime  # resumed: finished chunk kept
    assert not list(one.glob(".*tmp*"))
    for a, b in zip(before, _read_all(one)):
        np.testing.assert_array_equal(a.E, b.E)

    with pytest.raises(DataFileError, match="other settings"):
        generate_dataset(["top", "qcd"], 3, one, seed=6, fast=True, chunk_size=2, progress=False)

    parser = add_generate_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--process", "qcd", "--n-jets", "2", "--out", str(tmp_path / "cli"), "--fast",
                              "--seed", "1", "--no-progress"])
    assert run_generate(args) == 0
    assert read_manifest(tmp_path / "cli")["label_names"] == ["qcd"]
    assert sum(count_jets(f) for f in dataset_files(tmp_path / "cli")) == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["--process", "higgs", "--n-jets", "2", "--out", "x"])


@pytest.mark.slow
def test_generate_writes_the_public_layouts(tmp_path):
    from pgjets.data import detect_format, open_jets

    parser = add_generate_arguments(argparse.ArgumentParser())
    for fmt, name in (("landscape", "jets.h5"), ("parquet", "jets.parquet")):
        args = parser.parse_args(["--process", "top", "--process", "qcd", "--n-jets", "2", "--out",
                                  str(tmp_path / name), "--fast", "--format", fmt, "--no-progress"])
        assert run_generate(args) == 0
        jets = open_jets(tmp_path / name)
        assert detect_format(tmp_path / name) == fmt and len(jets) == 4
        assert jets.label_names == ["qcd", "top"] and jets.label.tolist() == [0, 0, 1, 1]
        assert not list(tmp_path.glob(".*.parts"))  # the resumable chunks are removed at the end
    args = parser.parse_args(["--process", "w", "--process", "qcd", "--n-jets", "1", "--out",
                              str(tmp_path / "w.h5"), "--format", "landscape"])
    with pytest.raises(ValueError, match="QCD \\(0\\) and top \\(1\\)"):
        run_generate(args)
