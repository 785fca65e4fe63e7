r"""Deployment: ONNX export of the jet taggers (the ``pgjets export`` command is :mod:`pgjets.cli.export`).

A model is exported through its padded, tensor-only path
(:class:`~pgjets.models.padded.PaddedJetModel`): the ONNX graph takes

.. math::
    (\text{field}_1, \dots, \text{field}_k, M), \qquad
    \text{field} \in \{X_{B \times N \times F},\ \text{pos}_{B \times N \times 2},\
    p_{T,\,B \times N},\ p_{4,\,B \times N \times 4}\},\quad M \in \{0,1\}^{B \times N},

in the order of ``model.padded_inputs`` (ParticleNet ``x, pos, mask``; ParT
``x, p4, mask``; PFN ``x, mask``) and returns the logits :math:`(B, K)`.  The
number of jets :math:`B` and of particles :math:`N` are dynamic axes.  Pad
ragged jets with :func:`~pgjets.models.padded.pad_batch` (zeros, ``mask``
``False`` on the padding).

After writing, :func:`export_onnx` runs the file with onnxruntime on inputs of
*other* sizes than the export example and compares with PyTorch.

Needs the ``deploy`` extra (``onnx``, ``onnxscript``, ``onnxruntime``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from ._atomic import atomic_output
from ._checks import require
from .errors import ExportCheckError, InputShapeError, UsageError

if TYPE_CHECKING:  # torch_geometric is imported lazily: `pgjets --help` stays fast
    from .models.padded import PaddedJetModel

#: Default ONNX opset.
OPSET = 18


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote and how well onnxruntime reproduces PyTorch."""

    path: Path
    input_names: tuple[str, ...]
    max_abs_diff: float
    checked_shapes: list[tuple[int, int]]


def synthetic_jets(model: nn.Module, num_jets: int, num_particles: Union[int, Sequence[int]],
                   in_channels: Optional[int] = None, seed: int = 0) -> tuple[Tensor, ...]:
    r"""Random padded jets for the fields of ``model.padded_inputs`` (export examples and checks).

    Jet :math:`b` has ``num_particles[b]`` valid particles (an int gives every jet
    the same count); ``p4`` is a physical four-momentum (:math:`E > |\vec p|`),
    ``pt`` positive.

    Shapes:
        - **output:** ``(fields..., mask)`` with leading shape :math:`(B, \max n_b)`
    """
    from .models.padded import has_padded_path

    if not has_padded_path(model):
        raise UsageError(f"{type(model).__name__} has no padded path (padded_inputs, forward_padded)")
    counts = [int(num_particles)] * num_jets if isinstance(num_particles, int) else [int(c) for c in num_particles]
    if len(counts) != num_jets:
        raise ValueError(f"num_particles names {len(counts)} jets, expected {num_jets}")
    g = torch.Generator().manual_seed(seed)
    n = max(max(counts), 1)
    mask = torch.arange(n).view(1, -1) < torch.tensor(counts).view(-1, 1)
    m = mask.unsqueeze(-1).float()
    out: list[Tensor] = []
    for name in model.padded_inputs:
        if name == "x":
            f = in_channels if in_channels is not None else _in_channels(model)
            out.append(torch.randn(num_jets, n, f, generator=g) * m)
        elif name == "pos":
            out.append(0.3 * torch.randn(num_jets, n, 2, generator=g) * m)
        elif name == "pt":
            out.append((1.0 + 50.0 * torch.rand(num_jets, n, generator=g)) * mask)
        elif name == "p4":
            p = 20.0 * torch.randn(num_jets, n, 3, generator=g)
            e = p.norm(dim=-1, keepdim=True) * 1.01 + 0.1
            out.append(torch.cat([e, p], -1) * m)
        elif name == "adj":
            pair = mask.unsqueeze(2) & mask.unsqueeze(1) & ~torch.eye(n, dtype=torch.bool)
            out.append((torch.rand(num_jets, n, n, generator=g) < 0.3).float() * pair)
        elif name == "image":  # n x n sparse images with one channel; the mask marks non-zero pixels
            c = in_channels if in_channels is not None else 1
            img = torch.rand(num_jets, c, n, n, generator=g) * (torch.rand(num_jets, 1, n, n, generator=g) < 0.3)
            return img, (img != 0).any(1, keepdim=True)
    return (*out, mask)


