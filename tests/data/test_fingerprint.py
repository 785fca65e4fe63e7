from __future__ import annotations

import json

import pytest

from pgjets.data import fingerprint, fingerprint_diff
from pgjets.data.fingerprint import SAMPLE_BLOCKS, SAMPLE_BYTES, sample_sha256
from pgjets.errors import DataFileError, DataFileNotFoundError

WHOLE = SAMPLE_BLOCKS * SAMPLE_BYTES  # files up to this size are hashed whole


def _names_sizes(fp):
    return [(e["name"], e["size"]) for e in fp["files"]]


def test_folder_file_and_list_give_names_sizes_and_hashes(tmp_path):
    (tmp_path / "b.h5").write_bytes(b"b" * 10)
    (tmp_path / "a.h5").write_bytes(b"a" * (WHOLE + 5))
    (tmp_path / ".a.h5.tmp-1").write_bytes(b"partial")  # hidden temporary files do not count
    (tmp_path / "README.txt").write_text("notes")  # nor files that are not data
    fp = fingerprint(tmp_path, n_jets=7)
    assert fp["version"] == 2 and fp["n_jets"] == 7
    assert _names_sizes(fp) == [("a.h5", WHOLE + 5), ("b.h5", 10)]
    assert all(len(e["sha256"]) == 64 for e in fp["files"])
    assert fingerprint([tmp_path / "a.h5", tmp_path / "b.h5"], n_jets=7) == fp
    assert _names_sizes(fingerprint(tmp_path / "b.h5")) == [("b.h5", 10)]
    (tmp_path / "README.txt").write_text("other notes")
    assert fingerprint(tmp_path, n_jets=7) == fp
    with pytest.raises(DataFileNotFoundError, match="gone.h5"):
        fingerprint([tmp_path / "gone.h5"])


def test_small_files_are_hashed_whole_large_ones_sampled(tmp_path):
    small = tmp_path / "s.h5"
    small.write_bytes(b"a" * WHOLE)
    before = sample_sha256(small)
    small.write_bytes(b"a" * (WHOLE // 2) + b"b" + b"a" * (WHOLE // 2 - 1))  # one byte in the middle
    assert sample_sha256(small) != before
    big = tmp_path / "b.h5"
    size = 4 * WHOLE
    data = bytearray(b"a" * size)
    big.write_bytes(bytes(data))
    before = sample_sha256(big)
    for offset in (0, size - 1, (size - SAMPLE_BYTES) * 3 // (SAMPLE_BLOCKS - 1)):  # sampled bytes
        edited = bytearray(data)
        edited[offset] = ord("b")
        big.write_bytes(bytes(edited))
        assert sample_sha256(big) != before, offset
    edited = bytearray(data)
    edited[SAMPLE_BYTES + 1] = ord("b")  # between the first two blocks: not read
    big.write_bytes(bytes(edited))
    assert sample_sha256(big) == before


def test_generated_folder_counts_its_listed_chunks_not_the_manifest(tmp_path):
    (tmp_path / "qcd_00000.h5").write_bytes(b"q" * 10)
    (tmp_path / "top_00000.h5").write_bytes(b"t" * 10)
    (tmp_path / "top_00001.h5").write_bytes(b"x" * 3)  # left by an interrupted run, not listed
    manifest = {"format": "pgjets-dataset-v1", "seconds": 1.5,
                "files": [{"name": "qcd_00000.h5"}, {"name": "top_00000.h5"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    fp = fingerprint(tmp_path, n_jets=20)
    assert _names_sizes(fp) == [("qcd_00000.h5", 10), ("top_00000.h5", 10)]
    # regenerating the same jets takes another time: same fingerprint
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "seconds": 12.25}))
    assert fingerprint_diff(fp, fingerprint(tmp_path, n_jets=20)) == []
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataFileError, match="manifest.json"):
        fingerprint(tmp_path)


def test_diff_names_what_changed(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"a" * 10)
    (tmp_path / "b.h5").write_bytes(b"b" * 10)
    old = fingerprint(tmp_path, n_jets=20)
    assert fingerprint_diff(old, fingerprint(tmp_path, n_jets=20)) == []
    (tmp_path / "b.h5").write_bytes(b"B" * 10)  # not the first file: still noticed
    assert fingerprint_diff(old, fingerprint(tmp_path)) == ["other contents of b.h5"]
    (tmp_path / "b.h5").unlink()
    (tmp_path / "c.h5").write_bytes(b"c")
    (tmp_path / "a.h5").write_bytes(b"a" * 11)
    diff = fingerprint_diff(old, fingerprint(tmp_path, n_jets=15))
    assert diff == ["missing files b.h5", "new files c.h5", "other sizes of a.h5", "15 jets instead of 20"]


def test_records_of_earlier_versions_compare_data_names_and_sizes(tmp_path):
    (tmp_path / "qcd_00000.h5").write_bytes(b"q" * 10)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "pgjets-dataset-v1",
                                                        "files": [{"name": "qcd_00000.h5"}]}))
    legacy = {"files": [{"name": "manifest.json", "size": 99}, {"name": "qcd_00000.h5", "size": 10}],
              "head_sha256": "0" * 64, "head_bytes": 1 << 20, "n_jets": 5}
    assert fingerprint_diff(legacy, fingerprint(tmp_path, n_jets=5)) == []
    (tmp_path / "qcd_00000.h5").write_bytes(b"q" * 12)
    assert fingerprint_diff(legacy, fingerprint(tmp_path, n_jets=5)) == ["other sizes of qcd_00000.h5"]
    legacy["files"].append({"name": "top_00000.h5", "size": 10})
    assert fingerprint_diff(legacy, fingerprint(tmp_path, n_jets=5))[0] == "missing files top_00000.h5"


