from __future__ import annotations

import json

import pytest

from pgjets.cli import main


def test_help_and_no_command(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("generate", "train", "evaluate", "demo"):
        assert cmd in out


def test_errors_are_clean_messages(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing")]) == 1
    assert "not a run folder" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_train_then_evaluate_on_generated_jets(tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--model", "pfn", "--generate", "40", "--epochs", "2", "--batch-size", "16",
               "--workers", "1", "--no-progress", "--out", str(run)])
    assert rc == 0
    assert (run / "checkpoints" / "last.pt").exists() and (run / "roc.png").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["auc"] <= 1.0 and metrics["n_test"] == 16
    assert main(["evaluate", str(run)]) == 0
    assert "AUC" in capsys.readouterr().out
