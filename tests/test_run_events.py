from __future__ import annotations

import json

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
    assert main(["evaluate", str(run), "--data", str(other)]) == 1  # class 1 is wjets, not zjets
    err = capsys.readouterr().err
    assert "['ttbar', 'wjets']" in err and "['ttbar', 'zjets']" in err
    assert main(["evaluate", str(run), "--data", str(events_dir)]) == 0  # the same classes: fine
