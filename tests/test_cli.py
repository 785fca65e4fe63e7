from __future__ import annotations

import json
import re

import pytest
import torch

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
    assert main(["evaluate", str(tmp_path / "missing")]) == 2  # a bad argument too
    assert "not a run folder" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]) == 2  # a bad argument
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


NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="--device cuda is valid on a machine with a GPU")
T = ["train", "--model", "pfn", "--data", "{data}", "--out", "{out}"]
G = ["generate", "--process", "qcd", "--n-jets", "5", "--out", "{out}"]
GE = ["generate", "--events", "ttbar", "--n-events", "5", "--out", "{out}"]
#: Bad arguments: (argv, a word the one-line message must hold); {data}, {out}, {file}, {cfg_*} are filled in.
BAD_ARGUMENTS = [
    pytest.param(["train", "--model", "nosuch", "--data", "{data}", "--out", "{out}"], "model", id="unknown-model"),
    pytest.param(T + ["--epochs", "0"], "--epochs", id="epochs-0"),
    pytest.param(T + ["--epochs", "two"], "--epochs", id="epochs-text"),
    pytest.param(T + ["--batch-size", "0"], "--batch-size", id="batch-size-0"),
    pytest.param(T + ["--lr", "-0.1"], "--lr", id="negative-lr"),
    pytest.param(T + ["--max-jets", "0"], "--max-jets", id="max-jets-0"),
    pytest.param(T + ["--max-jets", "-5"], "--max-jets", id="max-jets-negative"),
    pytest.param(T + ["--config", "{cfg_type}"], "epochs in", id="yaml-wrong-type"),
    pytest.param(T + ["--config", "{cfg_key}"], "unknown keys", id="yaml-unknown-key"),
    pytest.param(T + ["--config", "{cfg_list}"], "mapping", id="yaml-not-a-mapping"),
    pytest.param(T + ["--device", "cuda"], "cuda", id="cuda-without-gpu", marks=NO_GPU),
    pytest.param(T + ["--device", "gpu"], "--device", id="unknown-device"),
    pytest.param(["train", "--model", "pfn", "--generate", "0", "--out", "{out}"], "--generate", id="generate-0"),
    pytest.param(["train", "--model", "pfn", "--generate", "5", "--process", "qcd", "--process", "qcd",
                  "--out", "{out}"], "--process", id="duplicate-process"),
    pytest.param(["train", "--model", "pfn", "--generate", "5", "--process", "higgs", "--out", "{out}"],
                 "processes", id="unknown-process"),
    pytest.param(["train", "--model", "pfn", "--data", "{data}", "--out", "{file}"], "is a file", id="out-is-a-file"),
    pytest.param(["train", "--model", "pfn", "--data", "{file}", "--out", "{out}"], "is a file", id="data-is-a-file"),
    pytest.param(["train", "--model", "pfn", "--out", "{out}"], "--data", id="no-data"),
    pytest.param(["train", "--model", "pfn", "--data", "{out}_missing", "--out", "{out}"], "does not exist",
                 id="data-does-not-exist"),
    pytest.param(["train", "--model", "pfn", "--data", "{data}", "--val", "{out}_missing", "--out", "{out}"],
                 "--val", id="val-does-not-exist"),
    pytest.param(["evaluate", "{out}", "--data", "{out}_missing"], "does not exist", id="evaluate-data-does-not-exist"),
    pytest.param(["train", "--model", "pfn", "--data", "{data}", "--signal", "bogus", "--out", "{out}"],
                 "--signal bogus is not a class", id="signal-not-a-class"),
    pytest.param(["evaluate", "{out}", "--data", "{file}"], "is a file", id="evaluate-data-is-a-file"),
    pytest.param(["train", "--model", "pfn", "--data", "{data}", "--working-point", "Tbl", "--out", "{out}"],
                 "CLASS=EFF", id="working-point-without-efficiency"),
    pytest.param(["train", "--model", "pfn", "--data", "{data}", "--working-point", "Tbl=1.5", "--out", "{out}"],
                 "CLASS=EFF", id="working-point-out-of-range"),
    pytest.param(G[:4] + ["--n-jets", "0", "--out", "{out}"], "--n-jets", id="generate-n-jets-0"),
    pytest.param(G + ["--process", "qcd"], "--process", id="generate-duplicate-process"),
    pytest.param(G + ["--workers", "0"], "--workers", id="generate-workers-0"),
    pytest.param(["generate", "--process", "qcd", "--n-jets", "5", "--out", "{file}"], "is a file",
                 id="generate-out-is-a-file"),
    pytest.param(["generate", "--process", "higgs", "--n-jets", "5", "--out", "{out}"], "--process",
                 id="generate-unknown-process"),
    pytest.param(["export", "{out}", "--onnx", "m.onnx", "--checkpoint", "worst"], "--checkpoint",
                 id="export-bad-checkpoint"),
    pytest.param(GE[:4] + ["--n-events", "-3", "--out", "{out}"], "--n-events", id="events-n-events-negative"),
    pytest.param(GE + ["--events", "ttbar"], "--events", id="events-duplicate-process"),
    pytest.param(GE + ["--workers", "0"], "--workers", id="events-workers-0"),
    pytest.param(GE + ["--seed", "-1"], "--seed", id="events-negative-seed"),
    pytest.param(GE + ["--chunk-size", "0"], "--chunk-size", id="events-chunk-size-0"),
    pytest.param(GE[:5] + ["--out", "{file}"], "is a file", id="events-out-is-a-file"),
    pytest.param(GE + ["--format", "landscape"], "--format", id="events-format-landscape"),
    pytest.param(["evaluate", "{out}_missing"], "is not a run folder", id="evaluate-not-a-run"),
    pytest.param(["train", "--config", "{out}_missing.yaml", "--out", "{out}"], "config file",
                 id="config-does-not-exist"),
    pytest.param(["train", "--model", "pfn", "--data", "{empty}", "--out", "{out}"], "neither manifest.json",
                 id="data-folder-without-data"),
]