def test_files_of_one_name_in_two_folders_are_told_apart(tmp_path):
    for d in ("sig", "bkg"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "nano_1.root").write_bytes(d.encode() * 10)
    (tmp_path / "other.root").write_bytes(b"x")
    files = [tmp_path / "sig" / "nano_1.root", tmp_path / "bkg" / "nano_1.root", tmp_path / "other.root"]
    fp = fingerprint(files)
    assert [e["name"] for e in fp["files"]] == ["sig/nano_1.root", "bkg/nano_1.root", "other.root"]
    before = fingerprint(files)
    (tmp_path / "sig" / "nano_1.root").write_bytes(b"SIG" * 10)  # a change in the first of the two is seen
    assert fingerprint_diff(before, fingerprint(files)) == ["other contents of sig/nano_1.root"]


def test_shared_files_finds_the_same_content_under_any_name(tmp_path):
    from pgjets.data.fingerprint import fingerprint, shared_files

    (tmp_path / "a.h5").write_bytes(b"x" * 1000)
    (tmp_path / "b.h5").write_bytes(b"y" * 1000)
    (tmp_path / "copy.h5").write_bytes(b"x" * 1000)
    (tmp_path / "longer.h5").write_bytes(b"x" * 1001)
    train = fingerprint([tmp_path / "a.h5", tmp_path / "b.h5"])
    assert shared_files(fingerprint([tmp_path / "copy.h5", tmp_path / "longer.h5"]), train) == [("copy.h5", "a.h5")]
    assert shared_files(train, {"files": [{"name": "a.h5", "size": 1000}]}) == []  # no hashes: nothing shared


def test_file_sha256_is_hashlib_over_the_whole_file(tmp_path):
    import hashlib

    from pgjets.data.fingerprint import file_sha256

    data = bytes(range(256)) * 9000  # more than one 1 MiB block
    (tmp_path / "f.bin").write_bytes(data)
    assert file_sha256(tmp_path / "f.bin") == hashlib.sha256(data).hexdigest()
