r"""``DigitsGridDataset``: the scikit-learn handwritten digits as grid graphs.

scikit-learn ships the UCI optical-digits test set (1797 grey-scale
:math:`8 \times 8` images of the digits 0-9, intensities 0-16) inside the
package, so this dataset needs no download.  Every image becomes the grid
graph of :func:`~pgjets.graphs.image.images_to_batch` (one vectorised call for
the whole set):

.. math::
    \mathbf{x}_{8r + c} = \frac{I[r, c]}{16}, \qquad
    \mathbf{pos}_{8r + c} = (r, c), \qquad
    \mathbf{e}_{j \to i} = \mathbf{pos}_j - \mathbf{pos}_i

with ``y`` the digit.  The module also holds :func:`random_split_indices`,
the seeded train/val/test split used by the real-data datasets of
:mod:`pgjets.data`.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import InMemoryDataset

from .._checks import require

#: Number of classes of :class:`DigitsGridDataset`.
NUM_DIGIT_CLASSES: int = 10


def random_split_indices(
    num_items: int,
    frac: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Seeded random train/validation/test split of ``num_items`` items.

    A permutation :math:`\pi` of :math:`\{0, \dots, n-1\}` is drawn from
    ``numpy.random.default_rng(seed)`` and cut at

    .. math::
        a = \operatorname{round}(f_0 n), \qquad
        b = \operatorname{round}((f_0 + f_1) n),

    giving :math:`\pi_{[0, a)}`, :math:`\pi_{[a, b)}`, :math:`\pi_{[b, n)}`
    (each sorted).  The three parts are disjoint and cover every index.

    Args:
        num_items: Number of items :math:`n` (>= 0).
        frac: Three non-negative fractions summing to 1.
        seed: Seed of the permutation (same seed, same split).

    Raises:
        ValueError: ``frac`` is not three non-negative numbers summing to 1,
            or ``num_items`` is negative.

    Shapes:
        - **output:** three ``long`` tensors of lengths summing to :math:`n`
    """
    if isinstance(num_items, bool) or int(num_items) != num_items or num_items < 0:
        raise ValueError(f"num_items must be a non-negative integer, got {num_items!r}")
    f = np.asarray(frac, dtype=float)
    if f.shape != (3,) or not np.isfinite(f).all() or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"frac must be three non-negative fractions summing to 1, got {frac!r}")
    n = int(num_items)
    perm = np.random.default_rng(seed).permutation(n)
    a = int(round(f[0] * n))
    b = min(n, int(round((f[0] + f[1]) * n)))
    parts = (perm[:a], perm[a:b], perm[b:])
    return tuple(torch.from_numpy(np.sort(p).astype(np.int64)) for p in parts)  # type: ignore[return-value]


class DigitsGridDataset(InMemoryDataset):
    r"""The 1797 scikit-learn digit images as :math:`8 \times 8` grid graphs.

    .. math::
        \mathbf{x}_{8r + c} = I[r, c] / s, \qquad
        s = 16 \text{ if normalize else } 1

    Each item is a ``Data`` with ``x`` (pixel intensity), ``pos`` (row, col),
    ``edge_index``, ``edge_attr`` (offset source minus target), ``grid_size``
    and ``y`` (the digit, ``long``).  With ``drop_zeros=True`` only the
    non-zero pixels are nodes (every digit image has some).

    Args:
        connectivity: 4 or 8 neighbours per pixel.
        drop_zeros: Keep only non-zero pixels.
        normalize: Divide intensities by 16 (to :math:`[0, 1]`).
        transform: Optional PyG transform applied on access.

    Raises:
        ValueError: ``connectivity`` is not 4 or 8.
        MissingExtraError: scikit-learn is not installed.

    Shapes:
        - **item:** ``x`` :math:`(N, 1)`, ``pos`` :math:`(N, 2)`,
          ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, 2)`,
          ``grid_size`` :math:`(1, 2)`, ``y`` :math:`(1,)`; :math:`N = 64`
          without dropping
        - **images:** :math:`(1797, 1, 8, 8)`, **labels:** :math:`(1797,)`
    """

    def __init__(
        self,
        connectivity: int = 8,
        drop_zeros: bool = False,
        normalize: bool = True,
        transform: Optional[Callable] = None,
    ) -> None:
        from ..graphs.image import images_to_batch

        datasets = require("sklearn.datasets", "ext", "the digits dataset")
        super().__init__(None, transform=transform)
        digits = datasets.load_digits()
        images = torch.as_tensor(np.asarray(digits.images), dtype=torch.get_default_dtype())
        if normalize:
            images = images / 16.0
        self.images: Tensor = images.unsqueeze(1)
        self.labels: Tensor = torch.as_tensor(np.asarray(digits.target), dtype=torch.long)
        self.connectivity = connectivity
        self.drop_zeros = bool(drop_zeros)
        self.normalize = bool(normalize)
        batch = images_to_batch(self.images, connectivity=connectivity, drop_zeros=drop_zeros)
        graphs = batch.to_data_list()
        for g, label in zip(graphs, self.labels):
            g.y = label.view(1)
        self._data, self.slices = self.collate(graphs)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        """Number of digit classes (10)."""
        return NUM_DIGIT_CLASSES

    def split(
        self, frac: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""Seeded random train/val/test indices (see :func:`random_split_indices`).

        Args:
            frac: Three fractions summing to 1.
            seed: Seed of the permutation.

        Shapes:
            - **output:** three ``long`` index tensors covering :math:`[0, 1797)`
        """
        return random_split_indices(len(self), frac, seed)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({len(self)}, connectivity={self.connectivity}, "
                f"drop_zeros={self.drop_zeros}, normalize={self.normalize})")


__all__ = ["NUM_DIGIT_CLASSES", "random_split_indices", "DigitsGridDataset"]
