r"""Graph sizes of a PyG ``Batch`` read on the host, without a device synchronisation.

A layer that pads a batch to :math:`(B, N_{max}, \cdot)` needs :math:`N_{max} = \max_b n_b` as a
Python number.  Read from the device (``int(counts.max())``), it stalls the GPU until every
kernel queued before it has run.  But the collation already knew the sizes: a ``Batch`` keeps
its slice table on the CPU, also after ``batch.to("cuda")``: for a node attribute such as ``x``,
``_slice_dict["x"]`` holds the node offsets :math:`0 = s_0 \le s_1 \le \dots \le s_B = \sum_b n_b`,
and :math:`n_b = s_{b+1} - s_b`.
pgjets' own batch builders and transforms keep that table up to date.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from .._checks import is_debug
from ..errors import InputShapeError


def ptr_from_counts(counts: Tensor) -> Tensor:
    r"""The offsets (PyG's ``ptr``) of consecutive runs of ``counts`` items: run :math:`b` holds
    items ``ptr[b]:ptr[b + 1]``, and ``ptr[:-1]`` are the runs' first items.

    .. math::
        \mathrm{ptr}_0 = 0, \qquad \mathrm{ptr}_{b+1} = \mathrm{ptr}_b + n_b

    Plain tensor operations on the device of ``counts`` (no value is read back to the host), so
    it traces under ``torch.compile`` and ONNX export.  Integer and bool counts give int64 (the
    dtype of ``counts.cumsum(0)``), whatever their width; the NumPy twin is
    ``pgjets.data.table.offsets_from_counts``.

    Args:
        counts: Items per run :math:`n_b`, ``(B,)``, on any device.

    Shapes:
        - **input:** :math:`(B,)`
        - **output:** :math:`(B + 1,)`, :math:`\mathrm{ptr}_B = \sum_b n_b`
    """
    total = counts.cumsum(0)
    return torch.cat([total.new_zeros(1), total])


def host_node_counts(data: Any, batch: Optional[Tensor] = None,
                     num_graphs: Optional[int] = None, key: str = "x") -> Optional[Tensor]:
    r"""Nodes per graph :math:`n_b` of a batch, as a CPU tensor, or ``None`` when unknown on the host.

    The counts come from the batch's slice table (``data._slice_dict[key]``).  ``None`` (read
    the sizes from the device instead) when there is no table, when it is not a CPU tensor, or
    when it disagrees with what the host knows for free: it must start at 0, never decrease,
    end at ``data[key].size(0)`` and have ``num_graphs + 1`` entries.  Also ``None`` while
    ``torch.compile`` traces (reading the table would be a graph break there too).  In debug
    mode (:func:`pgjets.set_debug`) the counts are also checked against ``batch`` (a host sync).

    Args:
        data: A PyG ``Batch`` (or any object with the node attribute ``key`` and a ``_slice_dict``).
        batch: The graph index of every node ``(N,)``, for the debug-mode check.
        num_graphs: The number of graphs the caller expects (default: the batch's own count).
        key: A node-level attribute whose slices are the node offsets (``"x"``, or ``"p4"`` for a
            model that reads only the four-momenta).

    Returns:
        ``(B,)`` long tensor on the CPU, or ``None``.

    Raises:
        InputShapeError: In debug mode, when the table's counts differ from those of ``batch``.

    Shapes:
        - **input:** ``data[key]`` :math:`(N, *)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(B,)`, :math:`\sum_b n_b = N`
    """
    if torch.compiler.is_compiling():
        return None
    slices = getattr(data, "_slice_dict", None)
    ptr = slices.get(key) if isinstance(slices, dict) else None
    nodes = getattr(data, key, None)
    if not isinstance(ptr, Tensor) or not isinstance(nodes, Tensor) or ptr.device.type != "cpu" or ptr.dim() != 1:
        return None
    if ptr.numel() == 0 or int(ptr[0]) != 0 or int(ptr[-1]) != nodes.size(0):
        return None
    counts = ptr.diff().long()
    if bool((counts < 0).any()):
        return None
    for expected in (num_graphs, getattr(data, "_num_graphs", None)):
        if expected is not None and counts.numel() != expected:
            return None
    if is_debug() and batch is not None:
        device_counts = torch.bincount(batch, minlength=counts.numel()).cpu()
        if not torch.equal(device_counts, counts):
            raise InputShapeError(
                f"the batch's slice table gives {counts.tolist()} nodes per graph, but its batch "
                f"vector gives {device_counts.tolist()}: rebuild the batch after changing its nodes"
            )
    return counts


def batch_from_slices(data: Any, key: str = "x", num_graphs: Optional[int] = None
                      ) -> Optional[tuple[Tensor, Tensor]]:
    r"""The graph index of every node rebuilt from the slice table of ``key``, and the host counts.

    PyG gives a ``Batch`` of graphs that carry only, say, ``p4`` (no ``x``, no ``num_nodes``) no
    ``batch`` vector; :func:`host_node_counts` of ``key`` rebuilds it,
    :math:`\text{batch} = (0^{n_0}, 1^{n_1}, \dots)`, on the CPU.

    Returns:
        ``(batch, counts)``, both on the CPU, or ``None`` without a usable table.

    Shapes:
        - **output:** ``batch`` :math:`(\sum_b n_b,)`, ``counts`` :math:`(B,)`
    """
    counts = host_node_counts(data, num_graphs=num_graphs, key=key)
    if counts is None:
        return None
    return torch.arange(counts.numel()).repeat_interleave(counts), counts


__all__ = ["host_node_counts", "batch_from_slices", "ptr_from_counts"]
