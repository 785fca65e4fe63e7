from __future__ import annotations

import numpy as np
import pytest

from pgjets.data import write_jets, Source, resolve_sources, JetTable, write_top_landscape
from pgjets.data.jet_io import write_manifest
from pgjets.data.sources import describe
from pgjets.errors import DataFileError, DataFileNotFoundError


def table(n=4, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 5, n)
    P = int(counts.sum())
    pt = rng.uniform(1, 9, P)
    return JetTable(px=pt, py=0 * pt, pz=pt, E=2 * pt, offsets=np.r_[0, np.cumsum(counts)],
                    label=rng.integers(0, 2, n), label_names=["qcd", "top"])


def test_files_globs_folders_and_lists(tmp_path):
    for i in range(3):
        write_top_landscape(table(seed=i), tmp_path / f"part_{i}.h5", n_part=5)
    gen = tmp_path / "gen"
    gen.mkdir()
    write_jets(table(seed=9), gen / "c0.h5")
    write_manifest(gen, {"files": ["c0.h5"], "label_names": ["qcd", "top"]})
    one = resolve_sources(tmp_path / "part_0.h5")
    assert one == [Source(tmp_path / "part_0.h5", "landscape")]
    globbed = resolve_sources(str(tmp_path / "part_*.h5"))
    assert [s.path.name for s in globbed] == ["part_0.h5", "part_1.h5", "part_2.h5"]
    mixed = resolve_sources([gen, str(tmp_path / "part_[12].h5"), tmp_path / "part_1.h5"])  # repeats once
    assert [(s.path.name, s.format) for s in mixed] == [("gen", "generated"), ("part_1.h5", "landscape"),
                                                        ("part_2.h5", "landscape")]
    assert mixed[0].files() == [(gen / "c0.h5", "jetfile")]
    folder = resolve_sources(tmp_path)  # a folder of data files (no manifest): its files, sorted
    assert [s.path.name for s in folder] == ["part_0.h5", "part_1.h5", "part_2.h5"]
    assert "3 landscape sources" in describe(folder)


def test_errors_name_the_path(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="does not exist"):
        resolve_sources(tmp_path / "test.h5")
    with pytest.raises(DataFileNotFoundError, match="no file matches"):
        resolve_sources(str(tmp_path / "train_*.root"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataFileError, match="neither manifest.json nor data files"):
        resolve_sources(empty)
    half = tmp_path / "half"
    half.mkdir()
    write_jets(table(), half / "c0.h5")
    with pytest.raises(DataFileError, match="incomplete") as err:
        resolve_sources(half)
    glob = str(err.value).split("as a glob, '")[1].split("'")[0]  # the way out the message names works
    assert [s.path for s in resolve_sources(glob)] == [half / "c0.h5"]


def test_class_specs_split_name_and_path(tmp_path):
    from pgjets.data.sources import class_specs, split_class_spec
    from pgjets.errors import UsageError

    assert split_class_spec("ttbar=/data/tt_*.root") == ("ttbar", "/data/tt_*.root")
    assert split_class_spec("W+jets=a=b.root") == ("W+jets", "a=b.root")  # the first '=' splits
    assert split_class_spec("/data/tt.root") == (None, "/data/tt.root")
    assert split_class_spec("ttH(bb)=a.root") == ("ttH(bb)", "a.root")  # any name without '=', '/', '\\'
    assert split_class_spec("2mu =a.root") == ("2mu", "a.root")
    assert split_class_spec("dir/x=a.root") == (None, "dir/x=a.root")  # a path with '=' in a file name
    odd = tmp_path / "run=3.root"
    odd.write_bytes(b"")
    assert split_class_spec(str(odd)) == (None, str(odd))  # an existing path is a path, '=' or not
    assert split_class_spec("run=3.root") == ("run", "3.root")
    assert class_specs(["a.root", "b.root"]) is None
    assert class_specs(["sig=a.root", "bkg=b.root", "sig=c.root"]) == {"sig": ["a.root", "c.root"], "bkg": ["b.root"]}
    with pytest.raises(UsageError, match="every path a class.*'b.root' has none"):
        class_specs(["sig=a.root", "b.root"])
