"""Runs through the command line: reproducible, resumable, guarded against reruns, relocatable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pgjets.cli import main
from pgjets.train import Trainer, load_checkpoint_file

SRC = str(Path(__file__).resolve().parents[1] / "src")
ARGS = ["--model", "pfn", "--batch-size", "8", "--no-progress"]


def train(data, out, *extra):
    return main(["train", *ARGS, "--data", str(data), "--out", str(out), *extra])


def weights(run, name="last.pt"):
    return load_checkpoint_file(Path(run) / "checkpoints" / name)["model"]


def assert_same_run(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    for name in ("history.json", "metrics.json"):
        assert json.loads((Path(a) / name).read_text()) == json.loads((Path(b) / name).read_text())


def snapshot(folder):
    return {p: p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pfn", "particlenet_lite"])
def test_same_seed_in_two_processes_gives_bit_identical_weights_and_metrics(tmp_path, jet_folder, model):
    """Two threads each and both runs at once: ParticleNet's gathers summed their gradients in a
    thread-dependent order (46 of 59 weight tensors differed after 2 epochs)."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "2"}
    args = [a if a != "pfn" else model for a in ARGS]
    procs = [subprocess.Popen([sys.executable, "-m", "pgjets.cli", "train", *args, "--data", str(jet_folder),
                               "--epochs", "2", "--seed", "3", "--out", str(tmp_path / out)],
                              env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for out in ("A", "B")]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()[-2000:]
    assert_same_run(tmp_path / "A", tmp_path / "B")


@pytest.mark.slow
def test_run_interrupted_after_an_epoch_ends_bit_identical(tmp_path, jet_folder, monkeypatch, capsys):
    assert train(jet_folder, tmp_path / "ref", "--epochs", "3") == 0
    real = Trainer.train_epoch

    def killed_in_epoch_2(self, data):
        if self.epoch == 1:  # epoch 1 is done and checkpointed: Ctrl-C in the middle of epoch 2
            raise KeyboardInterrupt
        return real(self, data)

    monkeypatch.setattr(Trainer, "train_epoch", killed_in_epoch_2)
    assert train(jet_folder, tmp_path / "run", "--epochs", "3") == 130
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 1
    monkeypatch.setattr(Trainer, "train_epoch", real)
    assert train(jet_folder, tmp_path / "run", "--epochs", "3") == 0
    assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_evaluating_an_unfinished_run_warns_and_a_resume_flags_its_stale_evaluations(tmp_path, jet_folder,
                                                                                      make_jet_folder, monkeypatch,
                                                                                      capsys):
    real = Trainer.train_epoch

    def killed_in_epoch_2(self, data):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real(self, data)

    run, data = tmp_path / "run", make_jet_folder(tmp_path / "other", n_jets=30, seed=5)
    monkeypatch.setattr(Trainer, "train_epoch", killed_in_epoch_2)
    assert train(jet_folder, run, "--epochs", "3") == 130
    monkeypatch.setattr(Trainer, "train_epoch", real)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(data), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "warning: run" in err and "has trained 1 of 3 epochs" in err
    assert "does not exist (the run has not finished training" in out  # why there are no cuts
    assert train(jet_folder, run, "--epochs", "3") == 0  # resumed
    err = capsys.readouterr().err
    assert "eval holds evaluations of the weights after epoch 1" in err and "epoch 3" in err
    assert main(["evaluate", str(run), "--data", str(data), "--no-progress"]) == 0
    assert "warning" not in capsys.readouterr().err  # finished: no warning, and the cuts are there
    assert "cuts" in json.loads((run / "eval" / "other" / "metrics.json").read_text())


def test_a_run_resumes_on_its_data_moved_elsewhere_and_ends_bit_identical(tmp_path, jet_folder, make_jet_folder,
                                                                           monkeypatch, capsys):
    """Data staged to another path (a node's scratch disk, a symlink) between an interruption and the
    rerun: the same files by content resume the run; other content is other settings."""
    import shutil

    val = make_jet_folder(tmp_path / "val", n_jets=30, seed=4)
    assert train(jet_folder, tmp_path / "ref", "--epochs", "3", "--val", str(val)) == 0
    real = Trainer.train_epoch

    def killed_in_epoch_2(self, data):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real(self, data)

    monkeypatch.setattr(Trainer, "train_epoch", killed_in_epoch_2)
    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "3", "--val", str(val)) == 130
    monkeypatch.setattr(Trainer, "train_epoch", real)
    scratch = tmp_path / "scratch"
    shutil.copytree(jet_folder, scratch / "jets")
    (scratch / "v").symlink_to(val)
    edited = tmp_path / "edited"
    shutil.copytree(jet_folder, edited)
    first = sorted(edited.glob("*.h5"))[0]
    first.write_bytes(first.read_bytes()[:-1] + b"x")
    capsys.readouterr()
    assert train(edited, run, "--epochs", "3", "--val", str(val)) == 2  # other content: not a move
    assert "other settings" in capsys.readouterr().err
    assert train(scratch / "jets", run, "--epochs", "3", "--val", str(scratch / "v")) == 0
    out = capsys.readouterr().out
    assert f"--data moved: {jet_folder.resolve()} -> {(scratch / 'jets').resolve()}" in out and "--val moved" in out
    assert_same_run(tmp_path / "ref", run)
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"] == str((scratch / "jets").resolve())  # evaluate RUN reads the data where they are now
    assert main(["evaluate", str(run)]) == 0
    # moved again after it finished: best.pt was written under another path; the rerun evaluates it
    shutil.copytree(scratch / "jets", tmp_path / "again")
    assert train(tmp_path / "again", run, "--epochs", "3", "--val", str(val)) == 0
    assert "has finished training" in capsys.readouterr().out
    for argv in (["evaluate", str(run)], ["export", str(run), "--onnx", str(tmp_path / "m.onnx")]):
        assert main(argv) == 0, capsys.readouterr().err
    assert_same_run(tmp_path / "ref", run)