def _in_channels(model: nn.Module) -> int:
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm1d):
            return int(mod.num_features)
        if isinstance(mod, nn.Linear):
            return int(mod.in_features)
    raise ValueError("give in_channels: the model's input size cannot be read from its first layer")


def example_channels(names: Sequence[str], example: Sequence[Tensor]) -> Optional[int]:
    """The node features (``x``) or image channels of padded inputs, ``None`` for other first fields.

    Args:
        names: The input names (``model.padded_inputs``, optionally with ``mask``).
        example: Padded tensors in that order.

    Shapes:
        - **input:** ``x`` :math:`(B, N, F)` or ``image`` :math:`(B, C, H, W)` first;
          **output:** :math:`F` or :math:`C`
    """
    if names[0] == "x":
        return int(example[0].size(-1))
    if names[0] == "image":
        return int(example[0].size(1))
    return None


def _dynamic_shapes(names: Sequence[str]) -> tuple[dict[int, object], ...]:
    """Dynamic axes per input: jets and particles (rows and columns for images)."""
    from torch.export import Dim

    jets, particles = Dim("jets"), Dim("particles")
    if "image" in names:
        rows, cols = Dim("rows"), Dim("cols")
        return tuple({0: jets, 2: rows, 3: cols} for _ in names)
    return tuple({0: jets, 1: particles, 2: particles} if name == "adj" else {0: jets, 1: particles}
                 for name in names)


def onnx_max_abs_diff(path: Union[str, Path], wrapper: PaddedJetModel, inputs: Sequence[Tensor]) -> float:
    r"""Largest absolute difference between onnxruntime and PyTorch on ``inputs``.

    .. math::
        \delta = \max_{b, k} \big| f^{\mathrm{ONNX}}(X)_{bk} - f^{\mathrm{torch}}(X)_{bk} \big|

    Args:
        path: The ``.onnx`` file.
        wrapper: The PyTorch module it was exported from.
        inputs: Padded inputs ``(fields..., mask)``.

    Shapes:
        - **input:** tensors with leading shape :math:`(B, N)`
        - **output:** a float
    """
    ort = require("onnxruntime", "deploy", "checking an ONNX export")
    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {arg.name: t.detach().cpu().numpy() for arg, t in zip(sess.get_inputs(), inputs)}
        got = torch.from_numpy(sess.run(None, feed)[0])
    except Exception as exc:  # onnxruntime's own error types
        shapes = ", ".join(f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}" for t in inputs)
        raise ExportCheckError(f"onnxruntime could not run the exported model on inputs {shapes}: "
                               f"{type(exc).__name__}: {exc}") from exc
    with torch.no_grad():
        want = wrapper(*inputs).float().cpu()
    if got.shape != want.shape:
        raise ExportCheckError(f"onnxruntime output shape {tuple(got.shape)} != PyTorch {tuple(want.shape)}")
    return float((got - want).abs().max()) if want.numel() else 0.0


