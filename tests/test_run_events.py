from __future__ import annotations

import json

import pytest

from pgjets.cli import main
from pgjets.data.generate_events import generate_event_dataset


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
