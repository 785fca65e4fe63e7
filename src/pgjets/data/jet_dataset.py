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

**Sources.** ``root`` is anything :func:`~pgjets.data.sources.resolve_sources`
takes: a generated folder, a folder of data files, a file of any format
:func:`~pgjets.data.readers.detect_format` knows (top-landscape HDF5 fixed or
table, JetClass ROOT, quark/gluon npz, awkward parquet, jet images, pgjets
chunk files), a glob, or a list of them. The sources are indexed at
construction (file lists and jet counts only) and every file is cut into
*chunks* of at most ``chunk_size`` rows, read on demand.  Every chunk must
give the same input columns and class names as the first one, otherwise a
:class:`~pgjets.errors.DataFileError` names the file.

**Shuffling.** A shuffled pass (:meth:`JetDataset.batches` with
``shuffle=True``) permutes all chunks of all files with a seeded generator
and walks them ``shuffle_chunks`` at a time (the next group is read in a
background thread meanwhile): the jets of those chunks (plus the remainder
of the previous group) form a buffer that is permuted as a whole and cut
into batches.  A batch therefore mixes jets of several chunks
and files, so even a file sorted by label gives mixed batches, while at most
``2 * shuffle_chunks + 1`` chunks are in memory: the peak memory depends on
``chunk_size * shuffle_chunks``, not on the number of jets.

**Many processes.** With ``world_size > 1`` the jets of the epoch's sequence
(the permuted chunks, each chunk's rows permuted too; the same seeded
sequence on every rank) are dealt out like cards: jet :math:`j` goes to rank
:math:`j \bmod W`, up to the first :math:`W \lfloor N / W \rfloor`.  Every
rank so gets :math:`\lfloor N / W \rfloor` jets from every chunk (every file,
both classes of files written one class per file) with new jets each epoch,
and yields exactly :math:`\lfloor \lfloor N/W \rfloor / B \rfloor` full
batches: no jet is seen twice in an epoch and fewer than one batch (plus
:math:`W - 1` jets) per rank is left out, as ``DistributedSampler`` with
``drop_last``.  Each rank reads every chunk, so the ranks together read the
data :math:`W` times.

**Fast path.** Batches are built vectorised from contiguous feature arrays,
one :func:`~pgjets.graphs.cloud.clouds_to_batch` call per batch and no
Python work per jet.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._checks import check_positive_int
from ..errors import DataFileError, EmptyGraphError, UsageError
from ..ops.sizes import ptr_from_counts
from .features import constituent_features, feature_names
from .table import JetTable, offsets_from_counts

REPRESENTATIONS = ("cloud", "set", "image")


class _Features:
    """Flat feature arrays of a table, with offsets, ready for gathering."""

    def __init__(self, table: JetTable, feature_set: str, source: str = "the jets",
                 rows: Optional[Tensor] = None) -> None:
        table.require_nonempty_jets()
        self.source = source  # file the rows come from, and each jet's row there (for messages)
        self.rows = torch.arange(len(table)) if rows is None else rows
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
        new_off = ptr_from_counts(counts)
        flat = torch.repeat_interleave(starts - new_off[:-1], counts, output_size=total) + torch.arange(total)
        return self.x[flat], self.pos[flat], self.pt[flat], self.p4[flat], counts, self.label[index]


class _Images:
    """A chunk of ready-made jet images (from a jet-image file)."""

    def __init__(self, images: Tensor, labels: Tensor, source: str = "the jet-image file",
                 rows: Optional[Tensor] = None) -> None:
        self.images = images
        self.label = labels
        self.source = source  # file the rows come from, and each image's row there (for messages)
        self.rows = torch.arange(len(labels)) if rows is None else rows

    def __len__(self) -> int:
        return int(self.label.numel())


def _add_graph_attr(batch, name: str, value: Tensor, per_graph_slices: Tensor) -> None:
    """Attach a per-graph attribute to a ``Batch`` so that ``batch[i]`` still works."""
    setattr(batch, name, value)
    batch._slice_dict[name] = per_graph_slices
    batch._inc_dict[name] = torch.zeros(per_graph_slices.numel() - 1, dtype=torch.long)


