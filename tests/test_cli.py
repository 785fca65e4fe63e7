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
    for cmd in ("generate", "train", "evaluate", "demo", "export"):
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


def test_yaml_config_is_merged_with_flags(tmp_path):
    import argparse
    from pathlib import Path

    from pgjets.run import load_config

    example = Path(__file__).resolve().parents[1] / "examples" / "train_particlenet.yaml"
    args = argparse.Namespace(config=example, epochs=3, model=None, data=None, generate=None)
    cfg = load_config(args)
    assert cfg["model"] == "particlenet" and cfg["generate"] == 20000 and cfg["epochs"] == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: pfn\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(argparse.Namespace(config=bad))
