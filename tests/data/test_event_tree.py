"""Event ROOT files with a tree of another name (``tree=`` / ``--tree``) and suffix-less event files."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("uproot")
pytest.importorskip("awkward")

from pgjets.data import EventDataset, StreamedEventDataset  # noqa: E402
from pgjets.errors import DataArgumentError, DataFileError  # noqa: E402


def _mini(path, n=40, seed=0, label=None, tree="mini"):
    """An ATLAS Open Data style ntuple: tree ``mini``, collections ``lep`` and ``jet`` (MeV), the energy
    as ``lep_E``, counters ``lep_n``, ``met_et``/``met_phi`` and the event numbers."""
    import awkward as ak
    import uproot

    rng = np.random.default_rng(seed)
    out = {}
    for coll, mean in (("lep", 2), ("jet", 3)):
        counts = rng.poisson(mean, n)
        m = int(counts.sum())
        pt = rng.exponential(30e3, m).astype(np.float32) + 5e3
        eta = rng.uniform(-2.5, 2.5, m).astype(np.float32)
        phi = rng.uniform(-np.pi, np.pi, m).astype(np.float32)
        e = (pt * np.cosh(eta)).astype(np.float32)
        for f, v in (("pt", pt), ("eta", eta), ("phi", phi), ("E", e)):
            out[f"{coll}_{f}"] = ak.unflatten(v, counts)
        if coll == "lep":
            out["lep_charge"] = ak.unflatten(rng.choice([-1, 1], m).astype(np.int32), counts)
    out["met_et"] = rng.exponential(20e3, n).astype(np.float32)  # ATLAS: missing transverse energy, no met_pt
    out["met_phi"] = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    out["runNumber"] = np.full(n, 284500, np.int32)
    out["eventNumber"] = np.arange(n, dtype=np.int64) + 1000 * seed
    out["mcChannelNumber"] = np.full(n, 410470, np.uint32)  # an ATLAS DSID (ttbar)
    if label is not None:
        out["label"] = np.full(n, label, np.int64)
    with uproot.recreate(path) as f:
        f.mktree(tree, {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in out.items()},
                 counter_name=lambda counted: counted.split("_")[0] + "_n")
        f[tree].extend(out)
    return ak.zip(out, depth_limit=1)


def test_a_named_tree_is_read_in_nanoaod_naming(tmp_path):
    events = _mini(tmp_path / "sig.root")
    ds = StreamedEventDataset(tmp_path / "sig.root", collections=("lep", "jet"), tree="mini", label=None,
                              chunk_size=16, prefetch=False)
    assert len(ds) == 40 and ds.tree == "mini" and ds.files == [tmp_path / "sig.root"]
    ref = EventDataset.from_events(events, label=np.zeros(40, np.int64), collections=("lep", "jet"))
    got = next(iter(ds.batches(40)))
    torch.testing.assert_close(got.x, ref.batch.x, rtol=0, atol=0)  # pt, eta, phi, E and charge placed alike
    assert torch.equal(got.edge_index, ref.batch.edge_index)
    assert got.num_nodes == int(sum(len(x) for x in events["lep_pt"]) + sum(len(x) for x in events["jet_pt"]))
    ids = ds.event_ids(np.arange(3), fields=("runNumber", "eventNumber"))
    assert ids["eventNumber"].tolist() == [0, 1, 2] and ids["eventNumber"].dtype == np.int64
    sub = ds.subset(np.arange(5, 9))
    assert sub.tree == "mini" and next(iter(sub.batches(4))).event_index.tolist() == [5, 6, 7, 8]


def test_without_the_tree_the_message_names_the_option(tmp_path):
    _mini(tmp_path / "sig.root")
    with pytest.raises(DataFileError, match=r"none of the event trees 'events'.*\['mini'\].*--tree NAME"):
        StreamedEventDataset(tmp_path / "sig.root", collections=("lep",), label=None)
    with pytest.raises(DataFileError, match=r"no tree 'nominal' \(--tree\); it has \['mini'\]"):
        StreamedEventDataset(tmp_path / "sig.root", collections=("lep",), label=None, tree="nominal")
    with pytest.raises(DataArgumentError, match=r"tree 'mini' has no collection 'Muon'.*jet, lep"):
        StreamedEventDataset(tmp_path / "sig.root", label=None, tree="mini")


def test_label_branch_of_a_named_tree(tmp_path):
    (tmp_path / "d").mkdir()
    _mini(tmp_path / "d" / "a.root", label=0)
    _mini(tmp_path / "d" / "b.root", seed=1, label=1)
    ds = StreamedEventDataset(tmp_path / "d", collections=("lep",), tree="mini", prefetch=False)
    assert ds.num_classes == 2 and sorted(torch.cat([b.y for b in ds.batches(16)]).tolist()) == [0] * 40 + [1] * 40


def test_a_folder_finds_event_files_without_suffix(tmp_path):
    """Grid outputs named without a suffix are found by their content; other files are skipped."""
    from pgjets.data.generate_events import event_input_files, is_event_folder

    folder = tmp_path / "grid"
    folder.mkdir()
    _mini(folder / "out_1", label=0)
    _mini(folder / "out_2", seed=1, label=1)
    (folder / "log.txt").write_text("done\n")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    assert event_input_files(folder, "mini") == [folder / "out_1", folder / "out_2"]
    assert is_event_folder(folder, "mini") and not is_event_folder(folder)  # not without the tree
    ds = StreamedEventDataset(folder, collections=("lep", "jet"), tree="mini")
    assert len(ds) == 80 and ds.files == [folder / "out_1", folder / "out_2"]


def test_cli_trains_and_evaluates_on_a_named_tree(tmp_path, capsys):
    import yaml

    from pgjets.cli import main

    _mini(tmp_path / "sig.root", n=60)
    _mini(tmp_path / "bkg.root", n=60, seed=1)
    run = tmp_path / "run"
    argv = ["train", "--model", "event_deepsets", "--data", f"sig={tmp_path / 'sig.root'}", "--data",
            f"bkg={tmp_path / 'bkg.root'}", "--tree", "mini", "--collection", "lep", "--collection", "jet",
            "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress", "--out", str(run)]
    assert main(argv) == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["tree"] == "mini" and cfg["collections"] == ["lep", "jet"]
    assert main(argv) == 0 and "finished" in capsys.readouterr().out  # the same command: nothing to do
    assert main(argv[:-1] + [str(tmp_path / "other")] + ["--tree", "nominal"]) == 2  # no such tree: exit 2
    assert "no tree 'nominal'" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", f"sig={tmp_path / 'sig.root'}", "--data",
                 f"bkg={tmp_path / 'bkg.root'}"]) == 0
    assert json.loads((run / "eval" / "sig+bkg" / "metrics.json").read_text())["n_test"] == 120


def test_tree_is_refused_for_jet_runs(jet_folder, tmp_path, capsys):
    from pgjets.cli import main

    assert main(["train", "--model", "pfn", "--data", str(jet_folder), "--tree", "mini", "--epochs", "1",
                 "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run")]) == 2
    assert "--tree names the ROOT tree of event data, but the data are jets" in capsys.readouterr().err


def test_cli_event_connectivity_knn(tmp_path, capsys):
    """``--connectivity knn --k K``: kNN event graphs for the run, its resume and its evaluation."""
    import yaml

    from pgjets.cli import main
    from pgjets.run import read_run_config
    from pgjets.run_events import event_datasets

    _mini(tmp_path / "sig.root", n=50)
    _mini(tmp_path / "bkg.root", n=50, seed=1)
    base = ["train", "--model", "event_gnn", "--data", f"sig={tmp_path / 'sig.root'}", "--data",
            f"bkg={tmp_path / 'bkg.root'}", "--tree", "mini", "--collection", "lep", "--collection", "jet",
            "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress"]
    run = tmp_path / "knn"
    assert main(base + ["--connectivity", "knn", "--k", "2", "--out", str(run)]) == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["connectivity"] == "knn" and cfg["k"] == 2
    ds, _, _ = event_datasets(read_run_config(run))
    batch = next(iter(ds.batches(50)))
    sizes = batch.ptr.diff()
    assert batch.edge_index.size(1) == int((sizes * (sizes - 1).clamp(max=2)).sum())  # k = 2 per object
    capsys.readouterr()
    assert main(base + ["--connectivity", "knn", "--k", "3", "--out", str(run)]) == 2  # another k: refused
    assert "k" in capsys.readouterr().err
    full = tmp_path / "full"
    assert main(base + ["--out", str(full)]) == 0
    assert main(base + ["--connectivity", "full", "--out", str(full)]) == 0  # the default spelled out: resumes
    assert yaml.safe_load((full / "config.yaml").read_text())["connectivity"] is None
    capsys.readouterr()
    assert main(base + ["--k", "4", "--out", str(tmp_path / "bad")]) == 2
    assert "--k is the number of neighbours of kNN event graphs: give --connectivity knn" in capsys.readouterr().err
    assert main(["evaluate", str(run)]) == 0


def test_met_et_and_dotted_and_underscored_collections(tmp_path):
    """ATLAS ``met_et`` serves as the MET's pT; Delphes-style flat branches ``Jet.PT`` and collection
    names with an underscore (``jet_fwd``) are read as NanoAOD-style ones."""
    import awkward as ak
    import uproot

    from pgjets.graphs.event import events_to_batch

    events = _mini(tmp_path / "a.root", n=30)
    ds = StreamedEventDataset(tmp_path / "a.root", collections=("lep", "met"), tree="mini", label=None,
                              prefetch=False)
    got = next(iter(ds.batches(30)))
    met = got.x[got.x[:, -1] == 1]  # the one-hot column of met
    assert met.size(0) == 30  # one MET node per event, pt = met_et, E = pt, eta = 0
    torch.testing.assert_close(met[:, 0], torch.as_tensor(ak.to_numpy(events["met_et"]), dtype=met.dtype))
    torch.testing.assert_close(met[:, 2], torch.as_tensor(ak.to_numpy(events["met_phi"]), dtype=met.dtype))
    assert torch.equal(met[:, 1], torch.zeros(30)) and torch.equal(met[:, 3], met[:, 0])

    branches = {"Jet.PT": events["jet_pt"], "Jet.Eta": events["jet_eta"], "Jet.Phi": events["jet_phi"],
                "jet_fwd_pt": events["lep_pt"], "jet_fwd_eta": events["lep_eta"], "jet_fwd_phi": events["lep_phi"],
                "label": np.arange(30) % 2}
    with uproot.recreate(tmp_path / "d.root") as f:
        f.mktree("Delphes", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()},
                 counter_name=lambda c: "n_" + c.replace(".", "_"))
        f["Delphes"].extend(branches)
    ds = StreamedEventDataset(tmp_path / "d.root", collections=("Jet", "jet_fwd"), tree="Delphes", prefetch=False)
    got = next(iter(ds.batches(30)))
    ref = events_to_batch(ak.zip({"Jet_pt": events["jet_pt"], "Jet_eta": events["jet_eta"],
                                  "Jet_phi": events["jet_phi"], "jet_fwd_pt": events["lep_pt"],
                                  "jet_fwd_eta": events["lep_eta"], "jet_fwd_phi": events["lep_phi"]},
                                 depth_limit=1), collections=("Jet", "jet_fwd"))
    torch.testing.assert_close(got.x, ref.x, rtol=0, atol=0)
    assert got.y.tolist() == [i % 2 for i in range(30)]


def test_folder_messages_name_the_file_and_the_option(tmp_path):
    from pgjets.run_events import not_event_data_reason

    folder = tmp_path / "zll"
    folder.mkdir()
    _mini(folder / "b.root")
    assert "--tree NAME" in not_event_data_reason(str(folder))  # the reason of its first file, with the hint
    _mini(folder / "a.root", tree="Events_other")  # sorted first: a file without the tree
    reason = not_event_data_reason(str(folder), "mini")
    assert reason.startswith(f"the folder {folder} holds a file that is not event data: {folder / 'a.root'} "
                             "has no tree 'mini'")


def test_event_dataset_takes_the_tree_and_refuses_a_mapping(tmp_path):
    events = _mini(tmp_path / "a.root", n=12, label=1)
    ds = EventDataset(tmp_path / "a.root", collections=("lep",), tree="mini", label="label")
    assert len(ds) == 12 and ds.labels.tolist() == [1] * 12
    assert ds.batch.num_nodes == int(ak_num(events["lep_pt"]))
    with pytest.raises(TypeError, match="use StreamedEventDataset"):
        EventDataset({"sig": tmp_path / "a.root"})


def ak_num(jagged):
    import awkward as ak

    return ak.sum(ak.num(jagged))


def test_cli_evaluate_tree_units_and_ids(tmp_path, capsys):
    """``evaluate --tree`` reads --data from another tree; a sample in other units (GeV against the
    run's MeV) warns; ``scores.npz`` keeps ATLAS ``runNumber``/``eventNumber``; event files without
    classes and labels are a bad argument for training (exit 2, no run folder)."""
    from pgjets.cli import main

    _mini(tmp_path / "sig.root", n=60)
    _mini(tmp_path / "bkg.root", n=60, seed=1)
    run = tmp_path / "run"
    base = ["--tree", "mini", "--collection", "lep", "--collection", "jet", "--epochs", "1", "--batch-size",
            "16", "--device", "cpu", "--no-progress"]
    assert main(["train", "--model", "event_deepsets", "--data", str(tmp_path / "sig.root"), *base,
                 "--out", str(tmp_path / "nolabel")]) == 2
    assert "no label field 'label'" in capsys.readouterr().err and not (tmp_path / "nolabel").exists()
    assert main(["train", "--model", "event_deepsets", "--data", f"sig={tmp_path / 'sig.root'}", "--data",
                 f"bkg={tmp_path / 'bkg.root'}", *base, "--out", str(run)]) == 0
    # the same events in GeV, under another tree name
    import uproot

    for name in ("sig", "bkg"):
        with uproot.open(tmp_path / f"{name}.root") as f:
            arrays = f["mini"].arrays()
        out = {k: arrays[k] / 1000 if k.endswith(("_pt", "_E", "_et")) else arrays[k] for k in arrays.fields
               if not k.endswith("_n")}
        with uproot.recreate(tmp_path / f"{name}_gev.root") as f:
            f.mktree("nominal", {k: v.type for k, v in out.items()}, counter_name=lambda c: c.split("_")[0] + "_n")
            f["nominal"].extend(out)
    gev = ["--data", f"sig={tmp_path / 'sig_gev.root'}", "--data", f"bkg={tmp_path / 'bkg_gev.root'}"]
    capsys.readouterr()
    assert main(["evaluate", str(run), *gev]) == 2  # the run's tree is mini
    assert "has no tree 'mini' (--tree); it has ['nominal']" in capsys.readouterr().err
    assert main(["evaluate", str(run), *gev, "--tree", "nominal", "--out", str(tmp_path / "e")]) == 0
    err = capsys.readouterr().err  # the command line prints warnings as one line each
    assert "warning: the objects of" in err and "(1000 times smaller): other units (MeV against GeV)?" in err
    with np.load(tmp_path / "e" / "scores.npz") as f:
        assert np.array_equal(f["eventNumber"], f["entry"] + 1000 * f["file_index"])  # as _mini numbers them
        assert set(f["runNumber"].tolist()) == {284500} and set(f["mcChannelNumber"].tolist()) == {410470}
    assert main(["evaluate", str(run), "--data", f"sig={tmp_path / 'sig.root'}", "--data",
                 f"bkg={tmp_path / 'bkg.root'}", "--out", str(tmp_path / "same")]) == 0
    assert "median pT" not in capsys.readouterr().err
    assert main(["evaluate", str(run), "--tree", "nominal"]) == 2  # --tree needs --data


def test_event_ids_of_files_in_other_integer_types_keep_their_values(tmp_path):
    """eventNumber int32 in one file and uint64 above 2**32 in another: one exact integer column (the
    second file's numbers were cut to the first file's int32)."""
    import awkward as ak
    import uproot

    _mini(tmp_path / "src.root", n=5)
    with uproot.open(tmp_path / "src.root") as f:
        arrays = f["mini"].arrays()
    for name, numbers in (("a.root", np.arange(5, dtype=np.int32)),
                          ("b.root", np.arange(5, dtype=np.uint64) + np.uint64(2**33))):
        out = {k: arrays[k] for k in arrays.fields if not k.endswith("_n")}
        out["eventNumber"] = numbers
        with uproot.recreate(tmp_path / name) as f:
            f.mktree("mini", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in out.items()},
                     counter_name=lambda c: c.split("_")[0] + "_n")
            f["mini"].extend(out)
    ds = StreamedEventDataset([tmp_path / "a.root", tmp_path / "b.root"], collections=("lep",), tree="mini",
                              label=None, prefetch=False)
    ids = ds.event_ids(np.arange(10))
    assert ids["eventNumber"].dtype == np.int64
    assert ids["eventNumber"].tolist() == list(range(5)) + [2**33 + i for i in range(5)]
    from pgjets.data.event_dataset import _common_id_dtype

    assert _common_id_dtype([np.arange(3, dtype=np.int32), np.array([2**64 - 1], dtype=np.uint64)]) == np.uint64
    assert _common_id_dtype([np.arange(3, dtype=np.uint32), np.arange(2, dtype=np.uint32)]) == np.uint32


def test_cli_event_setting_edges(tmp_path, capsys):
    """--connectivity knn records k = 8 (a resume with --k 8 is the same run); --tree on parquet only is
    refused; a folder file without the tree is a bad argument (exit 2, as the file given itself); a
    collection in the wrong case gets a suggestion."""
    import awkward as ak
    import yaml

    from pgjets.cli import main

    _mini(tmp_path / "sig.root", n=40)
    _mini(tmp_path / "bkg.root", n=40, seed=1)
    base = ["train", "--model", "event_gnn", "--data", f"sig={tmp_path / 'sig.root'}", "--data",
            f"bkg={tmp_path / 'bkg.root'}", "--tree", "mini", "--collection", "lep", "--epochs", "1",
            "--batch-size", "16", "--device", "cpu", "--no-progress"]
    run = tmp_path / "knn"
    assert main(base + ["--connectivity", "knn", "--out", str(run)]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["k"] == 8
    assert main(base + ["--connectivity", "knn", "--k", "8", "--out", str(run)]) == 0  # the same run
    capsys.readouterr()
    assert main(base + ["--collection", "Jet", "--out", str(tmp_path / "case")]) == 2
    assert "did you mean 'jet'?" in capsys.readouterr().err
    folder = tmp_path / "sigdir"
    folder.mkdir()
    _mini(folder / "a.root")
    _mini(folder / "b.root", tree="Events_other")
    argv = list(base)
    argv[argv.index(f"sig={tmp_path / 'sig.root'}")] = f"sig={folder}"
    assert main(argv + ["--out", str(tmp_path / "mixed")]) == 2
    assert "has no tree 'mini'" in capsys.readouterr().err and not (tmp_path / "mixed").exists()
    events = ak.zip({"Muon_pt": ak.Array([[30.0], [20.0, 10.0]]), "Muon_eta": ak.Array([[0.1], [0.2, -0.3]]),
                     "Muon_phi": ak.Array([[0.0], [1.0, 2.0]]), "label": np.array([0, 1])}, depth_limit=1)
    ak.to_parquet(events, tmp_path / "ev.parquet")
    assert main(["train", "--model", "event_deepsets", "--data", str(tmp_path / "ev.parquet"), "--tree", "mini",
                 "--collection", "Muon", "--epochs", "1", "--device", "cpu", "--no-progress", "--out",
                 str(tmp_path / "pq")]) == 2
    assert "--tree mini names the tree of ROOT event files, but --data holds parquet" in capsys.readouterr().err


def test_cli_warns_when_classes_come_in_other_units(tmp_path, capsys):
    """Signal in GeV, background in MeV: a classifier would learn the units; training warns."""
    import awkward as ak
    import uproot

    from pgjets.cli import main

    _mini(tmp_path / "src.root", n=40)
    with uproot.open(tmp_path / "src.root") as f:
        arrays = f["mini"].arrays()
    out = {k: arrays[k] / 1000 if k.endswith(("_pt", "_E", "_et")) else arrays[k] for k in arrays.fields
           if not k.endswith("_n")}
    with uproot.recreate(tmp_path / "sig.root") as f:
        f.mktree("mini", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in out.items()},
                 counter_name=lambda c: c.split("_")[0] + "_n")
        f["mini"].extend(out)
    _mini(tmp_path / "bkg.root", n=40, seed=1)
    base = ["train", "--model", "event_deepsets", "--data", f"sig={tmp_path / 'sig.root'}", "--data",
            f"bkg={tmp_path / 'bkg.root'}", "--tree", "mini", "--collection", "lep", "--epochs", "1",
            "--batch-size", "16", "--device", "cpu", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "run")]) == 0
    assert "times apart): files in other units (MeV against GeV)?" in capsys.readouterr().err
    _mini(tmp_path / "sig2.root", n=40, seed=2)  # the same units: no warning
    base[base.index(f"sig={tmp_path / 'sig.root'}")] = f"sig={tmp_path / 'sig2.root'}"
    assert main(base + ["--out", str(tmp_path / "run2")]) == 0
    assert "times apart" not in capsys.readouterr().err


def test_nominal_branches_of_a_systematics_ntuple_are_read_as_the_plain_ones(tmp_path):
    """ATLAS CP-algorithm ntuples (TopCPToolkit) suffix the values that systematics vary: el_pt_NOSYS,
    el_e_NOSYS, met_met_NOSYS next to unsuffixed el_eta, el_phi. They are read as el_pt, ...: the same
    graphs as the plain names; a plain branch wins over its _NOSYS twin; messages list the collection."""
    import awkward as ak
    import uproot

    events = _mini(tmp_path / "plain.root", tree="reco")
    varied = {"lep_pt", "lep_E", "jet_pt", "jet_E", "met_et"}
    out = {(f"{k}_NOSYS" if k in varied else k): events[k] for k in events.fields}
    out["lep_pt_JET_JES__1up"] = events["lep_pt"] * 1.1  # a variation: never read
    out["weight_mc_NOSYS"] = np.ones(len(events), np.float32)
    with uproot.recreate(tmp_path / "syst.root") as f:
        f.mktree("reco", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in out.items()},
                 counter_name=lambda c: c.split("_")[0] + "_n")
        f["reco"].extend(out)
    kw = dict(collections=("lep", "jet", "met"), tree="reco", label=None)
    plain = next(iter(StreamedEventDataset(tmp_path / "plain.root", **kw).batches(40)))
    syst_ds = StreamedEventDataset(tmp_path / "syst.root", weight="weight_mc_NOSYS", **kw)
    syst = next(iter(syst_ds.batches(40)))
    torch.testing.assert_close(syst.x, plain.x, rtol=0, atol=0)
    assert torch.equal(syst.edge_index, plain.edge_index)
    in_memory = EventDataset(tmp_path / "syst.root", collections=("lep", "jet", "met"), tree="reco",
                             label=lambda ev: np.zeros(len(ev), np.int64))
    torch.testing.assert_close(in_memory.batch.x, plain.x, rtol=0, atol=0)
    both = {**{k: events[k] for k in events.fields}, "lep_pt_NOSYS": events["lep_pt"] * 2}  # the plain wins
    with uproot.recreate(tmp_path / "both.root") as f:
        f.mktree("reco", {k: v.type for k, v in both.items()}, counter_name=lambda c: c.split("_")[0] + "_n")
        f["reco"].extend(both)
    got = next(iter(StreamedEventDataset(tmp_path / "both.root", **kw).batches(40)))
    torch.testing.assert_close(got.x, plain.x, rtol=0, atol=0)
    with pytest.raises(DataArgumentError, match="has no collection 'tau'.*it has jet, lep, met"):
        StreamedEventDataset(tmp_path / "syst.root", collections=("tau",), tree="reco", label=None)