def _same_pfnano_inputs(path: Path, has: bool, first: Optional[tuple[Path, bool]]) -> tuple[Path, bool]:
    """``first`` (or ``path`` and ``has``, whether it stores track impact parameters), after checking that
    ``path`` agrees: the impact parameters are four more input columns.

    Raises:
        DataFileError: ``path`` stores them and ``first`` does not, or the other way round.
    """
    if first is not None and has != first[1]:
        with_ip, without = (path, first[0]) if has else (first[0], path)
        raise DataFileError(f"{with_ip} stores the candidates' track impact parameters (PFCands_d0, ...) but "
                            f"{without} does not: one dataset needs one set of inputs")
    return first if first is not None else (path, has)


def _same_jetclass_classes(path: Path, names: list[str], first: Optional[tuple[Path, list[str]]]
                           ) -> tuple[Path, list[str]]:
    """``first`` (or ``path`` with its classes ``names``, for the first JetClass file), after checking that
    ``path`` has the same ``label_*`` branches: a file with a subset of them numbers its classes otherwise,
    which a stream would only find when it reached the file (after a run's folder is written).

    Raises:
        DataFileError: ``path`` has other classes than ``first``.
    """
    if first is not None and names and names != first[1]:
        raise DataFileError(f"{path} has the classes {names} (its label_* branches) but {first[0]} has "
                            f"{first[1]}: the files of one dataset need the same label_* branches")
    return first if first is not None or not names else (path, names)


