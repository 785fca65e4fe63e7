r"""Node- and edge-level targets from generator truth.

The generator stores, per constituent, the hard parton it descends from
(``parent``: 0 = b quark, 1 and 2 = the two quarks of the W decay, -1 = none).
From it:

- node label :math:`y_i = [\,\text{parent}_i \in \{1, 2\}\,]`: does particle
  :math:`i` come from the W inside a top jet?
- edge label :math:`y_{ij} = [\,\text{parent}_i = \text{parent}_j \ge 0\,]`:
  do two particles share their hard parent?
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import Tensor

from ..errors import InputShapeError
from .features import constituent_features
from .table import JetTable


def from_w_labels(parent) -> Tensor:
    """``1`` for constituents descending from the W (parent 1 or 2), else ``0``.

    Shapes:
        - **input:** ``parent`` :math:`(P,)`; **output:** :math:`(P,)` long
    """
    p = torch.as_tensor(np.asarray(parent)).long()
    return ((p == 1) | (p == 2)).long()


def same_parent_labels(edge_index: Tensor, parent) -> Tensor:
    """``1`` for edges whose two ends share a hard parent (``parent >= 0``).

    Shapes:
        - **input:** ``edge_index`` :math:`(2, E)`, ``parent`` :math:`(P,)`; **output:** :math:`(E,)` long
    """
    p = torch.as_tensor(np.asarray(parent)).long()
    a, b = p[edge_index[0]], p[edge_index[1]]
    return ((a == b) & (a >= 0)).long()


def truth_batch(table: JetTable, k: Optional[int] = 16, feature_set: str = "particlenet"):
    """A ``Batch`` of the jets with ``node_y`` (from the W) and, with ``k``, ``edge_y`` (same parent).

    Raises :class:`~pgjets.errors.InputShapeError` if the table has no truth ``parent``.

    Shapes:
        - **output:** ``Batch`` with ``node_y`` :math:`(P,)` and ``edge_y`` :math:`(E,)`
    """
    from ..graphs.cloud import clouds_to_batch

    if table.parent is None:
        raise InputShapeError("the jets carry no generator truth 'parent' (generate them with truth=True)")
    f = constituent_features(table, feature_set)
    batch = clouds_to_batch(f["x"], f["pos"], table.n_constituents, k=k, pt=f["pt"], p4=f["p4"], y=table.label)
    batch.node_y = from_w_labels(table.parent)
    if k is not None:
        batch.edge_y = same_parent_labels(batch.edge_index, table.parent)
    return batch


__all__ = ["from_w_labels", "same_parent_labels", "truth_batch"]