def test_rerun_with_other_settings_stops_before_writing_and_force_starts_afresh(tmp_path, jet_folder, capsys):
    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    (run / "notes.txt").write_text("mine")
    before = snapshot(run)
    capsys.readouterr()
    assert train(jet_folder, run, "--epochs", "2", "--lr", "0.01") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "epochs 1 -> 2" in err and "lr 0.003 -> 0.01" in err
    assert "--force" in err
    assert snapshot(run) == before  # nothing written
    # runtime flags are not settings: same settings with --device cpu and a progress bar resume
    assert main(["train", "--model", "pfn", "--batch-size", "8", "--device", "cpu", "--data", str(jet_folder),
                 "--out", str(run), "--epochs", "1"]) == 0
    assert len(json.loads((run / "history.json").read_text())) == 1
    assert train(jet_folder, run, "--epochs", "2", "--force") == 0
    assert len(json.loads((run / "history.json").read_text())) == 2
    assert (run / "notes.txt").read_text() == "mine"  # --force removes only what a run writes


def test_a_second_training_into_a_busy_run_folder_is_refused_before_it_touches_it(tmp_path, jet_folder, capsys):
    from pgjets._lock import folder_lock

    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    before = snapshot(run)
    capsys.readouterr()
    # another process holding the folder: its lock is held by a child that is then killed (-9)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pgjets._lock import folder_lock\n"
                               "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
                               str(run)], env={**os.environ, "PYTHONPATH": SRC}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for extra in ((), ("--epochs", "2", "--force")):  # the same settings and --force alike
            assert train(jet_folder, run, *extra) == 2
            err = capsys.readouterr().err
            assert "another process is training in" in err and str(run) in err
            assert snapshot(run) == before  # nothing read-and-cleared, nothing written
    finally:
        holder.kill()
        holder.wait()
    assert train(jet_folder, run, "--epochs", "2", "--force") == 0  # the killed holder's lock went with it
    assert len(json.loads((run / "history.json").read_text())) == 2
    with folder_lock(run), pytest.raises(Exception, match="another process is training"):
        with folder_lock(run):
            pass


