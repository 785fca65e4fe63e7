"""``pgjets export RUN --onnx FILE``: export a trained run and check it with onnxruntime.

The export itself is :func:`pgjets.export.export_onnx` (needs the ``deploy`` extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..export import OPSET, export_onnx, load_run_model


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pgjets export``."""
    p.add_argument("run", type=Path, help="run folder written by pgjets train")
    p.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which checkpoint to export (default best, falling back to last)")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET})")
    p.add_argument("--check-jets", type=int, default=64,
                   help="test jets of the run on which onnxruntime is compared with PyTorch")


def run_export(args: argparse.Namespace) -> int:
    """``pgjets export RUN --onnx FILE``: export a trained run and check it with onnxruntime."""
    from ..models.padded import has_padded_path, pad_batch

    cfg, model, batch, ckpt = load_run_model(args.run, args.checkpoint, args.check_jets)
    if not has_padded_path(model):
        raise ValueError(f"model {cfg['model']!r} has no padded inference path and cannot be exported to ONNX")
    jets = pad_batch(batch, model.padded_inputs)
    b = jets[-1].size(0)
    # export on a slice, check on all test jets (other jet and particle counts)
    half = max(1, b // 2)
    example = pad_batch(batch.__class__.from_data_list(batch.to_data_list()[:half]), model.padded_inputs)
    report = export_onnx(model, args.onnx, example=example, opset=args.opset, check=[jets])
    print(f"exported {cfg['model']} ({ckpt.name}) to {report.path}: inputs {', '.join(report.input_names)} "
          f"(dynamic jets and particles); onnxruntime vs PyTorch on {b} test jets: "
          f"max abs diff {report.max_abs_diff:.2e}")
    return 0


__all__ = ["add_export_arguments", "run_export"]
