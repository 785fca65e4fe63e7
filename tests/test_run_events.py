from __future__ import annotations

import json
from pathlib import Path

import pytest

from pgjets.cli import main
from pgjets.data import generate_event_dataset


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("events")
    return generate_event_dataset(["ttbar", "wjets"], 40, out, seed=3, chunk_size=40, progress=False)


@pytest.mark.parametrize("model", ["event_deepsets", pytest.param("event_transformer", marks=pytest.mark.slow),
                                   pytest.param("event_gnn", marks=pytest.mark.slow)])
def test_train_and_evaluate_an_event_classifier(model, events_dir, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--model", model, "--data", str(events_dir), "--epochs", "2", "--batch-size", "16",
               "--device", "cpu", "--no-progress", "--out", str(run)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "on 48 events" in text and "test: AUC" in text
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 16 and 0.0 <= metrics["auc"] <= 1.0
    for name in ("config.yaml", "split.npz", "roc.png", "confusion.png", "checkpoints/best.pt"):
        assert (run / name).exists(), name
    assert main(["evaluate", str(run)]) == 0
    assert "AUC" in capsys.readouterr().out


def test_event_model_needs_event_data(tmp_path, capsys):
    assert main(["train", "--model", "event_gnn", "--generate", "10", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "whole events" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_event_runs_are_seeded_and_guarded_like_jet_runs(events_dir, tmp_path, capsys):
    import torch

    from pgjets.train import load_checkpoint_file

    def argv(out, epochs=1):
        return ["train", "--model", "event_deepsets", "--data", str(events_dir), "--epochs", str(epochs),
                "--batch-size", "16", "--device", "cpu", "--no-progress", "--out", str(tmp_path / out)]

    assert main(argv("a")) == 0
    assert main(argv("b")) == 0
    wa = load_checkpoint_file(tmp_path / "a" / "checkpoints" / "last.pt")["model"]
    wb = load_checkpoint_file(tmp_path / "b" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # same seed, same events: same weights
    capsys.readouterr()
    before = (tmp_path / "a" / "config.yaml").read_bytes()
    assert main(argv("a", epochs=2)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "epochs 1 -> 2" in err
    assert (tmp_path / "a" / "config.yaml").read_bytes() == before  # nothing written


def test_evaluating_other_events_checks_the_classes(events_dir, tmp_path, capsys):
    other = generate_event_dataset(["ttbar", "zjets"], 20, tmp_path / "tz", seed=4, chunk_size=20, progress=False)
    run = tmp_path / "run"
    assert main(["train", "--model", "event_deepsets", "--data", str(events_dir), "--epochs", "1",
                 "--batch-size", "16", "--device", "cpu", "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(other)]) == 2  # class 1 is wjets, not zjets: a bad argument
    err = capsys.readouterr().err
    assert "['ttbar', 'wjets']" in err and "['ttbar', 'zjets']" in err
    assert main(["evaluate", str(run), "--data", str(events_dir)]) == 0  # the same classes: fine


@pytest.fixture(scope="module")
def nanoaod_files(events_dir, tmp_path_factory):
    """The generated events as two NanoAOD ROOT files, one per process, without a label branch, with CMS
    event identifiers and NLO-like event weights ``genWeight`` (about 15 % negative)."""
    import awkward as ak

    from pgjets.data import read_events, write_nanoaod

    import numpy as np

    out = tmp_path_factory.mktemp("nano")
    events = read_events(events_dir)
    n = len(events)
    for name, values in (("run", np.full(n, 362_616, np.uint32)), ("luminosityBlock", np.arange(n, dtype=np.uint32) // 7),
                         ("event", np.arange(n, dtype=np.uint64) * 3 + 10**12),  # as CMS writes them
                         ("genWeight", np.random.default_rng(1).normal(1.0, 1.0, n).astype(np.float32))):
        events = ak.with_field(events, values, name)
    label = ak.to_numpy(events["label"])
    return {name: write_nanoaod(events[label == i], out / f"{name}.root") for i, name in enumerate(["ttbar", "wjets"])}


def _nano_argv(files, out, *extra):
    return ["train", "--model", "event_deepsets", "--data", f"wjets={files['wjets']}", "--data",
            f"ttbar={files['ttbar']}", "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress",
            "--out", str(out), *extra]


def test_train_on_nanoaod_files_with_one_class_per_file(nanoaod_files, events_dir, tmp_path, capsys):
    import yaml

    run = tmp_path / "run"
    assert main(_nano_argv(nanoaod_files, run, "--object-field", "btag")) == 0
    assert "on 48 events" in capsys.readouterr().out
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["inputs"]["label_names"] == ["wjets", "ttbar"] and cfg["object_fields"] == ["btag"]
    assert cfg["data"] == [f"wjets={nanoaod_files['wjets']}", f"ttbar={nanoaod_files['ttbar']}"]
    assert [e["name"] for e in cfg["data_fingerprint"]["files"]] == ["wjets.root", "ttbar.root"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["signal"] == "ttbar" and metrics["n_test"] == 16  # the second class is the signal
    before = (run / "checkpoints" / "last.pt").read_bytes()
    assert main(_nano_argv(nanoaod_files, run, "--object-field", "btag")) == 0  # the same command resumes
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    assert main(["evaluate", str(run)]) == 0
    assert main(["evaluate", str(run), "--data", f"wjets={nanoaod_files['wjets']}", "--data",
                 f"ttbar={nanoaod_files['ttbar']}"]) == 0
    assert json.loads((run / "eval" / "wjets+ttbar" / "metrics.json").read_text())["n_test"] == 80
    import numpy as np
    import uproot

    with np.load(run / "eval" / "wjets+ttbar" / "scores.npz") as f:  # every event, traceable to its file
        scores = {k: f[k] for k in f.files}
    assert list(scores["label_names"]) == ["wjets", "ttbar"] and np.array_equal(scores["index"], np.arange(80))
    assert [Path(p).name for p in scores["files"]] == ["wjets.root", "ttbar.root"]
    assert np.array_equal(scores["y"], scores["file_index"])  # one class per file, in this order
    for name, i in (("wjets", 0), ("ttbar", 1)):
        with uproot.open(nanoaod_files[name]) as f:
            n_muon = f["Events"]["nMuon"].array(library="np")
        entries = scores["entry"][scores["file_index"] == i]
        assert np.array_equal(entries, np.arange(len(n_muon)))
    with np.load(run / "scores.npz") as f:  # the test split: positions from split.npz
        with np.load(run / "split.npz") as s:
            assert np.array_equal(f["index"], np.unique(s["test"]))
    assert main(["evaluate", str(run), "--working-point", "ttbar=0.4"]) == 0  # honoured, next to the run's own
    assert "rej@0.4" in json.loads((run / "eval" / "test-wp-ttbar0.4" / "metrics.json").read_text())
    capsys.readouterr()
    swapped = ["evaluate", str(run), "--data", f"ttbar={nanoaod_files['ttbar']}", "--data",
               f"wjets={nanoaod_files['wjets']}"]
    assert main(swapped) == 0  # the classes in another order: matched by name
    same = json.loads((run / "eval" / "wjets+ttbar" / "metrics.json").read_text())
    other = json.loads((run / "eval" / "ttbar+wjets" / "metrics.json").read_text())
    assert other["auc"] == same["auc"] and other["signal"] == "ttbar" and other["accuracy"] == same["accuracy"]
    with np.load(run / "eval" / "ttbar+wjets" / "scores.npz") as f:
        assert list(f["label_names"]) == ["wjets", "ttbar"] and np.array_equal(f["y"], 1 - f["file_index"])


def test_nanoaod_runs_refuse_what_they_cannot_do(nanoaod_files, tmp_path, capsys):
    def error(argv):
        capsys.readouterr()
        rc = main(argv)
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        return rc, err

    rc, err = error(_nano_argv(nanoaod_files, tmp_path / "a", "--collection", "Tau"))
    assert rc == 2 and "'Tau'" in err and not (tmp_path / "a").exists()  # checked before the run folder
    rc, err = error(_nano_argv(nanoaod_files, tmp_path / "a", "--object-field", "btagg"))  # a typo
    assert rc == 2 and "object field 'btagg'" in err and not (tmp_path / "a").exists()
    rc, err = error(["train", "--model", "event_deepsets", "--data", f"wjets={nanoaod_files['wjets']}",
                     "--data", str(nanoaod_files["ttbar"]), "--out", str(tmp_path / "b")])
    assert rc == 2 and "every path a class" in err
    rc, err = error(["train", "--model", "event_deepsets", "--data", str(nanoaod_files["ttbar"]),
                     "--out", str(tmp_path / "c")])
    assert rc == 2 and "CLASS=FILE" in err and not (tmp_path / "c").exists()
    rc, err = error(_nano_argv(nanoaod_files, tmp_path / "d", "--val", str(nanoaod_files["ttbar"])))
    assert rc == 2 and "--val" in err
    rc, err = error(["train", "--model", "pfn", "--generate", "5", "--collection", "Muon", "--out", str(tmp_path / "e")])
    assert rc == 2 and "--collection" in err and "jets" in err
    rc, err = error(["train", "--model", "pfn", "--data", f"top={tmp_path / 'nope.h5'}", "--out", str(tmp_path / "f")])
    assert rc == 2 and "nope.h5 does not exist" in err
    (tmp_path / "fake.root").write_bytes(b"not a ROOT file")
    rc, err = error(["train", "--model", "pfn", "--data", f"wjets={nanoaod_files['wjets']}", "--data",
                     f"ttbar={tmp_path / 'fake.root'}", "--out", str(tmp_path / "f")])
    assert rc == 2 and "fake.root" in err and "wjets.root" not in err  # names the file that is not events
    for spec, words in ((f"ttbar={tmp_path / 'tt_*.root'}", "no file matches"),
                        (f"ttbar={tmp_path / 'fake.root'}", "fake.root is not an event file")):
        rc, err = error(["train", "--model", "event_deepsets", "--data", f"wjets={nanoaod_files['wjets']}",
                         "--data", spec, "--out", str(tmp_path / "g")])
        assert rc == 2 and words in err, err
    rc, err = error(["train", "--model", "event_deepsets", "--data", f"ttbar={nanoaod_files['ttbar']}",
                     "--out", str(tmp_path / "h")])
    assert rc == 2 and "one class (ttbar)" in err and not (tmp_path / "h").exists()


def test_odd_class_names_empty_classes_and_bad_values(nanoaod_files, tmp_path, capsys):
    import awkward as ak
    import numpy as np

    from pgjets.data import read_nanoaod_events, write_nanoaod

    run = tmp_path / "run"
    argv = ["train", "--model", "event_deepsets", "--data", f"W->lnu={nanoaod_files['wjets']}", "--data",
            f"ttH(bb)={nanoaod_files['ttbar']}", "--epochs", "1", "--batch-size", "16", "--device", "cpu",
            "--no-progress", "--out", str(run)]
    assert main(argv) == 0
    assert json.loads((run / "metrics.json").read_text())["signal"] == "ttH(bb)"
    events = read_nanoaod_events(nanoaod_files["ttbar"])
    write_nanoaod(events[:0], tmp_path / "empty.root")
    capsys.readouterr()
    assert main([*argv[:7], "--data", f"empty={tmp_path / 'empty.root'}", *argv[7:-1], str(tmp_path / "r2")]) == 2
    assert "class 'empty' has no events" in capsys.readouterr().err
    pt = ak.to_numpy(ak.flatten(events["Jet_pt"])).copy()
    pt[3] = np.nan
    bad = ak.with_field(events, ak.unflatten(pt, ak.num(events["Jet_pt"])), "Jet_pt")
    write_nanoaod(bad, tmp_path / "nan.root")
    assert main([*argv[:6], f"ttH(bb)={tmp_path / 'nan.root'}", *argv[7:-1], str(tmp_path / "r3")]) == 1
    err = capsys.readouterr().err
    assert "nan.root, events 0:" in err and "NaN" in err  # the file and its events are named


def test_force_checks_the_new_event_settings_before_clearing(nanoaod_files, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_nano_argv(nanoaod_files, run)) == 0
    before = sorted(p.name for p in run.iterdir())
    capsys.readouterr()
    assert main(_nano_argv(nanoaod_files, run, "--force", "--collection", "SV")) == 2
    assert "'SV'" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == before  # the old run is untouched
    explicit = [a for name in ("Muon", "Electron", "Jet", "Photon", "MET") for a in ("--collection", name)]
    assert main(_nano_argv(nanoaod_files, run, *explicit)) == 0  # the default spelled out: the same run


def test_a_changed_nanoaod_file_is_refused_on_resume(nanoaod_files, tmp_path, capsys):
    import shutil

    files = {k: shutil.copy(v, tmp_path / v.name) for k, v in nanoaod_files.items()}
    run = tmp_path / "run"
    assert main(_nano_argv(files, run)) == 0
    shutil.copy(files["ttbar"], files["wjets"])  # other events under the same name
    capsys.readouterr()
    assert main(_nano_argv(files, run)) == 1  # the same command, other data
    assert "wjets.root" in capsys.readouterr().err


def test_evaluating_one_class_gives_its_efficiency_at_the_runs_cuts(nanoaod_files, tmp_path, capsys):
    """One process alone (a signal sample, a background sample): no ROC, but the efficiency at the
    run's working-point cuts, set on its own test split."""
    import numpy as np

    from pgjets.train.metrics import working_point_cut

    run = tmp_path / "run"
    assert main(_nano_argv(nanoaod_files, run)) == 0
    with np.load(run / "scores.npz") as f:
        ref_logits, ref_y = f["logits"], f["y"]
    for name, cls in (("ttbar", 1), ("wjets", 0)):
        capsys.readouterr()
        assert main(["evaluate", str(run), "--data", f"{name}={nanoaod_files[name]}"]) == 0
        printed = capsys.readouterr().out
        assert f"only class {name}: no ROC" in printed and "at the run's cuts" in printed
        metrics = json.loads((run / "eval" / name / "metrics.json").read_text())
        assert "auc" not in metrics and metrics["class_counts"] == {"wjets": 40 * (1 - cls), "ttbar": 40 * cls}
        with np.load(run / "eval" / name / "scores.npz") as f:
            assert (f["y"] == cls).all() and list(f["label_names"]) == ["wjets", "ttbar"]
            score = f["logits"][:, 1] - f["logits"][:, 0]
        for row in metrics["cuts"]:  # the fraction of this sample above the cut of the run's test split
            cut = working_point_cut(ref_logits, ref_y, row["eps_S"], signal=1, background=0)
            assert row["threshold"] == pytest.approx(cut)
            assert row["efficiency"] == {name: pytest.approx(float((score >= cut).mean()))}
            assert ("rejection" in row) == (name == "wjets")
        assert [row["eps_S"] for row in metrics["cuts"]] == [0.3, 0.5]


@pytest.fixture(scope="module")
def held_out_nanoaod(tmp_path_factory):
    """Other events of the same processes (another seed), one NanoAOD file per process and part."""
    from pgjets.data import read_events, write_nanoaod

    out = tmp_path_factory.mktemp("held_out")
    events = read_events(generate_event_dataset(["ttbar", "wjets"], 30, out / "gen", seed=11, chunk_size=30,
                                                progress=False))
    files = {}
    for i, name in enumerate(["ttbar", "wjets"]):
        process = events[events.label == i]
        for part, rows in (("val", slice(0, 15)), ("test", slice(15, None))):
            files[part, name] = write_nanoaod(process[rows], out / f"{part}_{name}.root")
    return files


def test_event_runs_take_held_out_val_and_test_files(nanoaod_files, held_out_nanoaod, tmp_path, capsys):
    import numpy as np
    import uproot

    h = held_out_nanoaod
    run = tmp_path / "run"
    argv = _nano_argv(nanoaod_files, run, "--val", f"ttbar={h['val', 'ttbar']}", "--val", f"wjets={h['val', 'wjets']}",
                      "--test", f"wjets={h['test', 'wjets']}", "--test", f"ttbar={h['test', 'ttbar']}")
    assert main(argv) == 0
    n_val = sum(uproot.open(h["val", name])["Events"].num_entries for name in ("ttbar", "wjets"))
    n_test = sum(uproot.open(h["test", name])["Events"].num_entries for name in ("ttbar", "wjets"))
    assert f"on 80 events, validating on {n_val}" in capsys.readouterr().out  # all of --data trains
    with np.load(run / "split.npz") as f:
        assert list(f.files) == ["train"] and np.array_equal(f["train"], np.arange(80))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == n_test and metrics["signal"] == "ttbar"  # classes numbered as in --data
    with np.load(run / "scores.npz") as f:  # the --test events, each traceable to its file and entry
        assert np.array_equal(f["index"], np.arange(n_test)) and list(f["label_names"]) == ["wjets", "ttbar"]
        assert [Path(p).name for p in f["files"]] == ["test_wjets.root", "test_ttbar.root"]
        assert np.array_equal(f["y"], f["file_index"])  # wjets (class 0) file first, as --data numbers them
    before = (run / "checkpoints" / "last.pt").read_bytes()
    assert main(argv) == 0 and (run / "checkpoints" / "last.pt").read_bytes() == before  # resumed: done
    assert main(["evaluate", str(run)]) == 0  # the --test events again, fingerprint checked
    assert json.loads((run / "metrics.json").read_text())["n_test"] == n_test
    partial = _nano_argv(nanoaod_files, tmp_path / "r2", "--test", f"ttbar={h['test', 'ttbar']}", "--test",
                         f"wjets={h['test', 'wjets']}")
    assert main(partial) == 0  # --test only: --data is split into train and validation
    with np.load(tmp_path / "r2" / "split.npz") as f:
        assert sorted(f.files) == ["train", "val"] and f["train"].size + f["val"].size == 80
        assert f["val"].size == 20  # 0.6 : 0.2 of the split, renormalised


def test_held_out_event_data_are_checked_before_the_run_folder(nanoaod_files, held_out_nanoaod, jet_folder,
                                                               tmp_path, capsys):
    import shutil

    h = held_out_nanoaod
    cases = [
        (["--val", f"ttbar={h['val', 'ttbar']}"], "--val gives the classes ['ttbar'] but --data ['wjets', 'ttbar']"),
        (["--test", f"ttbar={h['test', 'ttbar']}", "--test", f"zjets={h['test', 'wjets']}"], "'zjets'"),
        (["--val", str(jet_folder)], "--val"),
        (["--test", str(h["test", "ttbar"])], "CLASS=FILE"),
    ]
    for extra, words in cases:
        capsys.readouterr()
        assert main(_nano_argv(nanoaod_files, tmp_path / "bad", *extra)) == 2, extra
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
        assert not (tmp_path / "bad").exists()
    copied = {name: shutil.copy(h["test", name], tmp_path / f"t_{name}.root") for name in ("ttbar", "wjets")}
    run = tmp_path / "run"
    argv = _nano_argv(nanoaod_files, run, "--test", f"ttbar={copied['ttbar']}", "--test", f"wjets={copied['wjets']}")
    assert main(argv) == 0
    shutil.copy(copied["wjets"], copied["ttbar"])  # other test events under the same name
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err
    assert "t_ttbar.root" in err and "was tested on (--test)" in err


def test_jet_settings_are_refused_for_event_runs_and_not_recorded(nanoaod_files, tmp_path, capsys):
    import yaml

    for extra, flag in ((["--feature-set", "angular"], "--feature-set"), (["--process", "w"], "--process"),
                        (["--workers", "2"], "--workers")):
        capsys.readouterr()
        assert main(_nano_argv(nanoaod_files, tmp_path / "bad", *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert f"{flag} is a setting of jet runs" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "bad").exists()
    run = tmp_path / "run"
    assert main(_nano_argv(nanoaod_files, run, "--feature-set", "particlenet")) == 0  # the default: harmless
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert not {"feature_set", "processes", "gen_seed", "fast", "workers", "generate"} & set(cfg)
    before = (run / "checkpoints" / "last.pt").read_bytes()
    old_style = {**cfg, "feature_set": "particlenet", "processes": ["qcd", "top"], "generate": None}
    (run / "config.yaml").write_text(yaml.safe_dump(old_style, sort_keys=False))  # as written before
    assert main(_nano_argv(nanoaod_files, run)) == 0  # resumes: the same settings
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


def test_unlabelled_nanoaod_files_are_scored(nanoaod_files, tmp_path, capsys):
    """Collision data: NanoAOD files without a class and without a label branch get scores, y = -1, and
    the fraction passing each of the run's cuts."""
    import numpy as np

    run = tmp_path / "run"
    assert main(_nano_argv(nanoaod_files, run)) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(nanoaod_files["ttbar"]), "--data",
                 str(nanoaod_files["wjets"])]) == 0
    assert "80 unlabelled: scores only" in capsys.readouterr().out
    out = run / "eval" / "ttbar+wjets"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unlabelled"] == 80 and metrics["class_counts"] == {"wjets": 0, "ttbar": 0}
    assert "accuracy" not in metrics and "auc" not in metrics and not (out / "confusion.png").exists()
    with np.load(out / "scores.npz") as f:
        assert (f["y"] == -1).all() and np.array_equal(f["entry"], np.r_[np.arange(40), np.arange(40)])
        import uproot

        for field in ("run", "luminosityBlock", "event"):  # read back from the files at file_index, entry
            truth = [uproot.open(f["files"][i])["Events"][field].array(library="np")[e]
                     for i, e in zip(f["file_index"], f["entry"])]
            assert f[field].dtype == np.asarray(truth).dtype and np.array_equal(f[field], truth), field
        score = f["logits"][:, 1] - f["logits"][:, 0]
    for row in metrics["cuts"]:
        assert row["efficiency"] == {"unlabelled": pytest.approx(float((score >= row["threshold"]).mean()))}
        assert "rejection" not in row
    capsys.readouterr()
    assert main(["train", "--model", "event_deepsets", "--data", str(nanoaod_files["ttbar"]), "--data",
                 str(nanoaod_files["wjets"]), "--out", str(tmp_path / "r2")]) == 2  # needs classes (exit 2)
    assert "CLASS=FILE" in capsys.readouterr().err


def test_held_out_order_subsets_and_overlap(nanoaod_files, held_out_nanoaod, tmp_path, capsys):
    import numpy as np

    h = held_out_nanoaod
    run = tmp_path / "run"
    test_specs = ["--test", f"wjets={h['test', 'wjets']}", "--test", f"ttbar={h['test', 'ttbar']}"]
    assert main(_nano_argv(nanoaod_files, run, *test_specs)) == 0
    assert "warning" not in capsys.readouterr().err  # nothing shared
    before = (run / "checkpoints" / "last.pt").read_bytes()
    swapped = [test_specs[i] for i in (2, 3, 0, 1)]
    assert main(_nano_argv(nanoaod_files, run, *swapped)) == 0  # the same files in another order: resumed
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    # a --test of one class: numbered as in training, no ROC
    one = tmp_path / "one"
    assert main(_nano_argv(nanoaod_files, one, "--test", f"ttbar={h['test', 'ttbar']}")) == 0
    assert "only class ttbar: no ROC" in capsys.readouterr().out
    with np.load(one / "scores.npz") as f:
        assert (f["y"] == 1).all() and list(f["label_names"]) == ["wjets", "ttbar"]
    # held-out files that are training files: warned, not refused
    leak = tmp_path / "leak"
    assert main(_nano_argv(nanoaod_files, leak, "--test", f"ttbar={nanoaod_files['ttbar']}", "--test",
                           f"wjets={h['test', 'wjets']}")) == 0
    err = capsys.readouterr().err
    assert "warning: --test ttbar.root is also in --data" in err and "test metrics are biased" in err
    assert main(["evaluate", str(run), "--data", f"ttbar={nanoaod_files['ttbar']}"]) == 0
    assert "warning: evaluated ttbar.root is also in the run's --data" in capsys.readouterr().err


def test_a_jet_run_refuses_event_files_and_multiclass_background_working_points(nanoaod_files, jet_folder, tmp_path,
                                                                                  capsys):
    from pgjets.data import read_events, write_nanoaod

    jets = tmp_path / "jets"
    assert main(["train", "--model", "pfn", "--batch-size", "8", "--no-progress", "--data", str(jet_folder),
                 "--epochs", "1", "--out", str(jets)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(jets), "--data", str(nanoaod_files["ttbar"])]) == 2
    assert "hold whole events, but run" in capsys.readouterr().err
    events = read_events(generate_event_dataset(["ttbar", "wjets", "zjets"], 20, tmp_path / "ev3", seed=5,
                                                chunk_size=20, progress=False))
    files = {}
    for i, name in enumerate(["zjets", "wjets", "ttbar"]):
        files[name] = write_nanoaod(events[events.label == ["ttbar", "wjets", "zjets"].index(name)],
                                    tmp_path / f"{name}.root")
    three = tmp_path / "three"
    assert main(["train", "--model", "event_deepsets", "--data", f"zjets={files['zjets']}", "--data",
                 f"wjets={files['wjets']}", "--data", f"ttbar={files['ttbar']}", "--epochs", "1", "--batch-size",
                 "16", "--device", "cpu", "--no-progress", "--out", str(three)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(three), "--working-point", "zjets=0.5"]) == 2  # zjets, first: the background
    assert "it is the background" in capsys.readouterr().err
    assert main(["evaluate", str(three), "--working-point", "ttbar=0.7"]) == 0
    assert json.loads((three / "eval" / "test-wp-ttbar0.7" / "metrics.json").read_text())["rejection"]["ttbar"][
        "signal_efficiency"] == 0.7


def test_report_settings_are_checked_before_training(nanoaod_files, jet_folder, tmp_path, capsys):
    """A bad --signal or --working-point used to be found after the whole training (and --force had
    deleted the old run by then)."""
    def refused(argv, words):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err

    run = tmp_path / "run"
    assert main(_nano_argv(nanoaod_files, run)) == 0
    before = sorted(p.name for p in run.iterdir())
    refused(_nano_argv(nanoaod_files, run, "--force", "--signal", "zjets"), "--signal zjets is not a class")
    refused(_nano_argv(nanoaod_files, run, "--force", "--working-point", "wjets=0.7"), "a binary run measures")
    assert sorted(p.name for p in run.iterdir()) == before  # the old run is untouched
    refused(_nano_argv(nanoaod_files, tmp_path / "new", "--working-point", "zz=0.5"), "not a class of the data")
    assert not (tmp_path / "new").exists()
    jets = ["train", "--model", "pfn", "--batch-size", "8", "--no-progress", "--data", str(jet_folder), "--epochs",
            "1", "--out", str(tmp_path / "jets")]
    refused([*jets, "--working-point", "qcd=0.7"], "a binary run measures")
    assert not (tmp_path / "jets").exists()


def test_evaluation_edge_cases_of_event_files(nanoaod_files, jet_folder, tmp_path, capsys):
    import awkward as ak
    import numpy as np

    from pgjets.data import read_nanoaod_events, write_nanoaod
    from pgjets.run import evaluate_run

    run = tmp_path / "run"
    assert main(_nano_argv(nanoaod_files, run)) == 0
    events = read_nanoaod_events(nanoaod_files["ttbar"])
    write_nanoaod(events[:0], tmp_path / "empty.root")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "empty.root")]) == 2
    assert "holds no events" in capsys.readouterr().err
    labelled = ak.with_field(events, ak.zeros_like(events["MET_pt"], dtype=np.int64), "label")  # no class names
    write_nanoaod(labelled, tmp_path / "labelled.root", drop=())
    assert main(["evaluate", str(run), "--data", str(tmp_path / "labelled.root")]) == 0
    assert "no class names: they are taken as the run's class numbers (0=wjets, 1=ttbar)" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", str(tmp_path / "labelled.root"), "--data",
                 str(nanoaod_files["ttbar"])]) == 2
    assert "mix labelled and unlabelled" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", str(jet_folder / "jets.h5")]) == 2  # jets, not events
    assert "classifies whole events" in capsys.readouterr().err
    from pgjets.errors import DataOverlapWarning

    with pytest.warns(DataOverlapWarning, match="also in the run's --data"):  # a Python warning there
        res = evaluate_run(run, data={"ttbar": nanoaod_files["ttbar"]})  # the Python API takes the mapping
    assert res["metrics"]["class_counts"] == {"wjets": 0, "ttbar": 40}


def test_event_files_are_taken_by_content_on_the_command_line(nanoaod_files, tmp_path, capsys):
    """What StreamedEventDataset reads the CLI takes: ROOT files named TTBAR.ROOT or without suffix, parquet
    of nested records (``ak.to_parquet`` of events with record fields), flat parquet of any collection name."""
    import shutil

    import awkward as ak
    import numpy as np

    from pgjets.data import read_nanoaod_events
    from pgjets.run_events import is_event_data, not_event_data_reason

    tt, wj = shutil.copy(nanoaod_files["ttbar"], tmp_path / "TTBAR.ROOT"), shutil.copy(nanoaod_files["wjets"],
                                                                                       tmp_path / "wjets")
    run = tmp_path / "run"
    assert main(["train", "--model", "event_deepsets", "--data", f"wjets={wj}", "--data", f"ttbar={tt}", "--epochs",
                 "1", "--batch-size", "16", "--device", "cpu", "--no-progress", "--out", str(run)]) == 0
    events = read_nanoaod_events(nanoaod_files["ttbar"])
    nested = {c: ak.zip({f[len(c) + 1:]: events[f] for f in events.fields if f.startswith(c + "_")},
                        depth_limit=None if c != "MET" else 1) for c in ("Muon", "Electron", "Jet", "Photon", "MET")}
    ak.to_parquet(ak.zip(nested, depth_limit=1), tmp_path / "nested_tt")
    genpart = ak.zip({"GenPart_pt": events["Muon_pt"], "GenPart_phi": events["Muon_phi"]}, depth_limit=1)
    ak.to_parquet(genpart, tmp_path / "genpart.parquet")
    assert is_event_data([f"ttbar={tmp_path / 'nested_tt'}", str(tmp_path / "genpart.parquet")])
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", f"ttbar={tmp_path / 'nested_tt'}"]) == 0
    assert "only class ttbar" in capsys.readouterr().out
    with np.load(run / "eval" / "nested_tt" / "scores.npz") as f:
        assert np.array_equal(f["entry"], np.arange(len(events))) and (f["y"] == 1).all()
    ak.to_parquet(ak.Array({"a": [1.0, 2.0]}), tmp_path / "table.parquet")
    assert "table.parquet holds no events: a parquet file without per-event collections" in \
        not_event_data_reason(str(tmp_path / "table.parquet"))


def test_weighted_event_runs_weigh_training_and_metrics(nanoaod_files, jet_folder, tmp_path, capsys):
    """--weight genWeight: recorded, printed, in scores.npz as stored; the AUC and rejections are those of
    the weighted ROC (a per-class scaling does not change them), next to the unweighted ones."""
    import numpy as np
    import uproot

    from pgjets.train.metrics import background_rejection, roc_auc

    run = tmp_path / "w"
    assert main(_nano_argv(nanoaod_files, run, "--weight", "genWeight")) == 0
    out = capsys.readouterr().out
    assert "event weights genWeight: scaled to a mean of 1 per class;" in out and "% of the events negative" in out
    assert "weight: genWeight" in (run / "config.yaml").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["weight"] == "genWeight" and metrics["weight_norm"] == "class"
    with np.load(run / "scores.npz") as f:
        logits, y, w, files, fi, entry, names = (f[k] for k in ("logits", "y", "weight", "files", "file_index", "entry",
                                                                "label_names"))
    stored = {str(p): uproot.open(p)["Events"]["genWeight"].array(library="np") for p in files}
    assert np.array_equal(w, [stored[str(files[i])][e] for i, e in zip(fi, entry)])  # as stored in the files
    assert (w < 0).any()
    sig = list(names).index(metrics["signal"])
    assert metrics["auc"] == pytest.approx(roc_auc(logits, y, sig, sample_weight=w), abs=1e-9)
    for eff in (0.3, 0.5):
        want = background_rejection(logits, y, eff, sig, sample_weight=w)
        got = metrics[f"rej@{eff:g}"]
        assert (got is None and want == float("inf")) or got == pytest.approx(want)  # inf is null in JSON
    assert metrics["unweighted"]["auc"] == pytest.approx(roc_auc(logits, y, sig), abs=1e-12)
    assert metrics["unweighted"]["auc"] != pytest.approx(metrics["auc"], abs=1e-6)
    # the default scaling spelled out is the same run; another scaling is another run
    assert main(_nano_argv(nanoaod_files, run, "--weight", "genWeight", "--weight-norm", "class")) == 0
    capsys.readouterr()
    assert main(_nano_argv(nanoaod_files, run, "--weight", "genWeight", "--weight-norm", "none")) == 2
    assert "weight_norm" in capsys.readouterr().err
    # other data: unweighted on request; a missing weight branch is a bad argument that says so
    assert main(["evaluate", str(run), "--data", f"ttbar={nanoaod_files['ttbar']}", "--weight", "none",
                 "--out", str(tmp_path / "e")]) == 0
    assert "weight" not in json.loads((tmp_path / "e" / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", f"ttbar={nanoaod_files['ttbar']}", "--weight", "Weight",
                 "--out", str(tmp_path / "e2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no per-event field 'Weight'" in err and "'genWeight'" in err and "--weight none" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "e2").exists()
    # settings that need event weights
    assert main(_nano_argv(nanoaod_files, tmp_path / "n", "--weight-norm", "total")) == 2
    assert "give --weight FIELD" in capsys.readouterr().err
    assert main(["train", "--data", str(jet_folder), "--weight", "w", "--epochs", "1",
                 "--out", str(tmp_path / "j")]) == 2
    assert "--weight reads event weights" in capsys.readouterr().err and not (tmp_path / "j").exists()
