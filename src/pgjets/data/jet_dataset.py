r"""``JetDataset``: jets as PyG graphs, streamed from disk or held in memory.

Each jet becomes a ``Data`` object following the jet-graph convention
(``x``, ``pos`` = :math:`(\Delta\eta, \Delta\phi)`, ``pt``, ``p4``, ``y``):

- ``representation="cloud"``: plus a kNN graph on ``pos``,
  :math:`\mathcal{N}(i) = \operatorname{kNN}_k(\mathbf{pos}_i)` (``k=None``:
  no edges, for models such as ParticleNet that build their own),
- ``representation="set"``: fully connected, :math:`j \to i` for every
  :math:`i \ne j` of the jet,
- ``representation="image"``: the grid graph of the preprocessed jet image
  (:func:`~pgjets.data.jet_image.jet_image` then
  :func:`~pgjets.graphs.image.images_to_batch` with ``drop_zeros=True``);
  ``x`` holds the pixel intensities.

**Streaming.** The source (a generated folder, a pgjets chunk file, a
top-landscape HDF5, a JetClass ROOT file, an awkward parquet file or a
jet-image HDF5, see :func:`~pgjets.data.readers.detect_format`) is indexed at
construction: only file lists and jet counts are read.  A generated folder
has one *chunk* per file, a single file is cut into chunks of ``chunk_size``
rows.  Chunks are read on demand and at most ``cache_chunks`` of them are
kept in memory (least recently used first out).

**Fast path.** :meth:`JetDataset.batches` builds whole ``Batch`` objects from
contiguous feature arrays of a chunk, one
:func:`~pgjets.graphs.cloud.clouds_to_batch` call per batch and no Python
work per jet.  Batches never mix chunks.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._checks import check_positive_int
from ..errors import DataFileError, DataFileNotFoundError, EmptyGraphError
from .features import constituent_features, feature_names
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

    def __len__(self) -> int:
        return int(self.counts.numel())

    def gather(self, index: Tensor) -> tuple[Tensor, ...]:
        """Flat arrays of the jets ``index``: contiguous ranges are sliced, others gathered."""
        counts = self.counts[index]
        n = index.numel()
        if n and bool((index[1:] - index[:-1] == 1).all()):
            a, b = int(self.offsets[int(index[0])]), int(self.offsets[int(index[-1]) + 1])
            sl = slice(a, b)
            return self.x[sl], self.pos[sl], self.pt[sl], self.p4[sl], counts, self.label[index]
        total = int(counts.sum())
        starts = self.offsets[:-1][index]
        new_off = torch.zeros(n + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=new_off[1:])
        flat = torch.repeat_interleave(starts - new_off[:-1], counts, output_size=total) + torch.arange(total)
        return self.x[flat], self.pos[flat], self.pt[flat], self.p4[flat], counts, self.label[index]


class _Images:
    """A chunk of ready-made jet images (from a jet-image file)."""

    def __init__(self, images: Tensor, labels: Tensor, source: str = "the jet-image file", offset: int = 0) -> None:
        self.images = images
        self.label = labels
        self.source = source  # file the rows come from, and the row of the first (for messages)
        self.offset = offset

    def __len__(self) -> int:
        return int(self.label.numel())


def _add_graph_attr(batch, name: str, value: Tensor, per_graph_slices: Tensor) -> None:
    """Attach a per-graph attribute to a ``Batch`` so that ``batch[i]`` still works."""
    setattr(batch, name, value)
    batch._slice_dict[name] = per_graph_slices
    batch._inc_dict[name] = torch.zeros(per_graph_slices.numel() - 1, dtype=torch.long)


class JetDataset(Dataset):
    r"""Jets as PyG graphs, streamed chunk by chunk (see the module docstring).

    ``ds[i]`` is one ``Data`` jet graph; :meth:`batches` yields whole
    ``Batch`` objects built vectorised (the training fast path).

    Args:
        root (str or os.PathLike, optional): A generated folder or a data
            file in any format :func:`~pgjets.data.readers.detect_format`
            knows; ``None`` with :meth:`from_table`.
        representation (str): ``"cloud"``, ``"set"`` or ``"image"``.
        k (int, optional): Neighbours of the kNN graph for ``"cloud"``
            (``None``: no edges).
        feature_set (str): See :func:`~pgjets.data.features.constituent_features`.
        format (str): ``"auto"`` or a :data:`~pgjets.data.readers.FORMATS` name.
        npix (int): Image size for ``"image"``.
        R (float): Image half-width for ``"image"``.
        transform (callable, optional): Applied to every ``Data`` from
            ``__getitem__`` and every ``Batch`` from :meth:`batches`.
        cache_chunks (int): Chunks kept in memory at once (LRU).
        chunk_size (int): Rows per chunk when ``root`` is a single file.

    Shapes:
        - **ds[i]:** ``Data(x=(N, F), pos=(N, 2), pt=(N,), p4=(N, 4), y=(1,)[, edge_index=(2, E)])``
        - **batches:** ``Batch`` of up to ``batch_size`` such graphs.

    Raises:
        DataFileNotFoundError: ``root`` does not exist.
        DataFileError: Unreadable or malformed data.
        ValueError: Unknown representation, or a non-image representation
            of a jet-image file.
    """

    def __init__(
        self,
        root: Optional[Union[str, Path]] = None,
        representation: str = "cloud",
        k: Optional[int] = 16,
        feature_set: str = "particlenet",
        format: str = "auto",
        npix: int = 20,
        R: float = 0.8,
        transform: Optional[Callable] = None,
        cache_chunks: int = 4,
        chunk_size: int = 10_000,
    ) -> None:
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        feature_names(feature_set)  # validates the name
        self.representation = representation
        self.k = None if (representation != "cloud" or k is None) else check_positive_int(k, "k")
        self.feature_set = feature_set
        self.npix = check_positive_int(npix, "npix")
        self.R = float(R)
        self.transform = transform
        self.cache_chunks = check_positive_int(cache_chunks, "cache_chunks")
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self._cache: "OrderedDict[int, Any]" = OrderedDict()
        self._memory: Optional[Any] = None
        self._units: list[tuple[Path, Optional[int], Optional[int]]] = []
        self._label_names: Optional[list[str]] = None
        self.format = format
        self.root = Path(root) if root is not None else None
        if self.root is None:
            self._starts = np.zeros(1, dtype=np.int64)
            return
        from .readers import count_rows, detect_format

        if not self.root.exists():
            raise DataFileNotFoundError(f"jet data path {self.root} does not exist")
        self.format = detect_format(self.root) if format == "auto" else format
        if self.format == "images" and representation != "image":
            raise ValueError(f"{self.root} holds jet images; use representation='image'")
        counts: list[int] = []
        if self.format == "generated":
            from .jet_io import count_jets, dataset_files, read_manifest

            manifest = read_manifest(self.root)
            self._label_names = manifest.get("label_names")
            for f in dataset_files(self.root):
                self._units.append((f, None, None))
                counts.append(count_jets(f))
        else:
            n = count_rows(self.root, self.format)
            for a in range(0, n, self.chunk_size):
                b = min(n, a + self.chunk_size)
                self._units.append((self.root, a, b))
                counts.append(b - a)
        self._starts = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=self._starts[1:])
        self._init_meta(self._chunk(0) if self._units else None)

    def _init_meta(self, first: Any) -> None:
        """Feature count and class names from the first chunk."""
        if first is None:
            self._num_features = 0
            self._num_classes = len(self._label_names) if self._label_names else 0
            return
        if isinstance(first, _Images):
            self._num_features = int(first.images.size(1))
        elif self.representation == "image":
            self._num_features = 1
        else:
            self._num_features = int(first.x.size(1))
        if self._label_names is None and isinstance(first, _Features):
            self._label_names = first.table.label_names
        if self._label_names:
            self._num_classes = len(self._label_names)
        else:  # no names anywhere: the labels of the first chunk decide
            self._num_classes = int(first.label.max()) + 1 if len(first) else 0

    # ----------------------------------------------------------- creation
    @classmethod
    def from_table(cls, table: JetTable, representation: str = "cloud", k: Optional[int] = None,
                   feature_set: str = "particlenet", **kwargs: Any) -> "JetDataset":
        """An in-memory dataset over ``table`` (one chunk, never evicted).

        Args:
            table (JetTable): The jets (each with at least one constituent).
            representation, k, feature_set: As for :class:`JetDataset`.
            **kwargs: The other arguments of :class:`JetDataset`.
        """
        ds = cls(None, representation=representation, k=k, feature_set=feature_set, **kwargs)
        ds._memory = _Features(table, feature_set)
        ds._starts = np.array([0, len(table)], dtype=np.int64)
        ds._label_names = table.label_names
        ds._init_meta(ds._memory)
        return ds

    # --------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def num_features(self) -> int:
        """Node feature dimension ``F`` (image channels for ``"image"``)."""
        return int(self._num_features)

    @property
    def num_classes(self) -> int:
        """Number of classes (from the label names, else from the first chunk's labels)."""
        return int(self._num_classes)

    @property
    def label_names(self) -> Optional[list[str]]:
        """Class names, ``label_names[y]``, when the source has them."""
        return self._label_names

    @property
    def num_chunks(self) -> int:
        """Chunks the data are cut into (1 for an in-memory dataset)."""
        return int(self._starts.size - 1)

    @property
    def cached_chunks(self) -> list[int]:
        """Indices of the chunks now held in memory, least recently used first."""
        return list(self._cache)

    # ------------------------------------------------------------- chunks
    def _chunk(self, i: int) -> Any:
        if self._memory is not None:
            return self._memory
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        from .readers import read_rows

        path, a, b = self._units[i]
        if self.format == "generated":
            from .jet_io import read_jets

            data = read_jets(path)
        else:
            data = read_rows(path, a, b, self.format)
        if isinstance(data, tuple):
            chunk: Any = _Images(*data, source=str(path), offset=a or 0)
        else:
            chunk = _Features(data, self.feature_set)
        if len(chunk) != int(self._starts[i + 1] - self._starts[i]):
            raise DataFileError(f"{path} changed since it was indexed: chunk {i} has {len(chunk)} jets")
        self._cache[i] = chunk
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return chunk

    def _build(self, chunk: Any, index: Tensor):
        if self.representation == "image":
            return self._build_images(chunk, index)
        from ..graphs.cloud import clouds_to_batch

        x, pos, pt, p4, counts, y = chunk.gather(index)
        batch = clouds_to_batch(x, pos, counts, k=self.k, pt=pt, p4=p4, y=y)
        if self.representation == "set":
            from ..graphs.set import fully_connected_edge_index

            batch.edge_index = fully_connected_edge_index(counts, ptr=batch.ptr)
            per_graph = counts * (counts - 1)
            e_ptr = torch.zeros(counts.numel() + 1, dtype=torch.long)
            torch.cumsum(per_graph, 0, out=e_ptr[1:])
            batch._slice_dict["edge_index"] = e_ptr
            batch._inc_dict["edge_index"] = batch.ptr[:-1]
        return batch

    def _build_images(self, chunk: Any, index: Tensor):
        from ..graphs.image import images_to_batch

        if isinstance(chunk, _Images):
            images, y = chunk.images[index], chunk.label[index]
            blank = (images.reshape(images.size(0), -1) == 0).all(1)
            if bool(blank.any()):
                row = chunk.offset + int(index[int(torch.nonzero(blank)[0])])
                raise EmptyGraphError(f"{chunk.source}: image {row} is all zero (no pixel to make a node of)")
        else:
            from .jet_image import jet_image

            table = chunk.table.take(index.numpy())
            images, y = jet_image(table, npix=self.npix, R=self.R), torch.from_numpy(table.label)
        batch = images_to_batch(images, connectivity=8, drop_zeros=True)
        _add_graph_attr(batch, "y", y.reshape(-1).long(), torch.arange(y.numel() + 1))
        return batch

    # ------------------------------------------------------------- access
    def __getitem__(self, idx: int):
        n = len(self)
        idx = int(idx)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"jet index {idx} out of range for {n} jets")
        chunk = int(np.searchsorted(self._starts, idx, side="right") - 1)
        local = idx - int(self._starts[chunk])
        data = self._build(self._chunk(chunk), torch.tensor([local])).get_example(0)
        return self.transform(data) if self.transform else data

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        """Number of batches :meth:`batches` yields (batches never mix chunks)."""
        batch_size = check_positive_int(batch_size, "batch_size")
        sizes = np.diff(self._starts)
        per = sizes // batch_size if drop_last else -(-sizes // batch_size)
        return int(per.sum())

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False) -> Iterator:
        """Yield ``Batch`` objects built vectorised, chunk by chunk.

        Without shuffling the jets come in file order and each batch is a
        contiguous slice of a chunk (no gather at all). With ``shuffle`` a
        ``torch.Generator`` seeded by ``seed`` permutes the chunk order and
        the jets inside each chunk; batches never mix chunks, so a chunk is
        read once per pass (an in-memory dataset is one chunk: a full
        permutation). The last batch of each chunk may be smaller unless
        ``drop_last``.

        Args:
            batch_size (int): Jets per batch.
            shuffle (bool): Shuffle as described above.
            seed (int): Seed of the shuffling.
            drop_last (bool): Skip each chunk's incomplete last batch.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        gen = torch.Generator().manual_seed(int(seed))
        n_chunks = self.num_chunks
        order = torch.randperm(n_chunks, generator=gen) if shuffle else torch.arange(n_chunks)
        for c in order.tolist():
            size = int(self._starts[c + 1] - self._starts[c])
            if size == 0:
                continue
            chunk = self._chunk(c)
            perm = torch.randperm(size, generator=gen) if shuffle else torch.arange(size)
            for s in range(0, size, batch_size):
                idx = perm[s : s + batch_size]
                if drop_last and idx.numel() < batch_size:
                    break
                batch = self._build(chunk, idx)
                yield self.transform(batch) if self.transform else batch

    def __repr__(self) -> str:
        src = str(self.root) if self.root else "memory"
        return f"JetDataset({len(self)} jets, {self.representation}, k={self.k}, from {src})"


__all__ = ["JetDataset", "REPRESENTATIONS"]