def test_the_run_lock_leaves_no_folder_behind_a_refused_argument(tmp_path):
    from pgjets._lock import folder_lock

    new = tmp_path / "a" / "new"
    with pytest.raises(ZeroDivisionError):
        with folder_lock(new):
            assert new.is_dir()
            1 / 0
    assert not (tmp_path / "a").exists()
    with folder_lock(new):
        (new / "kept").write_text("x")
    assert (new / "kept").exists()


def _parquet_without_labels(jet_folder, path):
    """The jets of ``jet_folder`` as a parquet file with no label field (jets of collision data)."""
    import pyarrow.parquet as pq

    from pgjets.data import open_jets
    from pgjets.data.readers import write_parquet_jets

    write_parquet_jets(open_jets(jet_folder), path)
    table = pq.read_table(path)
    pq.write_table(table.drop(["label"]).replace_schema_metadata(None), path)
    return path


def test_unlabelled_parquet_jets_are_scored_and_refused_for_training(tmp_path, jet_folder, capsys):
    """Jets of collision data: a parquet file without a label field gets scores, y = -1, and the
    fraction passing each of the run's cuts; training on it, or mixing it with labelled jets, is refused."""
    import numpy as np

    from pgjets.data.readers import parquet_has_labels, write_parquet_jets
    from pgjets.data import open_jets

    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    data = _parquet_without_labels(jet_folder, tmp_path / "collisions.parquet")
    labelled = write_parquet_jets(open_jets(jet_folder), tmp_path / "labelled.parquet")
    assert not parquet_has_labels(data) and parquet_has_labels(labelled)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "40 unlabelled: scores only" in out
    dest = run / "eval" / "collisions"
    metrics = json.loads((dest / "metrics.json").read_text())
    assert metrics["unlabelled"] == 40 and metrics["class_counts"] == {"qcd": 0, "top": 0}
    assert "auc" not in metrics and "accuracy" not in metrics
    with np.load(dest / "scores.npz") as f:
        assert (f["y"] == -1).all() and np.array_equal(f["index"], np.arange(40))
        score = f["logits"][:, 1] - f["logits"][:, 0]
    assert len(metrics["cuts"]) == 2
    for row in metrics["cuts"]:
        assert row["efficiency"] == {"unlabelled": pytest.approx(float((score >= row["threshold"]).mean()))}
    assert main(["evaluate", str(run), "--data", str(labelled)]) == 0  # the same jets with their labels
    with np.load(run / "eval" / "labelled" / "scores.npz") as f:
        assert np.array_equal(f["logits"], np.load(dest / "scores.npz")["logits"])
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(data), "--data", str(labelled)]) == 2
    err = capsys.readouterr().err
    assert "mix labelled and unlabelled jets" in err and "collisions.parquet" in err
    for extra in ((), ("--val", str(data))):  # unlabelled --data, or an unlabelled --val: bad arguments
        argv = ["train", *ARGS, "--data", str(data if not extra else jet_folder), *extra, "--out", str(tmp_path / "r2")]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "holds jets without labels" in err and "pgjets evaluate RUN --data" in err
        assert not (tmp_path / "r2").exists()


