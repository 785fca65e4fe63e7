"""``pgjets export RUN --onnx FILE``: export a trained run and check it with onnxruntime.

The export itself is :func:`pgjets.export.export_onnx` (needs the ``deploy`` extra).
"""

from __future__ import annotations

import argparse

from .._checks import user_path
from ..export import OPSET, export_onnx, load_run_model

#: Largest difference allowed between the padded path and ``model(batch)`` on the run's test jets.
PADDED_TOL = 1e-4


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pgjets export``."""
    p.add_argument("run", type=user_path, help="run folder written by pgjets train")
    p.add_argument("--onnx", type=user_path, required=True, help="output .onnx file")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which checkpoint to export (default best, falling back to last)")
    p.add_argument("--opset", type=_at_least_one, default=OPSET, help=f"ONNX opset (default {OPSET})")
    p.add_argument("--check-jets", type=_at_least_one, default=64,
                   help="test jets of the run on which onnxruntime is compared with PyTorch (>= 1)")


def run_export(args: argparse.Namespace) -> int:
    """``pgjets export RUN --onnx FILE``: export a trained run and check it with onnxruntime.

    Before exporting, the padded path is compared with the model's own ``forward``
    on the test jets; the ONNX file is then checked on those jets and on synthetic
    jets of other sizes.
    """
    import torch

    from ..errors import ExportCheckError, UsageError
    from ..export import example_channels, synthetic_jets
    from ..models.padded import PaddedJetModel, has_padded_path, pad_batch
    from ..models.registry import EVENT_MODELS
    from ..run import read_run_config

    if args.onnx.is_dir():
        raise UsageError(f"--onnx {args.onnx} is a directory: give the .onnx file to write")
    name = read_run_config(args.run).get("model")
    if name in EVENT_MODELS:
        raise UsageError(f"model {name!r} classifies whole events and has no padded path: "
                         "ONNX export covers the jet taggers")
    cfg, model, batch, ckpt = load_run_model(args.run, args.checkpoint, args.check_jets)
    if not has_padded_path(model):
        raise UsageError(f"model {cfg['model']!r} has no padded inference path and cannot be exported to ONNX")
    jets = pad_batch(batch, model.padded_inputs)
    b = jets[-1].size(0)
    with torch.no_grad():
        gap = float((PaddedJetModel(model)(*jets) - model(batch)).abs().max())
    if not gap <= PADDED_TOL:
        raise ExportCheckError(f"the padded path of {cfg['model']!r} differs from its forward by {gap:.3g} "
                               f"> {PADDED_TOL:g} on {b} test jets; {args.onnx} was not written")
    # export on a slice; check on all test jets and on synthetic jets of other counts
    half = max(1, b // 2)
    example = pad_batch(batch.__class__.from_data_list(batch.to_data_list()[:half]), model.padded_inputs)
    other = synthetic_jets(model, 4, [1, 7, 3, 12], in_channels=example_channels(model.padded_inputs, jets), seed=3)
    report = export_onnx(model, args.onnx, example=example, opset=args.opset, check=[jets, other])
    print(f"exported {cfg['model']} ({ckpt.name}) to {report.path}: inputs {', '.join(report.input_names)} "
          f"(dynamic jets and particles); padded path vs forward on {b} test jets: {gap:.2e}; "
          f"onnxruntime vs PyTorch on them and 4 synthetic jets: max abs diff {report.max_abs_diff:.2e}")
    return 0


__all__ = ["add_export_arguments", "run_export", "PADDED_TOL"]
