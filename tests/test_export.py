"""ONNX export (``pgjets.export``, ``pgjets export``): onnxruntime reproduces PyTorch.

The models are exported with one batch size and particle count and run with
others (dynamic axes), on random and on trained weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgjets.cli import main
from pgjets.errors import ExportCheckError
from pgjets.export import export_onnx, onnx_max_abs_diff, synthetic_jets
from pgjets.models import PaddedJetModel, pad_batch, build_model

F = 7


@pytest.mark.parametrize("name", [pytest.param("particlenet", marks=pytest.mark.slow),
                                  pytest.param("part", marks=pytest.mark.slow), "pfn"])
def test_onnx_matches_pytorch_with_dynamic_jets_and_particles(name, tmp_path, batch_of, small_model):
    import onnxruntime as ort  # the deploy extra (CI installs it)

    model = small_model(name, trained=True)  # non-trivial batch-norm statistics
    path = tmp_path / f"{name}.onnx"
    example = pad_batch(batch_of([6, 10]), model.padded_inputs)  # B = 2, N = 10
    report = export_onnx(model, path, example=example)
    assert path.exists() and report.max_abs_diff < 1e-4
    assert report.input_names == (*model.padded_inputs, "mask")
    assert {shape for shape in report.checked_shapes} == {(5, 30), (1, 4)}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == list(report.input_names)
    for arg in sess.get_inputs():  # jets and particles are symbolic (dynamic) axes
        assert all(isinstance(d, str) for d in arg.shape[:2]), (arg.name, arg.shape)
    # real ragged jets: other B and N than the export example, one smaller than k, one alone
    for sizes in ([9, 3, 14, 1, 6, 25, 8], [2]):
        b = batch_of(sizes, seed=len(sizes))
        inputs = pad_batch(b, model.padded_inputs)
        got = sess.run(None, {n: t.numpy() for n, t in zip(report.input_names, inputs)})[0]
        with torch.no_grad():
            ref = model(b).numpy()  # the reference (sparse) path
        assert got.shape == ref.shape == (len(sizes), 2)
        assert np.abs(got - ref).max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efn", "deepsets", "set_transformer", "gcn", "gridcnn", "lorentznet", "particlenet_inv_lite"])
def test_onnx_other_models(name, tmp_path):
    model = build_model(name, F, 2).eval()
    report = export_onnx(model, tmp_path / "m.onnx")
    assert report.max_abs_diff < 1e-4 and len(report.checked_shapes) == 2


def test_export_errors(tmp_path):
    from pgjets.errors import InputDtypeError, UsageError

    with pytest.raises(UsageError, match="no padded"):
        export_onnx(torch.nn.Linear(F, 2), tmp_path / "linear.onnx")
    model = build_model("pfn", F, 2).eval()
    with pytest.raises(ValueError, match="must hold 2 tensors"):
        export_onnx(model, tmp_path / "pfn.onnx", example=synthetic_jets(model, 2, 3)[:1])
    with pytest.raises(InputDtypeError, match="float64"):
        export_onnx(model, tmp_path / "pfn.onnx", example=tuple(t.double() for t in synthetic_jets(model, 2, 3)))
    with pytest.raises(UsageError, match="directory"):
        export_onnx(model, tmp_path)
    assert not (tmp_path / "pfn.onnx").exists()


def test_onnx_max_abs_diff_sees_a_wrong_model(tmp_path):
    model = build_model("pfn", F, 2).eval()
    (tmp_path / "pfn.onnx").write_text("previous")
    with pytest.raises(ExportCheckError, match="was not written"):
        export_onnx(model, tmp_path / "pfn.onnx", check_tol=-1.0)  # a check that cannot pass
    assert (tmp_path / "pfn.onnx").read_text() == "previous" and len(list(tmp_path.iterdir())) == 1
    report = export_onnx(model, tmp_path / "pfn.onnx")
    other = build_model("pfn", F, 2).eval()  # other random weights
    diff = onnx_max_abs_diff(report.path, PaddedJetModel(other), synthetic_jets(other, 3, [4, 2, 7]))
    assert diff > 1e-3


def _tiny_run(tmp_path, model):
    from pgjets.data import write_jets, JetTable
    from pgjets.data.jet_io import write_manifest

    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir()
    counts = rng.integers(3, 25, 40)
    P = int(counts.sum())
    pt = rng.uniform(1, 50, P)
    eta, phi = rng.normal(0, 0.3, P), rng.normal(0, 0.3, P)
    t = JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
                 offsets=np.r_[0, np.cumsum(counts)], label=rng.integers(0, 2, 40),
                 pdgid=rng.choice([211, -211, 22, 130, 11], P), label_names=["qcd", "top"])
    write_jets(t, d / "jets.h5")
    write_manifest(d, {"files": ["jets.h5"], "label_names": ["qcd", "top"]})
    run = tmp_path / "run"
    rc = main(["train", "--model", model, "--data", str(d), "--epochs", "1", "--batch-size", "8",
               "--no-progress", "--out", str(run)])
    assert rc == 0
    return run


def test_cli_export_of_a_trained_run(tmp_path, capsys):
    run = _tiny_run(tmp_path, "pfn")
    out = tmp_path / "deploy" / "pfn.onnx"
    assert main(["export", str(run), "--onnx", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.exists() and "max abs diff" in text
    diff = float(text.rsplit("max abs diff", 1)[1].strip())
    assert diff < 1e-4
    assert not list(out.parent.glob(".*tmp*"))  # written atomically, nothing left behind


def test_cli_export_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing"), "--onnx", str(tmp_path / "m.onnx")]) == 2  # a bad argument
    assert "not a run folder" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--onnx", str(tmp_path)]) == 2  # an existing folder as the file
    assert "is a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path), "--onnx", "m.onnx", "--check-jets", "0"])
    assert "must be >= 1" in capsys.readouterr().err


def test_cli_export_of_an_event_run_is_refused_before_reading_data(tmp_path, capsys):
    import yaml

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"model": "event_deepsets", "data": str(tmp_path / "gone")}))
    assert main(["export", str(run), "--onnx", str(tmp_path / "e.onnx")]) == 2
    assert "whole events" in capsys.readouterr().err


def test_export_reads_in_channels_from_the_example_and_checks_the_opset(tmp_path):
    model = build_model("particlenet_inv_lite", F, 2).eval()  # its first Linear does not take F inputs
    example = synthetic_jets(model, 2, [3, 6], in_channels=F)
    report = export_onnx(model, tmp_path / "inv.onnx", example=example)
    assert report.max_abs_diff < 1e-4
    pfn = build_model("pfn", F, 2).eval()
    with pytest.raises(ExportCheckError, match="opset 5"):
        export_onnx(pfn, tmp_path / "old.onnx", opset=5)
    assert not (tmp_path / "old.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["particlenet_lite", "part_lite"])
def test_cli_export_of_trained_particlenet_and_part(tmp_path, capsys, model):
    run = _tiny_run(tmp_path, model)
    assert main(["export", str(run), "--onnx", str(tmp_path / "m.onnx"), "--checkpoint", "last"]) == 0
    diff = float(capsys.readouterr().out.rsplit("max abs diff", 1)[1].strip())
    assert diff < 1e-4