def test_evaluate_from_another_directory_and_refuses_changed_data(tmp_path, jet_folder, monkeypatch, capsys,
                                                                  make_jet_folder):
    monkeypatch.chdir(tmp_path)
    assert train(Path("data"), Path("run"), "--epochs", "1") == 0  # relative paths as typed
    import yaml

    cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert cfg["data"] == str(jet_folder.resolve())
    assert cfg["data_fingerprint"]["n_jets"] == 40
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)  # a folder of the same name there must not be used
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert "AUC" in capsys.readouterr().out
    make_jet_folder(jet_folder, n_jets=30, seed=5)  # the data are regenerated with other settings
    assert main(["evaluate", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no longer match" in err and "jets.h5" in err
    # and a resume of the run refuses them too
    assert train(jet_folder, tmp_path / "run", "--epochs", "1") == 1
    assert "no longer match" in capsys.readouterr().err


def test_nan_in_a_chunk_file_names_the_file(tmp_path, capsys, make_jet_folder):
    data = make_jet_folder(tmp_path / "data", nan=True)
    assert train(data, tmp_path / "run", "--epochs", "1") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(data / "jets.h5") in err and "NaN" in err


@pytest.mark.parametrize("damage", ["truncate", "random", "flip"])
def test_damaged_checkpoints_are_refused_with_their_path(tmp_path, jet_folder, capsys, damage):
    import numpy as np

    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    for name in ("best.pt", "last.pt"):
        path = run / "checkpoints" / name
        data = bytearray(path.read_bytes())
        if damage == "truncate":
            data = data[: len(data) // 2]
        elif damage == "random":
            data = bytearray(np.random.default_rng(0).bytes(len(data)))
        else:
            data[-100] ^= 0xFF
        path.write_bytes(bytes(data))
    capsys.readouterr()
    for argv, name in ((["evaluate", str(run)], "best.pt"),
                       (["export", str(run), "--onnx", str(tmp_path / "m.onnx")], "best.pt"),
                       (["train", *ARGS, "--data", str(jet_folder), "--out", str(run), "--epochs", "2"], None)):
        if argv[0] == "train":  # a resume (same settings) reads last.pt
            argv[argv.index("--epochs") + 1] = "1"
            (run / "history.json").unlink()
            name = "last.pt"
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(run / "checkpoints" / name) in err, err
        assert "damaged" in err or "not a pgjets checkpoint" in err
        assert ("--force starts the run afresh" in err) == (argv[0] == "train")


def test_full_disk_during_training_keeps_the_last_complete_checkpoint(tmp_path, jet_folder, monkeypatch, capsys):
    import errno

    import pgjets._atomic as atomic

    real_open = open
    saved = []

    def full_after_epoch_1(path, mode="r", *args, **kw):
        if "w" in mode and Path(path).name.startswith(".last.pt"):
            saved.append(path)
            if len(saved) > 1:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kw)

    monkeypatch.setattr(atomic, "open", full_after_epoch_1, raising=False)
    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "3") == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and f"no space left on {run / 'checkpoints'}" in err
    assert load_checkpoint_file(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert not list(run.rglob(".*tmp*"))


def test_force_keeps_generated_jets_only_when_they_would_be_generated_alike(tmp_path):
    import yaml

    from pgjets.errors import SettingsMismatchError
    from pgjets.run import check_rerun, validate_config

    def fake_run(folder, **kw):
        cfg = validate_config({"generate": 50, **kw})
        (folder / "data").mkdir(parents=True, exist_ok=True)
        (folder / "data" / "qcd_00000.h5").write_text("jets")
        (folder / "checkpoints").mkdir(exist_ok=True)
        (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
        return cfg

    run = tmp_path / "run"
    old = fake_run(run)
    assert check_rerun(run, old) == old  # same settings: resume
    with pytest.raises(SettingsMismatchError, match="generate 50 -> 80"):
        check_rerun(run, validate_config({"generate": 80}))
    assert check_rerun(run, validate_config({"generate": 50, "epochs": 3}), force=True) is None
    assert (run / "data" / "qcd_00000.h5").exists() and not (run / "checkpoints").exists()
    assert not (run / "config.yaml").exists()
    fake_run(run)
    check_rerun(run, validate_config({"generate": 80}), force=True)  # other jets: the old ones go
    assert not (run / "data").exists()


def test_repeated_data_flags_train_test_and_evaluate(tmp_path, make_jet_folder, capsys):
    """``--data A --data B`` (the flag is repeatable): training ends with test metrics, evaluate works."""
    a, b = make_jet_folder(tmp_path / "a", seed=0), make_jet_folder(tmp_path / "b", seed=1)
    run = tmp_path / "run"
    argv = ["train", *ARGS, "--data", str(a), "--data", str(b), "--epochs", "1", "--out", str(run)]
    assert main(argv) == 0, capsys.readouterr().err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] > 0
    assert main(["evaluate", str(run)]) == 0, capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["auc"] == metrics["auc"]


def test_metrics_json_is_strict_json():
    """An infinite rejection (no background jet passes) was written as a bare Infinity."""
    from pgjets.train.trainer import strict_json

    text = json.dumps(strict_json({"rej@0.3": float("inf"), "auc": 0.9, "per_class": [1.0, float("nan")],
                                    "nested": {"x": float("-inf")}, "n": 3}), allow_nan=False)
    assert json.loads(text) == {"rej@0.3": None, "auc": 0.9, "per_class": [1.0, None], "nested": {"x": None}, "n": 3}


def test_force_checks_the_new_arguments_before_clearing_and_keeps_data_it_trains_on(tmp_path, jet_folder, capsys):
    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    before = snapshot(run)
    assert train(tmp_path / "missing", run, "--epochs", "1", "--force") == 2  # a typo: the old run stays
    assert train(jet_folder, run, "--epochs", "1", "--signal", "gluon", "--force") == 2
    assert snapshot(run) == before
    assert main(["evaluate", str(run), "--signal", "qcd"]) == 0  # other options: next to the run's results
    assert snapshot(run).items() >= before.items() and (run / "eval" / "test-signal-qcd" / "metrics.json").exists()
    assert train(jet_folder, run, "--epochs", "2", "--force") == 0
    assert not (run / "eval").exists()  # --force clears the old run's evaluations too
    capsys.readouterr()


def test_force_keeps_generated_jets_that_the_new_run_trains_on(tmp_path, jet_folder):
    import shutil

    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    shutil.copytree(jet_folder, run / "data")  # as a --generate run leaves them
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("generate: null", "generate: 20"))
    assert "generate: 20" in config.read_text()
    assert train(run / "data", run, "--epochs", "1", "--force") == 0
    assert (run / "data" / "manifest.json").exists()


def test_generate_refuses_jets_generated_with_other_settings(tmp_path, jet_folder, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(jet_folder, run / "data")  # a manifest that is not of --generate 20 (an interrupted run's)
    rc = main(["train", *ARGS, "--generate", "20", "--epochs", "1", "--out", str(run)])
    assert rc == 1 and "other settings" in capsys.readouterr().err
    assert not (run / "config.yaml").exists()


def test_working_points_of_a_binary_run(tmp_path, jet_folder, capsys):
    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--working-point", "top=0.9"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((run / "eval" / "test-wp-top0.9" / "metrics.json").read_text())
    assert {"rej@0.3", "rej@0.5", "rej@0.9"} <= set(metrics) and "eps_S=0.9" in printed
    assert main(["evaluate", str(run), "--working-point", "top=0.8"]) == 0  # another folder, not overwritten
    assert (run / "eval" / "test-wp-top0.8" / "metrics.json").exists()
    for bad in ("qcd=0.9", "Tbl=0.9"):  # the background, a class the data do not have
        assert main(["evaluate", str(run), "--working-point", bad]) == 2
        assert "--working-point for" in capsys.readouterr().err


def test_scores_file_holds_every_scored_jet_with_its_position(tmp_path, jet_folder, capsys):
    import numpy as np

    from pgjets.data import open_jets

    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    metrics = json.loads((run / "metrics.json").read_text())
    with np.load(run / "scores.npz") as f:
        scores = {k: f[k] for k in f.files}
    with np.load(run / "split.npz") as f:
        test = np.unique(f["test"])
    assert np.array_equal(scores["index"], test) and len(scores["y"]) == metrics["n_test"]
    table = open_jets(jet_folder)
    assert np.array_equal(scores["y"], np.asarray(table.label)[test])  # the right jet at each position
    assert list(scores["label_names"]) == list(table.label_names)
    np.testing.assert_allclose(scores["probabilities"].sum(1), 1.0, rtol=1e-6)
    assert float((scores["logits"].argmax(1) == scores["y"]).mean()) == pytest.approx(metrics["accuracy"])
    assert main(["evaluate", str(run), "--data", str(jet_folder)]) == 0
    out = next((run / "eval").iterdir())
    with np.load(out / "scores.npz") as f:
        assert np.array_equal(f["index"], np.arange(len(table))) and np.array_equal(f["y"], table.label)


def test_a_one_class_validation_file_is_refused_before_training(tmp_path, jet_folder, capsys):
    """The validation AUC chooses the best checkpoint: one class there failed only after epoch 1."""
    import numpy as np

    from pgjets.data import open_jets, write_parquet_jets

    table = open_jets(jet_folder)
    label = np.asarray(table.label)
    top = write_parquet_jets(table.take(np.flatnonzero(label == 1)), tmp_path / "top_only.parquet")
    both = write_parquet_jets(table, tmp_path / "both.parquet")
    capsys.readouterr()
    assert train(jet_folder, tmp_path / "run", "--epochs", "1", "--val", str(top)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "20 validation jets (--val" in err and "top_only.parquet) hold only class top" in err
    assert "give --val files with both classes" in err
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written
    assert train(jet_folder, tmp_path / "run", "--epochs", "1", "--val", str(both)) == 0


def test_evaluations_never_overwrite_other_results(tmp_path, jet_folder, make_jet_folder, capsys):
    """Data in a folder named ``test`` and the run's test split with the same --signal shared
    RUN/eval/test-signal-qcd; --out accepted another run's folder and folders of data files."""
    run, other = tmp_path / "run", tmp_path / "other"
    assert train(jet_folder, run, "--epochs", "1") == 0
    assert train(jet_folder, other, "--epochs", "1", "--seed", "1") == 0
    data = make_jet_folder(tmp_path / "x" / "test", n_jets=30, seed=5)
    for first, second in ((["--data", str(data)], []), ([], ["--data", str(data)])):
        for args in (first, second):
            assert main(["evaluate", str(run), "--signal", "qcd", "--no-progress", *args]) == 0
        a = json.loads((run / "eval" / "test-signal-qcd" / "metrics.json").read_text())
        b = json.loads((run / "eval" / "test-signal-qcd-2" / "metrics.json").read_text())
        assert {a.get("n_test"), b.get("n_test")} == {30, json.loads((run / "metrics.json").read_text())["n_test"]}
        assert ("data" in a) != ("data" in b)  # one of each, neither overwritten
        import shutil

        shutil.rmtree(run / "eval")
    before = snapshot(other)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(data), "--out", str(other)]) == 2
    assert "holds another run" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--out", str(other)]) == 2  # nor its test-split results
    assert "holds another run" in capsys.readouterr().err and snapshot(other) == before
    assert main(["evaluate", str(run), "--data", str(data), "--out", str(data)]) == 2
    assert "holds data" in capsys.readouterr().err and not (data / "scores.npz").exists()
    out = tmp_path / "mine"
    for _ in range(2):  # an earlier evaluation's folder is fine to write again
        assert main(["evaluate", str(run), "--data", str(data), "--out", str(out)]) == 0


def test_evaluating_jets_of_one_class(tmp_path, jet_folder, capsys):
    """A signal-only or background-only file: no ROC, the efficiency at the run's cuts instead."""
    import numpy as np

    from pgjets.data import open_jets, write_parquet_jets

    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    table = open_jets(jet_folder)
    label = np.asarray(table.label)
    write_parquet_jets(table.take(np.flatnonzero(label == 0)), tmp_path / "qcd_only.parquet")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "qcd_only.parquet")]) == 0
    assert "only class qcd: no ROC" in capsys.readouterr().out
    out = run / "eval" / "qcd_only"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["class_counts"] == {"qcd": 20, "top": 0} and not (out / "roc.png").exists()
    with np.load(out / "scores.npz") as f:
        score = f["logits"][:, 1] - f["logits"][:, 0]
    for row in metrics["cuts"]:
        eps_b = float((score >= row["threshold"]).mean())
        assert row["efficiency"] == {"qcd": pytest.approx(eps_b)}
        assert row["rejection"] == (None if eps_b == 0 else pytest.approx(1 / eps_b))
    assert main(["evaluate", str(run), "--data", str(jet_folder)]) == 0  # both classes: ROC and the cuts too
    both = json.loads((run / "eval" / "data" / "metrics.json").read_text())
    assert "auc" in both and [set(r["efficiency"]) for r in both["cuts"]] == [{"qcd", "top"}] * 2
    # files that name only their own class, or the classes in another order (pgjets generate --process top):
    # matched by name, numbered as the run's
    import dataclasses

    top = table.take(np.flatnonzero(label == 1))
    write_parquet_jets(dataclasses.replace(top, label=np.zeros(len(top), dtype=np.int64), label_names=["top"]),
                       tmp_path / "top_named.parquet")
    write_parquet_jets(dataclasses.replace(table, label=1 - label, label_names=["top", "qcd"]),
                       tmp_path / "swapped.parquet")
    assert main(["evaluate", str(run), "--data", str(tmp_path / "top_named.parquet")]) == 0
    with np.load(run / "eval" / "top_named" / "scores.npz") as f:
        assert (f["y"] == 1).all() and list(f["label_names"]) == ["qcd", "top"]
    assert main(["evaluate", str(run), "--data", str(tmp_path / "swapped.parquet")]) == 0
    swapped = json.loads((run / "eval" / "swapped" / "metrics.json").read_text())
    assert swapped["auc"] == both["auc"] and swapped["class_counts"] == both["class_counts"]
    write_parquet_jets(dataclasses.replace(top, label_names=["qcd", "w"]), tmp_path / "other.parquet")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "other.parquet")]) == 2  # other classes: refused
    assert "['qcd', 'w']" in capsys.readouterr().err


