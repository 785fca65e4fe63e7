r"""Padded, tensor-only inference path of the jet models (``torch.compile`` and ONNX).

The reference ``forward(data)`` of every model works on a PyG ``Batch`` of
ragged jets.  For deployment the jets are padded once, outside the model, to

.. math::
    X \in \mathbb{R}^{B \times N \times F}, \qquad
    M \in \{0, 1\}^{B \times N}, \qquad
    N = \max_b n_b,

(``pos`` :math:`(B, N, 2)`, ``pt`` :math:`(B, N)`, ``p4`` :math:`(B, N, 4)`
likewise), and ``model.forward_padded(*tensors, mask)`` computes the same
logits with static shapes only: no ``.item()``, no boolean indexing, no
data-dependent output shapes.  It therefore compiles with zero graph breaks
and exports to ONNX with the number of jets :math:`B` and of particles
:math:`N` as dynamic axes.  Padded particles never reach a real one: they are
masked out of every kNN search, attention softmax and pooling sum.

The padded path is the inference path (``model.eval()``): in training mode
batch normalisation would see the padding.  Tests check it against the
reference path on batches with different jet sizes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_adj, to_dense_batch

from .._checks import check_input_dtype
from ..errors import GraphSizeError, InputShapeError
from ..ops.padded import rowwise

#: Per-particle fields a padded model can ask for (``model.padded_inputs``).
PADDED_FIELDS = ("x", "pos", "pt", "p4", "adj", "image")


def check_batch_norm_particles(model: nn.Module, nodes: Optional[Tensor]) -> None:
    """Refuse a training batch of a single particle (``nodes``: a per-particle tensor) for a model with
    batch norms, which PyTorch's BatchNorm refuses with a bare ``ValueError``.  Metadata only.

    Raises:
        GraphSizeError: ``model`` is in training mode, has batch norms and ``nodes`` holds one particle.
    """
    if model.training and nodes is not None and nodes.size(0) == 1 and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise GraphSizeError(f"a training batch of a single particle: the batch norms of {type(model).__name__} "
                             "need at least 2 particles per batch in training mode (use eval mode, or batch "
                             "it with other jets)")


def check_model_dtypes(model: nn.Module, data: Any = None, padded: Sequence[Tensor] = ()) -> None:
    """The dtype check of a model's first layer (CONTRIBUTING.md, "Input dtypes"), on the fields it reads.

    The fields are ``model.padded_inputs`` (``image`` is ``x`` on the graph
    path): of ``data`` (graph path) or the tensors ``padded`` (padded path, in
    that order; the mask after them is not checked).  ``x`` must be floating;
    every floating field must have the dtype of the model's parameters (outside
    autocast), else :class:`~pgjets.errors.InputDtypeError`.  In training mode, a model with batch
    norms given a single particle raises :class:`~pgjets.errors.GraphSizeError` (PyTorch's
    BatchNorm would fail with a bare ``ValueError``).  Metadata only: no host-device
    synchronisation.

    Args:
        model: A model with ``padded_inputs``.
        data: A graph or batch (graph path).
        padded: The padded tensors (padded path).
    """
    names = tuple(getattr(model, "padded_inputs", ("x",)))
    if data is not None:
        fields = [(name, getattr(data, "x" if name == "image" else name, None)) for name in names]
    else:
        fields = list(zip(names, padded))
    check_input_shapes(model, fields, padded=data is None)
    if data is not None:
        check_batch_norm_particles(model, next((t for _, t in fields if isinstance(t, Tensor)), None))
    for name, t in fields:
        if isinstance(t, Tensor) and (name in ("x", "image") or t.is_floating_point()):
            check_input_dtype(t, model, name)


def _shape_text(trailing: tuple, padded: bool) -> str:
    lead = ["B", "N"] if padded else ["num_nodes"]
    return "(" + ", ".join(lead + ["C" if w is None else str(w) for w in trailing]) + ")"


def check_input_shapes(model: nn.Module, fields: Sequence[tuple[str, Any]], padded: bool = False) -> None:
    r"""The shape check of a model's first layer, on the fields of ``model.input_shapes``.

    ``model.input_shapes`` maps a field name to its per-particle shape: ``()`` for
    ``pt`` :math:`(N,)`, ``(4,)`` for ``p4`` :math:`(N, 4)`, ``(None,)`` for any
    width.  Each such field must be present (graph path), have that shape after the
    node axis (after the jet and particle axes on the padded path), and on the graph
    path (eager) the fields must agree on the number of nodes.  Metadata only: no
    host-device synchronisation.  A model without ``input_shapes`` is not checked.

    Raises:
        InputShapeError: a field is missing, of another width or rank, or the fields
            disagree on the number of particles (the message names the field and the shape).
    """
    shapes = getattr(model, "input_shapes", None)
    if not shapes:
        return
    name_of = type(model).__name__
    rows: dict[str, int] = {}
    for name, t in fields:
        if name not in shapes:
            continue
        want = tuple(shapes[name])
        where = f"{name_of} reads {'' if padded else 'batch.'}{name} {_shape_text(want, padded)}"
        if not isinstance(t, Tensor):
            raise InputShapeError(f"{where}, which the {'inputs lack' if padded else 'batch lacks'}")
        lead = 2 if padded else 1
        if t.dim() != lead + len(want) or any(w is not None and t.size(lead + i) != w for i, w in enumerate(want)):
            raise InputShapeError(f"{where}, got shape {tuple(t.shape)}")
        if not padded and not torch.compiler.is_compiling():  # sizes stay symbolic under torch.compile
            rows[name] = int(t.size(0))
    if len(set(rows.values())) > 1:
        raise InputShapeError(f"{name_of}: the inputs disagree on the number of particles "
                              f"({', '.join(f'{k}: {v}' for k, v in rows.items())})")


def has_padded_path(model: nn.Module) -> bool:
    """Whether ``model`` has a padded tensor-only path (``padded_inputs`` and ``forward_padded``)."""
    return hasattr(model, "padded_inputs") and callable(getattr(model, "forward_padded", None))


def pad_batch(data, inputs: Sequence[str], max_num_nodes: Optional[int] = None) -> tuple[Tensor, ...]:
    r"""Pad the fields ``inputs`` of a PyG batch of jets; the mask comes last.

    This runs eagerly (it reads the largest jet size from the batch), outside any
    compiled or exported region.

    Args:
        data: A ``Batch`` (or a single ``Data``) following the jet graph convention.
        inputs: Field names out of :data:`PADDED_FIELDS`, e.g. ``model.padded_inputs``.
        max_num_nodes: Pad to this many particles (default: the largest jet).

    Returns:
        ``(field_1, ..., field_k, mask)`` with ``x`` :math:`(B, N, F)`, ``pos``
        :math:`(B, N, 2)`, ``pt`` :math:`(B, N)`, ``p4`` :math:`(B, N, 4)`,
        ``mask`` :math:`(B, N)` bool; padding is zero.

    Shapes:
        - **input:** ``Batch`` with :math:`\sum_b n_b` particles
        - **output:** tensors with leading shape :math:`(B, N)`
    """
    unknown = [name for name in inputs if name not in PADDED_FIELDS]
    if unknown:
        raise ValueError(f"unknown padded inputs {unknown}; choose from {PADDED_FIELDS}")
    if "image" in inputs:
        if tuple(inputs) != ("image",):
            raise ValueError("'image' cannot be combined with other padded inputs")
        return pad_images(data)
    ref = getattr(data, inputs[0], None) if inputs else data.x
    if ref is None:
        raise InputShapeError(f"the batch has no {inputs[0]!r} attribute")
    n = ref.size(0)
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=ref.device)
        num_graphs = 1
    else:
        num_graphs = int(getattr(data, "num_graphs", int(batch.max()) + 1 if n else 0))
    if max_num_nodes is None:
        max_num_nodes = int(torch.bincount(batch, minlength=num_graphs).max()) if n else 0
    max_num_nodes = max(1, int(max_num_nodes))
    out: list[Tensor] = []
    mask: Optional[Tensor] = None
    for name in inputs:
        if name == "adj":
            ei = getattr(data, "edge_index", None)
            if ei is None:
                raise InputShapeError("the model needs batch.edge_index (a prebuilt graph), which this batch lacks")
            out.append(to_dense_adj(ei, batch, batch_size=num_graphs, max_num_nodes=max_num_nodes))
            continue
        t = getattr(data, name, None)
        if t is None:
            raise InputShapeError(f"the model needs batch.{name}, which this batch does not have")
        if t.size(0) != n:
            raise InputShapeError(f"batch.{name} has {t.size(0)} rows but batch.{inputs[0]} has {n}")
        dense, mask = to_dense_batch(t, batch, batch_size=num_graphs, max_num_nodes=max_num_nodes)
        out.append(dense)
    if mask is None:
        _, mask = to_dense_batch(ref, batch, batch_size=num_graphs, max_num_nodes=max_num_nodes)
    return (*out, mask)


def pad_images(data) -> tuple[Tensor, Tensor]:
    r"""Zero-filled images and pixel masks of a batch of grid graphs (inverse of ``images_to_batch``).

    .. math::
        I_{b, :, r, c} = \mathbf{x}_v, \quad M_{b, 0, r, c} = 1 \qquad
        \text{for every node } v \text{ of graph } b \text{ at } \mathbf{pos}_v = (r, c)

    Args:
        data: A ``Batch`` of grid graphs with ``x``, ``pos`` (row, col) and ``batch``.

    Returns:
        ``(image, mask)``, both zero where the graph has no node.

    A batch of 4-connected grid graphs (``edge_attr`` without a diagonal offset) warns: the padded
    path of :class:`~pgjets.models.GridCNN` with :math:`3 \times 3` kernels convolves full
    neighbourhoods, its graph path only the 4 neighbours, so the two differ (kernels of 5 and more
    build full neighbourhoods on the graph too and agree).

    Shapes:
        - **input:** ``x`` :math:`(N, C)`, ``pos`` :math:`(N, 2)`
        - **output:** :math:`(B, C, H, W)`, :math:`(B, 1, H, W)` with :math:`H, W` the largest row and
          column + 1
    """
    x, pos = data.x, data.pos
    if pos is None or pos.dim() != 2 or pos.size(1) != 2:
        raise InputShapeError("image padding needs pos (num_nodes, 2) = (row, col) on the batch")
    batch = getattr(data, "batch", None)
    n = x.size(0)
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=x.device)
        num_graphs = 1
    else:
        num_graphs = int(getattr(data, "num_graphs", int(batch.max()) + 1 if n else 0))
    ea = getattr(data, "edge_attr", None)
    if isinstance(ea, Tensor) and ea.dim() == 2 and ea.size(1) == 2 and ea.size(0) and \
            not bool((torch.round(ea).abs() == 1).all(1).any()):  # (eager, outside the compiled region)
        import warnings

        from ..errors import PgjetsWarning

        warnings.warn(PgjetsWarning(
            "the grid graphs are 4-connected: a padded GridCNN with 3x3 kernels convolves all 8 neighbours "
            "and differs from its graph forward on them; use 8-connected graphs (the default) for the "
            "padded, compiled or exported path"), stacklevel=3)
    p = torch.round(pos).to(torch.long)
    h = int(p[:, 0].max()) + 1 if n else 1
    w = int(p[:, 1].max()) + 1 if n else 1
    image = x.new_zeros(num_graphs, x.size(1), h, w)
    mask = torch.zeros(num_graphs, 1, h, w, dtype=torch.bool, device=x.device)
    image[batch, :, p[:, 0], p[:, 1]] = x
    mask[batch, 0, p[:, 0], p[:, 1]] = True
    return image, mask


def masked_reduce(x: Tensor, mask: Tensor, reduce: str = "sum") -> Tensor:
    r"""Sum, mean or max over the valid particles of each jet.

    .. math::
        \mathbf{h}_b = \bigoplus_{i:\, M_{bi} = 1} \mathbf{x}_{bi}

    A jet without particles gives zeros (PyG's convention for empty groups).

    Args:
        x: Padded features ``(B, N, F)``.
        mask: Valid-particle mask ``(B, N)``.
        reduce: ``"sum"``, ``"mean"`` or ``"max"``.

    Shapes:
        - **input:** :math:`(B, N, F)`, :math:`(B, N)`
        - **output:** :math:`(B, F)`
    """
    m = mask.unsqueeze(-1)
    if reduce == "max":
        out = x.masked_fill(~m, float("-inf")).amax(1)
        return torch.where(m.any(1), out, torch.zeros_like(out))
    total = (x * m.to(x.dtype)).sum(1)
    if reduce == "sum":
        return total
    if reduce == "mean":
        return total / m.to(x.dtype).sum(1).clamp_min(1.0)
    raise ValueError(f"reduce must be 'sum', 'mean' or 'max', got {reduce!r}")


def check_inference(model: nn.Module) -> None:
    """Raise ``RuntimeError`` unless ``model`` is in eval mode (the padded path is for inference)."""
    if model.training:
        raise RuntimeError(
            f"{type(model).__name__}.forward_padded is the inference path; call model.eval() first "
            "(in training mode batch normalisation would see the padding)"
        )


class PaddedJetModel(nn.Module):
    r"""Tensor-only wrapper: ``forward(*fields, mask)`` calls ``model.forward_padded``.

    The signature is ``model.padded_inputs`` followed by ``mask``, e.g.
    ``(x, pos, mask)`` for ParticleNet.  This is the module that is compiled and
    exported to ONNX.

    Args:
        model: A model with ``padded_inputs`` and ``forward_padded``.

    Shapes:
        - **input:** padded fields :math:`(B, N, \cdot)`, ``mask`` :math:`(B, N)`
        - **output:** logits :math:`(B, K)`
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not has_padded_path(model):
            raise TypeError(f"{type(model).__name__} has no padded path (padded_inputs / forward_padded)")
        self.model = model
        self.input_names = tuple(model.padded_inputs) + ("mask",)

    def forward(self, *tensors: Tensor) -> Tensor:
        return self.model.forward_padded(*tensors)

    def example_inputs(self, data) -> tuple[Tensor, ...]:
        """Padded inputs of a PyG batch in the order of :attr:`input_names`."""
        return pad_batch(data, self.model.padded_inputs)


def compile_padded(model: nn.Module, **compile_kwargs: Any) -> Callable[[Any], Tensor]:
    r"""``torch.compile`` a model's padded path and return a function of PyG batches.

    .. math::
        f_{\text{compiled}}(\text{batch}) = \mathrm{compile}(\text{forward\_padded})\big(
            \text{pad\_batch}(\text{batch})\big) = \text{model}(\text{batch})

    Padding runs eagerly; the compiled region is graph-break free
    (``fullgraph=True`` and ``dynamic=True`` unless overridden).

    Args:
        model: A model with a padded path, in eval mode.
        **compile_kwargs: Passed to :func:`torch.compile` (e.g. ``mode``, ``backend``).

    Shapes:
        - **input:** a PyG ``Batch`` of :math:`B` jets
        - **output:** :math:`(B, K)`
    """
    wrapper = PaddedJetModel(model)
    compiled = torch.compile(wrapper, **{"fullgraph": True, "dynamic": True, **compile_kwargs})

    def run(data: Any) -> Tensor:
        return compiled(*pad_batch(data, model.padded_inputs))

    return run


__all__ = ["check_input_shapes", "check_batch_norm_particles", "compile_padded", "PADDED_FIELDS", "pad_batch", "pad_images", "masked_reduce", "rowwise", "PaddedJetModel", "has_padded_path",
           "check_inference"]