@pytest.mark.parametrize("argv, word", BAD_ARGUMENTS)
def test_every_bad_argument_exits_2_with_one_line(tmp_path, jet_folder, capsys, argv, word):
    files = {"data": jet_folder, "out": tmp_path / "run", "file": tmp_path / "a_file.txt",
             "cfg_type": tmp_path / "type.yaml", "cfg_key": tmp_path / "key.yaml", "cfg_list": tmp_path / "list.yaml",
             "empty": tmp_path / "empty"}
    files["empty"].mkdir()
    files["file"].write_text("not a folder")
    files["cfg_type"].write_text("epochs: ten\n")
    files["cfg_key"].write_text("epochs: 2\nlearning_rate: 0.1\n")
    files["cfg_list"].write_text("- epochs\n")
    argv = [a.format(**files) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in captured.err + captured.out
    assert word in err, err
    assert not files["out"].exists()  # nothing was written


def test_bad_argument_in_a_fresh_process_prints_no_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "-m", "pgjets.cli", "train", "--model", "pfn", "--generate", "5",
                          "--epochs", "0", "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == ["pgjets train: error: --epochs must be an integer >= 1, got 0"]



@pytest.mark.parametrize("workers", [1, 2])
def test_full_disk_during_generate_is_one_line_and_keeps_complete_chunks(tmp_path, monkeypatch, capsys, workers):
    import errno
    from pathlib import Path

    import numpy as np

    import pgjets._atomic as atomic
    import pgjets.data.generate as generate
    from pgjets.data import read_jets, JetTable

    def fake_chunk(process, n, seed, chunk, fast, label, progress=None):  # no Pythia: a few random jets
        rng = np.random.default_rng(chunk)
        counts = rng.integers(3, 9, n)
        p = rng.uniform(1, 9, (int(counts.sum()), 3))
        return JetTable(px=p[:, 0], py=p[:, 1], pz=p[:, 2], E=np.linalg.norm(p, axis=1) + 1,
                        offsets=np.r_[0, np.cumsum(counts)], label=np.full(n, label))

    real_open = open

    def full_after_first_chunk(path, mode="r", *args, **kw):
        if "w" in mode and not Path(path).name.startswith(".qcd_00000"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kw)

    monkeypatch.setattr(generate, "_generate_chunk", fake_chunk)
    monkeypatch.setattr(atomic, "open", full_after_first_chunk, raising=False)
    out = tmp_path / "jets"
    rc = main(["generate", "--process", "qcd", "--n-jets", "30", "--chunk-size", "10", "--workers", str(workers),
               "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.splitlines() == [err] and f"no space left on {out}" in err
    kept = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    if workers == 1:  # with a pool, chunk 0 may still have been running when the pool stopped
        assert kept == ["qcd_00000.h5"] and not list(out.glob(".*"))  # no manifest, no temporary files
    assert set(kept) <= {"qcd_00000.h5"}
    for name in kept:
        assert len(read_jets(out / name)) == 10  # what is there is complete

def test_interrupt_while_the_commands_are_imported_is_one_line(monkeypatch, capsys):
    import pgjets.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["train"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "pgjets: interrupted" and "Traceback" not in err


def test_the_model_help_and_training_docs_name_every_registered_model(capsys):
    from pathlib import Path

    from pgjets.models import EVENT_MODELS, MODELS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    model_help = text.split("--model MODEL", 2)[2].split("--data PATH")[0]
    names = set(re.split(r"[\s,;:()]+", model_help))
    docs = (Path(__file__).resolve().parents[1] / "docs" / "training.rst").read_text()
    for name in [*MODELS, *EVENT_MODELS]:
        assert name in names, name
        assert f"``{name}``" in docs, name


def test_a_quoted_tilde_in_path_arguments_is_the_home_folder(tmp_path, jet_folder, monkeypatch):
    """``--out '~/runs/a'`` (quoted, so the shell left it) made a folder named ``~`` in the working directory."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert main(["train", "--model", "pfn", "--batch-size", "8", "--epochs", "1", "--no-progress",
                 "--data", str(jet_folder), "--out", "~/runs/a"]) == 0
    assert (home / "runs" / "a" / "metrics.json").exists() and not (work / "~").exists()
    assert main(["evaluate", "~/runs/a", "--data", str(jet_folder), "--out", "~/eval"]) == 0
    assert (home / "eval" / "metrics.json").exists()


def test_split_is_a_flag(tmp_path, jet_folder, capsys):
    """The one-class validation message told users to change ``--split``, a YAML key only."""
    import numpy as np
    import yaml

    run = tmp_path / "run"
    assert main(["train", "--model", "pfn", "--batch-size", "8", "--epochs", "1", "--no-progress",
                 "--data", str(jet_folder), "--split", "0.5", "0.25", "0.25", "--out", str(run)]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["split"] == [0.5, 0.25, 0.25]
    with np.load(run / "split.npz") as f:
        assert [f[k].size for k in ("train", "val", "test")] == [20, 10, 10]
    capsys.readouterr()
    assert main(["train", "--model", "pfn", "--data", str(jet_folder), "--split", "0.5", "0.5", "0.5",
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "--split" in err and "summing to 1" in err


def test_train_says_which_epoch_it_scored(jet_folder, tmp_path, capsys):
    """The test metrics come from the best checkpoint by val_auc: the summary names its epoch."""
    run = tmp_path / "run"
    assert main(["train", "--model", "pfn", "--data", str(jet_folder), "--epochs", "3", "--batch-size", "8",
                 "--device", "cpu", "--no-progress", "--out", str(run)]) == 0
    history = json.loads((run / "history.json").read_text())
    aucs = [h["val_auc"] for h in history]
    best = aucs.index(max(aucs))  # the first epoch with the highest val_auc
    tail = "" if best == 2 else f"; last epoch {aucs[2]:.4g}"
    assert (f"scored: the best checkpoint, epoch {best + 1} of 3 by val_auc ({aucs[best]:.4g}{tail})"
            in capsys.readouterr().out)
    from pgjets.run import best_checkpoint_note

    assert "stale" not in best_checkpoint_note(run)
    # a best.pt older than the best epoch of the history (a kill between the checkpoint writes, before
    # last.pt was written last) is named
    stale = [{**h, "val_auc": (0.99 if h["epoch"] == 3 and best != 2 else h["val_auc"])} for h in history]
    if best == 2:  # the last epoch was the best: make the first one better
        stale[0]["val_auc"] = 0.99
    (run / "history.json").write_text(json.dumps(stale))
    note = best_checkpoint_note(run)
    assert "had a better val_auc (0.99): best.pt is stale" in note and "--force" in note
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0  # evaluation warns too, and scores what best.pt holds
    err = capsys.readouterr().err
    assert "warning:" in err and "best.pt holds epoch" in err and "best.pt is stale" in err
    (run / "history.json").unlink()
    assert best_checkpoint_note(run) is None