def test_etasign_feature_set_is_recorded_and_scores_mirrored_jets_alike(tmp_path, jet_folder, capsys):
    # --feature-set particlenet_etasign: deta times sign(eta_J); a jet and its mirror image (pz -> -pz)
    # get the same scores, which the default feature set does not give
    import dataclasses

    import numpy as np
    import yaml

    from pgjets.data import open_jets, write_jets

    table = open_jets(jet_folder)
    mirrored = tmp_path / "mirrored.h5"
    write_jets(dataclasses.replace(table, pz=-table.pz), mirrored)
    scores = {}
    for fs in ("particlenet", "particlenet_etasign"):
        run = tmp_path / fs
        assert train(jet_folder, run, "--epochs", "1", "--feature-set", fs) == 0
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["feature_set"] == fs and cfg["inputs"]["feature_set"] == fs
        for name, data in (("plain", jet_folder / "jets.h5"), ("mirrored", mirrored)):
            assert main(["evaluate", str(run), "--data", str(data), "--out", str(tmp_path / f"{fs}-{name}")]) == 0
            with np.load(tmp_path / f"{fs}-{name}" / "scores.npz") as f:
                scores[fs, name] = f["logits"]
    np.testing.assert_array_equal(scores["particlenet_etasign", "mirrored"], scores["particlenet_etasign", "plain"])
    assert not np.array_equal(scores["particlenet", "mirrored"], scores["particlenet", "plain"])
    # the two feature sets are two settings: a rerun with the other one stops, naming it
    capsys.readouterr()
    assert train(jet_folder, tmp_path / "particlenet", "--epochs", "1", "--feature-set", "particlenet_etasign") == 2
    assert "feature_set 'particlenet' -> 'particlenet_etasign'" in capsys.readouterr().err


