"""``JetDataset``: jets as PyG graphs, streamed from disk or held in memory.

Each jet becomes a ``Data`` object following the jet-graph convention
(``x``, ``pos`` = (delta eta, delta phi), ``pt``, ``p4``, ``y``):

- ``representation="cloud"``: plus a kNN graph on ``pos`` with ``k`` neighbours
  (``k=None``: no edges, for models such as ParticleNet that build their own),
- ``representation="set"``: no edges (fully connected models attend over all pairs),
- ``representation="image"``: a grid graph of the preprocessed jet image.

Streaming: a dataset over a generated folder indexes the chunk files and their
jet counts only; chunks are read on demand and at most ``cache_chunks`` of them
are kept (LRU).  The fast path for training is :meth:`JetDataset.batches`,
which builds whole ``Batch`` objects vectorised from contiguous feature arrays
(one :func:`~pgjets.graphs.cloud.clouds_to_batch` call per batch, no Python
work per jet).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataFileNotFoundError, EmptyGraphError
from .features import constituent_features
from .table import JetTable

REPRESENTATIONS = ("cloud", "set", "image")


class _Features:
    """Flat feature arrays of a table, with offsets, ready for gathering."""

    def __init__(self, table: JetTable, feature_set: str) -> None:
        table.require_nonempty_jets()
        f = constituent_features(table, feature_set)
        self.x = torch.from_numpy(f["x"])
        self.pos = torch.from_numpy(f["pos"])
        self.pt = torch.from_numpy(f["pt"])
        self.p4 = torch.from_numpy(f["p4"])
        self.names = f["names"]
        self.offsets = torch.from_numpy(table.offsets)
        self.counts = torch.from_numpy(table.n_constituents)
        self.label = torch.from_numpy(table.label)
        self.table = table

    def gather(self, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        counts = self.counts[index]
        total = int(counts.sum())
        starts = self.offsets[:-1][index]
        new_off = torch.zeros(index.numel() + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=new_off[1:])
        flat = torch.repeat_interleave(starts - new_off[:-1], counts, output_size=total) + torch.arange(total)
        return self.x[flat], self.pos[flat], self.pt[flat], self.p4[flat], counts, self.label[index]


class JetDataset(Dataset):
    """Jets as graphs (see module docstring).

    Args:
        root: A folder written by ``pgjets generate`` (manifest + chunk files),
            or ``None`` with :meth:`from_table`.
        representation: ``"cloud"``, ``"set"`` or ``"image"``.
        k: Neighbours of the kNN graph for ``"cloud"`` (``None``: no edges).
        feature_set: See :func:`~pgjets.data.features.constituent_features`.
        npix: Image size for ``"image"``.
        transform: Optional transform applied to every ``Data`` from ``__getitem__``.
        cache_chunks: Chunk files kept in memory at once.
    """

    def __init__(
        self,
        root: Optional[Union[str, Path]] = None,
        representation: str = "cloud",
        k: Optional[int] = 16,
        feature_set: str = "particlenet",
        npix: int = 20,
        transform: Optional[Callable] = None,
        cache_chunks: int = 4,
    ) -> None:
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        self.representation = representation
        self.k = None if representation == "set" else k
        self.feature_set = feature_set
        self.npix = npix
        self.transform = transform
        self.cache_chunks = max(1, int(cache_chunks))
        self._cache: "OrderedDict[int, _Features]" = OrderedDict()
        self._memory: Optional[_Features] = None
        self.files: list[Path] = []
        self.root = Path(root) if root is not None else None
        if self.root is not None:
            from .jet_io import count_jets, dataset_files, read_manifest

            if not self.root.exists():
                raise DataFileNotFoundError(f"jet data folder {self.root} does not exist")
            manifest = read_manifest(self.root)
            self.files = list(dataset_files(self.root))
            counts = [count_jets(f) for f in self.files]
            self._starts = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=self._starts[1:])
            self._label_names = manifest.get("label_names")
            first = self._chunk(0) if self.files else None
            self._num_features = first.x.size(1) if first is not None else 0
            self._num_classes = len(self._label_names) if self._label_names else int(
                max(int(self._chunk(i).label.max()) for i in range(len(self.files))) + 1)

    # ----------------------------------------------------------- creation
    @classmethod
    def from_table(cls, table: JetTable, representation: str = "cloud", k: Optional[int] = None,
                   feature_set: str = "particlenet", **kwargs) -> "JetDataset":
        """An in-memory dataset over ``table``."""
        ds = cls(None, representation=representation, k=k, feature_set=feature_set, **kwargs)
        ds._memory = _Features(table, feature_set)
        ds._starts = np.array([0, len(table)], dtype=np.int64)
        ds._label_names = table.label_names
        ds._num_features = ds._memory.x.size(1)
        ds._num_classes = len(table.label_names) if table.label_names else int(table.label.max(initial=0)) + 1
        return ds

    # --------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def num_features(self) -> int:
        return int(self._num_features)

    @property
    def num_classes(self) -> int:
        return int(self._num_classes)

    @property
    def label_names(self) -> Optional[list[str]]:
        return self._label_names

    # ------------------------------------------------------------- chunks
    def _chunk(self, i: int) -> _Features:
        if self._memory is not None:
            return self._memory
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        from .jet_io import read_jets

        feats = _Features(read_jets(self.files[i]), self.feature_set)
        self._cache[i] = feats
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return feats

    def _build(self, feats: _Features, index: torch.Tensor):
        from ..graphs.cloud import clouds_to_batch

        x, pos, pt, p4, counts, y = feats.gather(index)
        if self.representation == "image":
            return self._build_images(feats, index)
        return clouds_to_batch(x, pos, counts, k=self.k, pt=pt, p4=p4, y=y)

    def _build_images(self, feats: _Features, index: torch.Tensor):
        from ..graphs.image import images_to_batch
        from .jet_image import jet_image

        table = feats.table.take(index.numpy())
        batch = images_to_batch(jet_image(table, npix=self.npix), connectivity=8, drop_zeros=True)
        batch.y = torch.from_numpy(table.label)
        return batch

    # ------------------------------------------------------------- access
    def __getitem__(self, idx: int):
        n = len(self)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"jet index {idx} out of range for {n} jets")
        chunk = int(np.searchsorted(self._starts, idx, side="right") - 1)
        local = idx - int(self._starts[chunk])
        data = self._build(self._chunk(chunk), torch.tensor([local])).get_example(0)
        return self.transform(data) if self.transform else data

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        sizes = np.diff(self._starts)
        per = sizes // batch_size if drop_last else -(-sizes // batch_size)
        return int(per.sum())

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False) -> Iterator:
        """Yield ``Batch`` objects built vectorised.

        Shuffling permutes the chunk order and the jets inside each chunk with a
        generator seeded by ``seed`` (batches never mix chunks; an in-memory
        dataset is one chunk, so it is a full permutation).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        gen = torch.Generator().manual_seed(int(seed))
        n_chunks = len(self._starts) - 1
        order = torch.randperm(n_chunks, generator=gen) if shuffle else torch.arange(n_chunks)
        for c in order.tolist():
            size = int(self._starts[c + 1] - self._starts[c])
            if size == 0:
                continue
            feats = self._chunk(c)
            perm = torch.randperm(size, generator=gen) if shuffle else torch.arange(size)
            for s in range(0, size, batch_size):
                idx = perm[s : s + batch_size]
                if drop_last and idx.numel() < batch_size:
                    break
                yield self._build(feats, idx)

    def __repr__(self) -> str:
        src = str(self.root) if self.root else "memory"
        return f"JetDataset({len(self)} jets, {self.representation}, k={self.k}, from {src})"


__all__ = ["JetDataset", "REPRESENTATIONS"]