class JetDataset(Dataset):
    r"""Jets as PyG graphs, streamed chunk by chunk (see the module docstring).

    ``ds[i]`` is one ``Data`` jet graph; :meth:`batches` yields whole
    ``Batch`` objects built vectorised (the training fast path).

    Args:
        root (path, str or list, optional): Generated folder(s), data files
            or globs (see :func:`~pgjets.data.sources.resolve_sources`);
            ``None`` with :meth:`from_table`.
        representation (str): ``"cloud"``, ``"set"`` or ``"image"``.
        k (int, optional): Neighbours of the kNN graph for ``"cloud"``
            (``None``: no edges).
        feature_set (str): See :func:`~pgjets.data.features.constituent_features`.
        format (str): ``"auto"`` (from the content) or a
            :data:`~pgjets.data.readers.FORMATS` name for every path.
        npix (int): Image size for ``"image"``.
        R (float): Image half-width for ``"image"``.
        transform (callable, optional): Applied to every ``Data`` from
            ``__getitem__`` and every ``Batch`` from :meth:`batches`.
        cache_chunks (int): Chunks kept in memory for ``ds[i]`` and unshuffled
            passes (LRU).
        chunk_size (int): Rows per chunk (a file is cut into such ranges).
        shuffle_chunks (int): Chunks mixed in the shuffle buffer of a
            shuffled pass. Many small chunks mix better than a few large
            ones: with the defaults a buffer holds 32k jets from 16 places of
            the data, so a group drawn only from one half of a label-sorted
            file has a probability :math:`2^{-15}`.
        prefetch (bool): In a shuffled pass, read the next group of chunks
            in a background thread while the current one is consumed (then
            up to ``2 * shuffle_chunks + 1`` chunks are in memory).
        labelled (bool): ``False`` reads parquet jet files that have no label
            field (jets of collision data, to be scored): every ``y`` is
            ``-1`` and there are no class names
            (:func:`~pgjets.data.parquet_has_labels`).

    Shapes:
        - **ds[i]:** ``Data(x=(N, F), pos=(N, 2), pt=(N,), p4=(N, 4), y=(1,)[, edge_index=(2, E)])``
        - **batches:** ``Batch`` of up to ``batch_size`` such graphs.

    Raises:
        DataFileNotFoundError: A path does not exist.
        DataFileError: Unreadable or malformed data, or sources that disagree
            on input columns or classes.
        ValueError: Unknown representation, or a non-image representation
            of a jet-image file.
    """

    #: The ``Data`` class of ``ds[i]`` (``None``: PyG's own); event datasets keep ``event_index`` with theirs.
    _item_class: Optional[type] = None

    def __init__(
        self,
        root: Optional[Any] = None,
        representation: str = "cloud",
        k: Optional[int] = 16,
        feature_set: str = "particlenet",
        format: str = "auto",
        npix: int = 20,
        R: float = 0.8,
        transform: Optional[Callable] = None,
        cache_chunks: int = 4,
        chunk_size: int = 2048,
        shuffle_chunks: int = 16,
        prefetch: bool = True,
        labelled: bool = True,
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
        self.shuffle_chunks = check_positive_int(shuffle_chunks, "shuffle_chunks")
        self.prefetch = bool(prefetch)
        self.labelled = bool(labelled)
        self._cache: "OrderedDict[int, Any]" = OrderedDict()
        self._memory: Optional[Any] = None
        self._units: list[tuple[Path, str, int, int]] = []
        self._label_names: Optional[list[str]] = None
        self._feature_names: list[str] = []
        self._first_path: Optional[Path] = None
        self._select: Optional[list[Tensor]] = None  # per chunk: the rows of a subset (None = all)
        self.format = format
        self.sources: list = []
        self.root = Path(root) if isinstance(root, (str, os.PathLike)) else None
        if root is None:
            self._starts = np.zeros(1, dtype=np.int64)
            return
        from .pfnano import pfnano_file_info
        from .readers import FORMATS, count_rows, jetclass_file_info
        from .sources import Source, _as_list, check_compatible, expand_spec, resolve_sources

        if format == "auto":
            self.sources = resolve_sources(root)
        else:
            if format not in FORMATS:
                raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
            self.sources = [Source(p, format) for item in _as_list(root) for p in expand_spec(item)]
        check_compatible(self.sources)
        fmts = {s.format for s in self.sources}
        self.format = fmts.pop() if len(fmts) == 1 else "mixed"
        if "images" in {s.format for s in self.sources} and representation != "image":
            raise UsageError(f"{self.sources[0].path} holds jet images, which only an image representation "
                             f"reads (representation='image', not {representation!r})")
        counts: list[int] = []
        classes: Optional[tuple[Path, list[str]]] = None  # the first JetClass file's classes
        track_ip: Optional[tuple[Path, bool]] = None  # whether the first PFNano file has impact parameters
        for src in self.sources:
            for path, fmt in src.files():
                # before any chunk (one open of the file, which counts its rows too): a JetClass file
                # with other label_* branches, or a PFNano file with other input columns
                if fmt == "jetclass" and self.labelled:
                    n, names = jetclass_file_info(path)
                    classes = _same_jetclass_classes(path, names, classes)
                elif fmt == "pfnano":
                    n, has_ip = pfnano_file_info(path)
                    track_ip = _same_pfnano_inputs(path, has_ip, track_ip)
                else:
                    n = count_rows(path, fmt)
                for a in range(0, n, self.chunk_size):
                    b = min(n, a + self.chunk_size)
                    self._units.append((path, fmt, a, b))
                    counts.append(b - a)
        self._starts = offsets_from_counts(counts)
        self._init_meta(self._chunk(0) if self._units else None)
        self._check_other_formats()

    def _init_meta(self, first: Any) -> None:
        """Feature count, input columns and class names from the first chunk."""
        self._first_path = self._units[0][0] if self._units else None
        if first is None:
            self._num_features = 0
            self._num_classes = len(self._label_names) if self._label_names else 0
            return
        if isinstance(first, _Images):
            self._num_features = int(first.images.size(1))
            self._feature_names = [f"image_channel_{c}" for c in range(self._num_features)]
        elif self.representation == "image":
            self._num_features = 1
            self._feature_names = ["pt_fraction"]
        else:
            self._num_features = int(first.x.size(1))
            self._feature_names = list(first.names)
        if self._label_names is None and isinstance(first, _Features):
            self._label_names = first.table.label_names
        if self._label_names:
            self._num_classes = len(self._label_names)
        else:  # no names anywhere: the labels of the first chunk decide (unlabelled: 0)
            self._num_classes = int(first.label.max()) + 1 if len(first) else 0

    # ----------------------------------------------------------- creation
    @classmethod
    def from_table(cls, table: JetTable, representation: str = "cloud", k: Optional[int] = None,
                   feature_set: str = "particlenet", **kwargs: Any) -> "JetDataset":
        """An in-memory dataset over ``table`` (never evicted; shuffles are full permutations).

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

    def subset(self, index: Any) -> "JetDataset":
        """The jets at global positions ``index`` (a split), streamed from the same chunks.

        Positions are sorted and deduplicated; the subset shares the sources
        (and the in-memory table) of this dataset, reads whole chunks and
        keeps only the selected rows.

        Args:
            index (array-like of int): Jet positions in ``0..len(self)-1``.
        """
        import copy

        idx = np.unique(np.asarray(index, dtype=np.int64).reshape(-1))
        if idx.size and (idx[0] < 0 or idx[-1] >= len(self)):
            raise IndexError(f"subset positions must be in 0..{len(self) - 1}")
        out = copy.copy(self)
        out._cache = OrderedDict()
        bounds = np.searchsorted(idx, self._starts)  # idx is sorted: chunk c owns idx[bounds[c]:bounds[c + 1]]
        select, counts = [], []
        for c in range(self.num_chunks):
            rows = idx[bounds[c] : bounds[c + 1]] - self._starts[c]
            if self._select is not None:
                rows = self._select[c][torch.from_numpy(rows)].numpy()
            select.append(torch.from_numpy(rows))
            counts.append(rows.size)
        out._select = select
        out._starts = offsets_from_counts(counts)
        return out

    def to_table(self) -> JetTable:
        """All (selected) jets as one :class:`JetTable`, in order: reads everything, for small datasets only."""
        parts = []
        for c in range(self.num_chunks):
            n = int(self._starts[c + 1] - self._starts[c])
            if n:
                chunk = self._chunk(c)
                if not isinstance(chunk, _Features):
                    raise ValueError("to_table needs constituent data, not jet images")
                parts.append(chunk.table.take(self._rows(c, 0, n).numpy()))
        if not parts:
            raise DataFileError(f"{self!r} holds no jets")
        return parts[0] if len(parts) == 1 else JetTable.concat(parts)

    def _rows(self, c: int, a: int, b: int) -> Tensor:
        """Rows of chunk ``c`` at positions ``a:b`` of its (selected) jets."""
        return self._rows_at(c, torch.arange(a, b))

    def _rows_at(self, c: int, positions: Tensor) -> Tensor:
        """Rows of chunk ``c`` at ``positions`` of its (selected) jets.

        A chunk read from disk by a subset holds only the selected jets; the
        in-memory table holds all of them, so the selection maps there.
        """
        if self._select is None or self._memory is None:
            return positions
        return self._select[c][positions]

    # --------------------------------------------------------- properties
    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def num_features(self) -> int:
        """Node feature dimension ``F`` (image channels for ``"image"``)."""
        return int(self._num_features)

    @property
    def feature_names(self) -> list[str]:
        """Names of the ``F`` input columns, in order (what a model trained on this dataset expects)."""
        return list(self._feature_names)

    @property
    def num_classes(self) -> int:
        """Number of classes (from the label names, else from the first chunk's labels)."""
        return int(self._num_classes)

    @property
    def label_names(self) -> Optional[list[str]]:
        """Class names, ``label_names[y]``, when the source has them."""
        return self._label_names

    def classes_present(self, at_least: Optional[int] = None) -> list[int]:
        """The labels the jets hold, sorted, read chunk by chunk from the label columns.

        No graph or feature is built; a chunk already in memory is not read again.
        With ``at_least`` the reading stops as soon as that many labels are seen
        (two chunks of a shuffled sample usually suffice to see both classes of a
        binary sample; a one-class file is read whole).  Unlabelled jets give ``[-1]``.
        """
        from .readers import read_rows

        seen: set[int] = set()
        for c in range(self.num_chunks):
            if self._memory is not None:
                labels = self._memory.label
                labels = labels if self._select is None else labels[self._select[c]]
            elif c in self._cache:  # cached chunks hold the selected rows already
                labels = self._cache[c].label
            else:
                path, fmt, a, b = self._units[c]
                data = read_rows(path, a, b, fmt, labelled=self.labelled)
                labels = torch.as_tensor(data[1] if isinstance(data, tuple) else data.label)
                labels = labels if self._select is None else labels[self._select[c]]
            seen.update(int(v) for v in torch.unique(labels))
            if at_least is not None and len(seen) >= at_least:
                break
        return sorted(seen)

    @property
    def num_chunks(self) -> int:
        """Chunks the data are cut into (1 for an in-memory dataset)."""
        return int(self._starts.size - 1)

    @property
    def cached_chunks(self) -> list[int]:
        """Indices of the chunks now held in memory, least recently used first."""
        return list(self._cache)

    # ------------------------------------------------------------- chunks
    def _load(self, i: int) -> Any:
        """Read chunk ``i`` from disk and check it against the first chunk."""
        from .readers import read_rows

        path, fmt, a, b = self._units[i]
        data = read_rows(path, a, b, fmt, labelled=self.labelled)
        n = len(data[1]) if isinstance(data, tuple) else len(data)
        if n != b - a:
            raise DataFileError(f"{path} changed since it was indexed: rows {a}:{b} hold {n} jets")
        rows = torch.arange(a, b)  # rows of the file, for messages
        if self._select is not None:  # a subset keeps only its rows (before the features are computed)
            sel = self._select[i]
            rows = rows[sel]
            data = (data[0][sel], data[1][sel]) if isinstance(data, tuple) else data.take(sel.numpy())
        chunk: Any = (_Images(*data, source=str(path), rows=rows) if isinstance(data, tuple)
                      else _Features(data, self.feature_set, source=str(path), rows=rows))
        if i > 0 or self._feature_names:
            self._check_chunk(chunk, path)
        return chunk

    def _check_other_formats(self) -> None:
        """Check the first jet of every further format now: a mix of formats with other input columns
        or classes (top .h5 with quark/gluon .npz) would otherwise fail only when training reaches it."""
        from .readers import read_rows

        seen = {self._units[0][1]} if self._units else set()
        for path, fmt, a, b in self._units:
            if fmt in seen or fmt == "images":
                continue
            seen.add(fmt)
            self._check_chunk(_Features(read_rows(path, a, a + 1, fmt, labelled=self.labelled), self.feature_set),
                              path)

    def _check_chunk(self, chunk: Any, path: Path) -> None:
        if isinstance(chunk, _Features) and self.representation != "image" and list(chunk.names) != self._feature_names:
            raise DataFileError(
                f"{path} provides the input columns {', '.join(chunk.names)} but {self._first_path} "
                f"provides {', '.join(self._feature_names)}: one dataset needs one set of inputs")
        names = chunk.table.label_names if isinstance(chunk, _Features) else None
        if self._label_names and names and list(names) != list(self._label_names):
            raise DataFileError(f"{path} has the classes {names} but {self._first_path} has {self._label_names}")
        if self._num_classes and len(chunk) and int(chunk.label.max()) >= self._num_classes:
            raise DataFileError(f"{path}: label {int(chunk.label.max())} is outside 0..{self._num_classes - 1} "
                                f"(the classes of {self._first_path})")

    def _chunk(self, i: int) -> Any:
        """Chunk ``i`` through the LRU cache."""
        if self._memory is not None:
            return self._memory
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        chunk = self._load(i)
        self._cache[i] = chunk
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return chunk

    def _build(self, chunk: Any, index: Tensor):
        return self._build_pieces([(chunk, index)])

    def _build_pieces(self, pieces: list[tuple[Any, Tensor]], allow_none: bool = False):
        """One ``Batch`` of the jets ``index`` of each ``(chunk, index)`` piece, in order.

        ``allow_none``: a subclass may return ``None`` for a batch it leaves out
        (events without objects); the stream then skips it.
        """
        if self.representation == "image":
            return self._build_images(pieces)
        from ..graphs.cloud import clouds_to_batch

        parts = [chunk.gather(index) for chunk, index in pieces]
        x, pos, pt, p4, counts, y = parts[0] if len(parts) == 1 else [torch.cat(c) for c in zip(*parts)]
        batch = clouds_to_batch(x, pos, counts, k=self.k, pt=pt, p4=p4, y=y)
        if self.representation == "set":
            from ..graphs.set import fully_connected_edge_index

            batch.edge_index = fully_connected_edge_index(counts, ptr=batch.ptr)
            batch._slice_dict["edge_index"] = ptr_from_counts(counts * (counts - 1))
            batch._inc_dict["edge_index"] = batch.ptr[:-1]
        return batch

    def _build_images(self, pieces: list[tuple[Any, Tensor]]):
        from ..graphs.image import images_to_batch

        imgs, ys = [], []
        for chunk, index in pieces:
            if isinstance(chunk, _Images):
                images = chunk.images[index]
                blank = (images.reshape(images.size(0), -1) == 0).all(1)
                if bool(blank.any()):
                    row = int(chunk.rows[index[int(torch.nonzero(blank)[0])]])
                    raise EmptyGraphError(f"{chunk.source}: image {row} is all zero (no pixel to make a node of)")
                imgs.append(images)
                ys.append(chunk.label[index])
            else:
                from .jet_image import jet_image

                table = chunk.table.take(index.numpy())
                images = jet_image(table, npix=self.npix, R=self.R)
                blank = (images.reshape(images.size(0), -1) == 0).all(1)
                if bool(blank.any()):
                    row = int(chunk.rows[index[int(torch.nonzero(blank)[0])]])
                    raise EmptyGraphError(
                        f"{chunk.source}: jet {row} has no constituent inside its {self.npix}x{self.npix} image "
                        f"(half-width R={self.R:g} about its pT centroid): no pixel to make a node of; leave it "
                        "out (a subset without it) or choose a larger R")
                imgs.append(images)
                ys.append(torch.from_numpy(table.label))
        images, y = (imgs[0], ys[0]) if len(imgs) == 1 else (torch.cat(imgs), torch.cat(ys))
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
        data = self._build(self._chunk(chunk), self._rows(chunk, local, local + 1)).get_example(0)
        if self._item_class is not None:
            data = self._item_class.from_dict(data.to_dict())
        return self.transform(data) if self.transform else data

    def num_batches(self, batch_size: int, drop_last: bool = False, world_size: int = 1) -> int:
        """Number of batches :meth:`batches` yields (per rank when ``world_size > 1``)."""
        batch_size = check_positive_int(batch_size, "batch_size")
        world_size = check_positive_int(world_size, "world_size")
        n = len(self)
        if world_size > 1:
            return (n // world_size) // batch_size
        return n // batch_size if drop_last else -(-n // batch_size)

    def _blocks(self) -> list[tuple[int, int, int]]:
        """``(chunk, lo, hi)``: the row ranges a pass walks (an in-memory table is cut into chunk-sized blocks)."""
        if self._memory is not None:
            n = len(self)
            return [(0, a, min(n, a + self.chunk_size)) for a in range(0, n, self.chunk_size)]
        return [(c, 0, int(self._starts[c + 1] - self._starts[c])) for c in range(self.num_chunks)
                if self._starts[c + 1] > self._starts[c]]

    def _plan(self, shuffle: bool, gen: torch.Generator, rank: int, world_size: int) -> list[tuple[int, Tensor]]:
        """``(chunk, positions)``: the jets of each chunk this rank streams, in order (see the module docs)."""
        blocks = self._blocks()
        if shuffle:
            blocks = [blocks[i] for i in torch.randperm(len(blocks), generator=gen).tolist()]
        if world_size == 1:
            return [(c, torch.arange(a, b)) for c, a, b in blocks]
        used = len(self) // world_size * world_size  # jets dealt out; the last N mod W are left out
        plan, start = [], 0
        for c, a, b in blocks:  # every rank draws every block's permutation: the same stream everywhere
            order = torch.randperm(b - a, generator=gen) if shuffle else torch.arange(b - a)
            local = torch.arange((rank - start) % world_size, min(b - a, used - start), world_size)
            if local.numel():
                plan.append((c, a + order[local]))
            start += b - a
        return plan

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False, rank: int = 0, world_size: int = 1) -> Iterator:
        """Yield ``Batch`` objects built vectorised.

        Without shuffling the jets come in file order and batches are
        contiguous slices (a batch may span the end of one chunk and the
        start of the next). With ``shuffle`` a ``torch.Generator`` seeded by
        ``seed`` permutes the chunks and mixes ``shuffle_chunks`` of them at a
        time in a shuffle buffer (see the module docstring; an in-memory
        dataset is permuted as a whole). All batches but the last are full;
        the last is dropped if ``drop_last``.

        With ``world_size > 1`` this yields rank ``rank``'s disjoint share,
        :meth:`num_batches` ``(batch_size, world_size=world_size)`` full
        batches on every rank (``drop_last`` is implied).

        Args:
            batch_size (int): Jets per batch.
            shuffle (bool): Shuffle as described above.
            seed (int): Seed of the shuffling (same on every rank).
            drop_last (bool): Skip the incomplete last batch.
            rank (int): This process's rank.
            world_size (int): Number of processes sharing the pass.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        world_size = check_positive_int(world_size, "world_size")
        if not 0 <= int(rank) < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        gen = torch.Generator().manual_seed(int(seed))
        plan = self._plan(shuffle, gen, int(rank), world_size)
        if world_size > 1:
            drop_last = True
        limit = self.num_batches(batch_size, drop_last, world_size) if world_size > 1 else None
        group = len(plan) if self._memory is not None else (self.shuffle_chunks if shuffle else 1)
        groups = [plan[g : g + group] for g in range(0, len(plan), max(group, 1))]
        stream = shuffle and self._memory is None

        def load(grp: list[tuple[int, Tensor]]) -> list[Any]:
            if not stream:
                return [self._chunk(c) for c, _ in grp]
            return [self._cache[c] if c in self._cache else self._load(c) for c, _ in grp]

        # a shuffled pass reads the next group in a background thread while this one is trained on
        pool = None
        if stream and self.prefetch and len(groups) > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgjets-prefetch")
        try:
            yield from self._stream_groups(groups, load, pool, gen, shuffle, batch_size, drop_last, limit)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _stream_groups(self, groups: list, load: Callable, pool: Any, gen: torch.Generator, shuffle: bool,
                       batch_size: int, drop_last: bool, limit: Optional[int]) -> Iterator:
        """Batches of the chunk groups: each group plus the previous remainder is permuted and cut."""
        carry: list[tuple[Any, Tensor]] = []
        done = 0
        future = pool.submit(load, groups[0]) if pool is not None and groups else None
        for gi, grp in enumerate(groups):
            if future is not None:
                chunks = future.result()
                future = pool.submit(load, groups[gi + 1]) if gi + 1 < len(groups) else None
            else:
                chunks = load(grp)
            entries = list(carry)
            for chunk, (c, positions) in zip(chunks, grp):
                rows = self._rows_at(c, positions)
                if entries and entries[-1][0] is chunk:  # blocks of one in-memory chunk: one entry
                    entries[-1] = (chunk, torch.cat([entries[-1][1], rows]))
                else:
                    entries.append((chunk, rows))
            cid = torch.cat([torch.full((idx.numel(),), i, dtype=torch.long) for i, (_, idx) in enumerate(entries)])
            loc = torch.cat([idx for _, idx in entries])
            if shuffle:
                perm = torch.randperm(loc.numel(), generator=gen)
                cid, loc = cid[perm], loc[perm]
            n_full = loc.numel() // batch_size
            for s in range(n_full):
                if limit is not None and done >= limit:
                    return
                sl = slice(s * batch_size, (s + 1) * batch_size)
                batch = self._build_pieces(_pieces(entries, cid[sl], loc[sl]), allow_none=limit is None)
                if batch is None:  # left out whole (under DDP every rank yields its full count instead)
                    continue
                done += 1
                yield self.transform(batch) if self.transform else batch
            rest = slice(n_full * batch_size, None)
            carry = _pieces(entries, cid[rest], loc[rest])
        if carry and not drop_last:
            batch = self._build_pieces(carry, allow_none=True)
            if batch is not None:
                yield self.transform(batch) if self.transform else batch

    def __repr__(self) -> str:
        if self._memory is not None or not self.sources:
            src = "memory"
        else:
            from .sources import describe

            src = describe(self.sources)
        return f"JetDataset({len(self)} jets, {self.representation}, k={self.k}, from {src})"


def _pieces(entries: list[tuple[Any, Tensor]], cid: Tensor, loc: Tensor) -> list[tuple[Any, Tensor]]:
    """Group the rows ``loc`` of the entries ``cid`` by chunk, in entry order."""
    if cid.numel() == 0:
        return []
    first, last = int(cid[0]), int(cid[-1])
    if first == last and bool((cid == first).all()):
        return [(entries[first][0], loc)]
    return [(entries[c][0], loc[cid == c]) for c in torch.unique(cid).tolist()]


__all__ = ["JetDataset", "REPRESENTATIONS"]