def test_evaluate_takes_no_progress_and_shows_a_bar_otherwise(tmp_path, jet_folder, monkeypatch):
    import pgjets.train.trainer as trainer_module

    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    seen = []
    real = trainer_module._progress

    def spy(iterable, total, desc, enabled):
        seen.append((desc, total, enabled))
        return real(iterable, total, desc, enabled)

    monkeypatch.setattr(trainer_module, "_progress", spy)
    assert main(["evaluate", str(run)]) == 0
    assert main(["evaluate", str(run), "--no-progress"]) == 0
    assert seen == [("predict", 1, True), ("predict", 1, False)]  # 8 test jets: one batch of 8


def test_evaluation_folders_tell_files_of_one_name_apart_by_their_folders():
    from pgjets.run import _eval_name

    assert _eval_name(["/d/test_000.h5", "/d/test_001.h5"]) == "test_000+test_001"
    assert _eval_name(["wjets=/a/sig/nano_1.root", "ttbar=/a/bkg/nano_1.root"]) == "sig_nano_1+bkg_nano_1"


def test_evaluations_with_another_signal_keep_their_own_folder_and_cuts_say_why_they_are_missing(
        tmp_path, jet_folder, make_jet_folder, capsys):
    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1") == 0
    other = make_jet_folder(tmp_path / "other", seed=3)
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    assert main(["evaluate", str(run), "--data", str(other), "--signal", "qcd"]) == 0
    assert json.loads((run / "eval" / "other" / "metrics.json").read_text())["signal"] == "top"  # kept
    assert json.loads((run / "eval" / "other-signal-qcd" / "metrics.json").read_text())["signal"] == "qcd"
    capsys.readouterr()
    (run / "scores.npz").write_bytes((run / "scores.npz").read_bytes()[:300])  # damaged
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    out = capsys.readouterr().out
    assert "no cuts:" in out and "is damaged" in out and "(re)writes it" in out
    assert "cuts" not in json.loads((run / "eval" / "other" / "metrics.json").read_text())
    (run / "scores.npz").unlink()  # a run from before scores.npz
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    assert "does not exist" in json.loads((run / "eval" / "other" / "metrics.json").read_text())["cuts_note"]
    assert main(["evaluate", str(run)]) == 0  # writes it again: the cuts are back
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    assert "cuts" in json.loads((run / "eval" / "other" / "metrics.json").read_text())
    second = tmp_path / "second"  # the same classes, other weights: its scores do not set this run's cuts
    assert train(jet_folder, second, "--epochs", "2") == 0
    (run / "scores.npz").write_bytes((second / "scores.npz").read_bytes())
    assert main(["evaluate", str(run), "--data", str(other)]) == 0
    note = json.loads((run / "eval" / "other" / "metrics.json").read_text())["cuts_note"]
    assert "the scores of other weights" in note


