"""The public datasets through ``pgjets train`` / ``evaluate``, on small files written by the tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pgjets.cli import main
from pgjets.data import JetTable

FAST = ["--epochs", "2", "--batch-size", "16", "--no-progress", "--lr", "1e-2"]


def jets(n, seed, classes, pid=True, max_n=12):
    """Random jets; class c is a little wider in angle than class c-1, so that a tagger can learn something."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, classes, n)
    counts = rng.integers(3, max_n, n)
    P = int(counts.sum())
    width = 0.05 + 0.08 * np.repeat(label, counts)
    pt = rng.uniform(1, 50, P)
    eta, phi = rng.normal(0, 1, P) * width, 1.0 + rng.normal(0, 1, P) * width
    pdgid = rng.choice([211, -211, 22, 130, 11, -13, 2112], P) if pid else None
    return JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
                    offsets=np.r_[0, np.cumsum(counts)], label=label, pdgid=pdgid)


def metrics(path):
    def refuse(name):  # strict JSON: no Infinity / NaN
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_landscape_train_val_test_then_evaluate_other_data(tmp_path, fmt, capsys):
    from pgjets.data import write_top_landscape

    for i, (name, n) in enumerate((("train", 160), ("val", 48), ("test", 48), ("other", 40))):
        write_top_landscape(jets(n, i, 2, pid=False), tmp_path / f"{name}.h5", format=fmt, n_part=16)
    run = tmp_path / "RUN"
    assert main(["train", "--model", "particlenet_lite", "--data", str(tmp_path / "train.h5"), "--val",
                 str(tmp_path / "val.h5"), "--test", str(tmp_path / "test.h5"), "--out", str(run), *FAST]) == 0
    own = metrics(run / "metrics.json")
    assert own["n_test"] == 48 and own["signal"] == "top" and 0 <= own["auc"] <= 1
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["inputs"]["input_columns"][:2] == ["deta", "dphi"] and "charge" not in cfg["inputs"]["input_columns"]
    assert cfg["inputs"]["label_names"] == ["qcd", "top"] and cfg["data_fingerprint"]["n_jets"] == 160
    before = (run / "metrics.json").read_bytes()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "other.h5")]) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and str(run / "eval" / "other") in out
    other = metrics(run / "eval" / "other" / "metrics.json")
    assert other["n_test"] == 40 and other["data"] == [str(tmp_path / "other.h5")]
    assert (run / "eval" / "other" / "roc.png").exists()
    assert (run / "metrics.json").read_bytes() == before  # the run's own results stay
    # other data in a file of the same name: its own folder, not over the first evaluation
    (tmp_path / "b").mkdir()
    write_top_landscape(jets(30, 11, 2, pid=False), tmp_path / "b" / "other.h5", format=fmt, n_part=16)
    assert main(["evaluate", str(run), "--data", str(tmp_path / "b" / "other.h5")]) == 0
    assert metrics(run / "eval" / "other-2" / "metrics.json")["data"] == [str(tmp_path / "b" / "other.h5")]
    assert metrics(run / "eval" / "other" / "metrics.json") == other
    assert main(["evaluate", str(run), "--data", str(tmp_path / "other.h5")]) == 0  # the same data: same folder
    assert sorted(p.name for p in (run / "eval").iterdir()) == ["other", "other-2"]
    assert main(["evaluate", str(run), "--data", str(tmp_path / "other.h5"), "--out", str(tmp_path / "ev")]) == 0
    assert metrics(tmp_path / "ev" / "metrics.json")["auc"] == pytest.approx(other["auc"])
    assert main(["evaluate", str(run)]) == 0  # the run's own test data again
    assert metrics(run / "metrics.json")["auc"] == pytest.approx(own["auc"])
    assert cfg["held_out_fingerprints"]["test"]["n_jets"] == 48
    # --test replaced by other jets after training: evaluate refuses, naming the file
    write_top_landscape(jets(30, 9, 2, pid=False), tmp_path / "test.h5", format=fmt, n_part=16)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "test.h5" in err and "no longer match" in err


