from __future__ import annotations

import pytest

from pgjets.data import fingerprint, fingerprint_diff
from pgjets.data.fingerprint import HEAD_BYTES
from pgjets.errors import DataFileNotFoundError


def test_folder_file_and_list_give_names_sizes_and_a_head_hash(tmp_path):
    (tmp_path / "b.h5").write_bytes(b"b" * 10)
    (tmp_path / "a.h5").write_bytes(b"a" * (HEAD_BYTES + 5))
    (tmp_path / ".a.h5.tmp-1").write_bytes(b"partial")  # hidden temporary files do not count
    fp = fingerprint(tmp_path, n_jets=7)
    assert fp["files"] == [{"name": "a.h5", "size": HEAD_BYTES + 5}, {"name": "b.h5", "size": 10}]
    assert fp["n_jets"] == 7 and len(fp["head_sha256"]) == 64
    as_list = fingerprint([tmp_path / "a.h5", tmp_path / "b.h5"], n_jets=7)
    assert as_list == fp
    # only the head of the first file is hashed: a change beyond it keeps the hash, not the size
    (tmp_path / "a.h5").write_bytes(b"a" * HEAD_BYTES + b"x" * 5)
    assert fingerprint(tmp_path, n_jets=7) == fp
    assert fingerprint(tmp_path / "b.h5")["files"] == [{"name": "b.h5", "size": 10}]
    with pytest.raises(DataFileNotFoundError, match="gone.h5"):
        fingerprint([tmp_path / "gone.h5"])


def test_diff_names_what_changed(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"a" * 10)
    (tmp_path / "b.h5").write_bytes(b"b" * 10)
    old = fingerprint(tmp_path, n_jets=20)
    assert fingerprint_diff(old, fingerprint(tmp_path, n_jets=20)) == []
    (tmp_path / "a.h5").write_bytes(b"A" * 10)
    assert fingerprint_diff(old, fingerprint(tmp_path)) == ["other contents of the first file"]
    (tmp_path / "b.h5").unlink()
    (tmp_path / "c.h5").write_bytes(b"c")
    (tmp_path / "a.h5").write_bytes(b"a" * 11)
    diff = fingerprint_diff(old, fingerprint(tmp_path, n_jets=15))
    assert diff == ["missing files b.h5", "new files c.h5", "other sizes of a.h5", "15 jets instead of 20"]