@contextlib.contextmanager
def _quiet_exporter_logs():
    """The exporter's log lines (``torchvision is not installed``, onnxscript's tracebacks of a
    failed conversion, which pgjets reports itself as one error) held back to errors only."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model: nn.Module, path: Union[str, Path], example: Optional[Sequence[Tensor]] = None,
                in_channels: Optional[int] = None, opset: int = OPSET,
                check: Optional[Sequence[Sequence[Tensor]]] = None, check_tol: float = 1e-4) -> ExportReport:
    r"""Export ``model``'s padded path to ONNX with dynamic jet and particle axes.

    The file is written atomically; afterwards it is run with onnxruntime on
    ``check`` inputs (default: two synthetic batches with other jet and particle
    counts than the example) and compared with PyTorch.

    Args:
        model: A model with ``padded_inputs`` / ``forward_padded`` (every registry
            model); put in eval mode here.
        path: Output ``.onnx`` file.
        example: Padded example inputs ``(fields..., mask)`` (default: 3 synthetic
            jets with 5, 9 and 12 particles).
        in_channels: Node feature size (image channels) of the synthetic inputs (default:
            that of ``example``, else read from the model's first layer).
        opset: ONNX opset version; :class:`~pgjets.errors.ExportCheckError` if the
            exporter cannot write that version for this model.
        check: Input tuples to compare onnxruntime and PyTorch on.
        check_tol: Raise :class:`~pgjets.errors.ExportCheckError` (and leave
            ``path`` untouched) if the difference exceeds this; ``None`` only reports.

    Returns:
        An :class:`ExportReport` with the largest absolute difference.

    Shapes:
        - **ONNX inputs:** ``model.padded_inputs`` :math:`(B, N, \cdot)` and ``mask`` :math:`(B, N)`
        - **ONNX output:** ``logits`` :math:`(B, K)`
    """
    from .models.padded import PaddedJetModel, check_model_dtypes, has_padded_path

    onnx = require("onnx", "deploy", "ONNX export")
    require("onnxscript", "deploy", "ONNX export")
    if not has_padded_path(model):
        raise UsageError(f"{type(model).__name__} has no padded inference path (padded_inputs, forward_padded) "
                         "and cannot be exported to ONNX")
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory: give the .onnx file to write")
    wrapper = PaddedJetModel(model).eval()
    names = wrapper.input_names
    if example is not None:
        example = tuple(example)
        if len(example) != len(names):
            raise InputShapeError(f"example must hold {len(names)} tensors {names}, got {len(example)}")
        check_model_dtypes(model, padded=example)
        if in_channels is None:  # the checks' synthetic jets match it
            in_channels = example_channels(names, example)
    else:
        example = synthetic_jets(model, 3, [5, 9, 12], in_channels=in_channels, seed=0)
    with atomic_output(path) as tmp:
        with torch.no_grad(), warnings.catch_warnings(), _quiet_exporter_logs():
            # the exporter notes that inputs share the jets/particles axes: intended; and torch's
            # own deprecation notices of its internals are not the user's to act on
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            program = torch.onnx.export(
                wrapper, example, dynamo=True, opset_version=opset, input_names=list(names),
                output_names=["logits"], dynamic_shapes=(_dynamic_shapes(names),), verbose=False,
            )
        program.save(str(tmp))
        written = {o.domain: o.version for o in onnx.load(str(tmp), load_external_data=False).opset_import}
        version = written.get("", written.get("ai.onnx"))
        if version != opset:
            raise ExportCheckError(f"torch.onnx could not write opset {opset} for {type(model).__name__} "
                                   f"(it wrote opset {version}); {path} was not written")
        # check the new file before it replaces anything
        if check is None:
            check = [synthetic_jets(model, 5, [2, 17, 7, 1, 30], in_channels=in_channels, seed=1),
                     synthetic_jets(model, 1, [4], in_channels=in_channels, seed=2)]
        diffs, shapes = [], []
        for inputs in check:
            diffs.append(onnx_max_abs_diff(tmp, wrapper, inputs))
            shapes.append((int(inputs[-1].size(0)), int(inputs[-1].size(-1))))
        diff = max(diffs) if diffs else float("nan")
        if check_tol is not None and diffs and not diff <= check_tol:
            raise ExportCheckError(f"onnxruntime differs from PyTorch by {diff:.3g} > {check_tol:g}; "
                                   f"{path} was not written")
    return ExportReport(path, names, diff, shapes)


def load_run_model(run: Path, checkpoint: str = "best", num_jets: int = 64):
    """The trained model of a run folder (eval mode) and a few of its test jets as one ``Batch``.

    The run is read by :func:`pgjets.run.load_run` (``config.yaml``, the test
    data after the fingerprint check, the checkpoint).

    Args:
        run: Run folder written by ``pgjets train`` (``config.yaml``, ``checkpoints/``).
        checkpoint: ``"best"`` (falls back to ``last`` when there is no best yet) or ``"last"``.
        num_jets: How many test jets to return.

    Returns:
        ``(config, model, batch, checkpoint_path)``.
    """
    import numpy as np

    from .run import load_run

    loaded = load_run(run, checkpoint)
    ds = loaded.test_data
    ds = ds.subset(np.arange(min(len(ds), max(1, num_jets))))
    batch = next(iter(ds.batches(len(ds))))
    return loaded.config, loaded.model, batch, loaded.checkpoint


__all__ = ["export_onnx", "example_channels", "synthetic_jets", "onnx_max_abs_diff", "ExportReport", "load_run_model", "OPSET"]