@pytest.mark.slow
def test_jetclass_glob_ten_classes_end_to_end(tmp_path, capsys):
    from pgjets.data.readers import JETCLASS_LABELS
    from pgjets.data import write_jetclass, write_top_landscape

    for i in range(3):
        t = jets(70, 10 + i, 10)
        write_jetclass(t, tmp_path / f"train_{i:03d}.root", label_names=JETCLASS_LABELS)
    write_jetclass(jets(60, 20, 10), tmp_path / "test_000.root", label_names=JETCLASS_LABELS)
    run = tmp_path / "run"
    assert main(["train", "--model", "pfn", "--data", str(tmp_path / "train_*.root"), "--out", str(run),
                 *FAST]) == 0
    m = metrics(run / "metrics.json")
    assert m["label_names"] == JETCLASS_LABELS and np.array(m["confusion_matrix"]).shape == (10, 10)
    assert np.array(m["confusion_matrix"]).sum() == m["n_test"] == 42  # 20% of 210
    assert set(m["rejection"]) <= set(JETCLASS_LABELS[1:]) and len(m["rejection"]) >= 5
    for name, r in m["rejection"].items():
        assert r["signal_efficiency"] == {"Hqql": 0.99, "Tbl": 0.995}.get(name, 0.5)
    out = capsys.readouterr().out
    assert "macro AUC" in out and "eps_S" in out and "1/eps_B (QCD)" in out
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert "charge" in cfg["inputs"]["input_columns"]  # JetClass carries PID
    assert main(["evaluate", str(run), "--data", str(tmp_path / "test_000.root")]) == 0
    assert metrics(run / "eval" / "test_000" / "metrics.json")["n_test"] == 60
    # per-class working points from the command line, written next to the defaults of the others
    assert main(["evaluate", str(run), "--data", str(tmp_path / "test_000.root"), "--out", str(tmp_path / "wp"),
                 "--working-point", "Tbl=0.9", "--working-point", "Hbb=0.3"]) == 0
    rej = metrics(tmp_path / "wp" / "metrics.json")["rejection"]
    for name, r in rej.items():
        assert r["signal_efficiency"] == {"Tbl": 0.9, "Hbb": 0.3, "Hqql": 0.99}.get(name, 0.5)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "test_000.root"), "--out", str(tmp_path / "wp2"),
                 "--working-point", "Nope=0.5"]) == 2
    assert "not a class of the data" in capsys.readouterr().err
    # a PID-trained model on landscape jets, which carry no PID: refused with one line naming both

    write_top_landscape(jets(20, 30, 2, pid=False), tmp_path / "land.h5", n_part=16)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "land.h5")]) == 2  # a bad argument
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "was trained on 13 columns" in err and "provides 7 columns" in err and "lacks charge" in err


@pytest.mark.slow
def test_quark_gluon_npz_and_kinematic_features(tmp_path):
    from pgjets.data import write_quark_gluon

    t = jets(150, 40, 2)
    write_quark_gluon(t, tmp_path / "QG_jets.npz", compressed=True)
    run = tmp_path / "qg"
    assert main(["train", "--model", "pfn", "--data", str(tmp_path / "QG_jets.npz"), "--feature-set",
                 "kinematic", "--out", str(run), *FAST]) == 0
    m = metrics(run / "metrics.json")
    assert m["signal"] == "quark" and m["n_test"] == 30  # quark = 1, the energy-flow convention
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["inputs"]["feature_set"] == "kinematic" and len(cfg["inputs"]["input_columns"]) == 7
    assert cfg["inputs"]["label_names"] == ["gluon", "quark"]


def test_bad_data_paths_are_one_line_errors(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "train_*.root"), "--out", str(run)]) == 2  # bad arguments
    assert "no file matches" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "test.h5"), "--out", str(run)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not run.exists()