def test_multiclass_runs_refuse_signal_and_evaluate_warns_of_recorded_overlap(tmp_path, jet_folder, capsys):
    import shutil

    import numpy as np

    from pgjets.errors import UsageError
    from pgjets.run import _eval_name, check_report_settings

    with pytest.raises(UsageError, match="applies to binary runs"):
        check_report_settings(["qcd", "top", "w"], "top", None)
    with pytest.raises(UsageError, match="it is the background"):
        check_report_settings(["qcd", "top", "w"], None, {"qcd": 0.5})
    check_report_settings(["qcd", "top", "w"], None, {"w": 0.7})
    assert _eval_name(["/x/Run2018D/*.root"]) == "Run2018D"  # a glob: named after its folder
    copy = tmp_path / "copy"
    shutil.copytree(jet_folder, copy)
    run = tmp_path / "run"
    assert train(jet_folder, run, "--epochs", "1", "--test", str(copy)) == 0
    assert "warning: --test jets.h5 is also in --data" in capsys.readouterr().err
    assert main(["evaluate", str(run)]) == 0  # the recorded overlap: warned again
    assert "warning: --test jets.h5 is also in --data" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", str(copy / "jets.h5"), "--data", str(jet_folder / "jets.h5")]) == 0
    err = capsys.readouterr().err
    assert "have the same content: their jets are scored twice" in err
    with np.load(next((run / "eval").iterdir()) / "scores.npz") as f:
        assert len(f["y"]) == 80
