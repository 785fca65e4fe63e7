"""Real event files written by others, for the tests of the ROOT layouts (tests/data/test_root_layouts.py,
tests/data/test_pfnano.py).

They are the sample files of coffea's test suite (BSD-3-Clause, Fermilab; coffea's LICENSE is copied
next to them), taken from coffea's source distribution on PyPI, pinned, its hash and every file's hash
checked. ``python tests/external_samples.py`` fetches them into ``tests/data/external`` (git-ignored);
``make test`` runs it first and then requires them (``PGJETS_REQUIRE_SAMPLES=1``). A file is moved into
place only after its hash matched, so an interrupted fetch leaves no half-written sample.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from pgjets.data.fingerprint import file_sha256

COFFEA = "coffea==2026.9.0"
SDIST_SHA256 = "7dfc1b54d9d1533c8a5bd8a5786d13272ea1a170b0817061d4478f721aedae04"
#: file name -> sha256 (all under tests/samples/ of the sdist)
FILES = {
    "delphes.root": "af2ea9ad3982751f6fec7b39b6be8a35dbae9a4244cfb56fbd35ae5b9d5bd7ea",
    "p8_ee_WW_ecm240_edm4hep.root": "97d7d9e9f2e620caa038322df51b70ea0f993b7303245c3787f1a6b0cd9341c6",
    "edm4hep_ILD_mumuH_v01-00_podio_v01-07_10ev.root":
        "d1da1839d412ebecf0559a227dc0e19a4d7560ddcfbb98bfad7f3b314ee08563",
    "PHYSLITE_example.root": "6ebbafb5a1f72ca0b6fa47de73c28906101997e6f8a58d97536e4c040a15aa0b",
    "treemaker.root": "59ddd2e579830f888135836ffd75bddf10867f1c1068d2bc5c5bf46d9a4755cc",
    "nano_dy.root": "159b17b34b4d13ea4960d36fb9b01f2a505cc1a5a8de0fb3cfa185154543c81c",
    "nano_tt_v15.root": "0ee769872082459bf2ccbef08b916c26b3070b64969812aea4d75a0cfa006256",
    "pfnano.root": "504f10f40146005184a1365dcf8b6c8235983597567fab04d1b4b6cc25603939",
}
DIR = Path(__file__).resolve().parent / "data" / "external"


def missing(dest: Path = DIR) -> list[str]:
    """The sample files that ``dest`` lacks or holds with another hash."""
    return [n for n, sha in FILES.items() if not (dest / n).is_file() or file_sha256(dest / n) != sha]


def fetch(dest: Path = DIR) -> None:
    """Fetch the sample files into ``dest`` (nothing to do when they are all there)."""
    todo = missing(dest)
    if not todo:
        return
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", COFFEA, "--no-deps", "--no-binary", ":all:",
                        "-d", tmp, "-q"], check=True)
        tarball = next(Path(tmp).glob("coffea-*.tar.gz"))
        if file_sha256(tarball) != SDIST_SHA256:
            raise SystemExit(f"{tarball.name}: sha256 {file_sha256(tarball)} is not the pinned {SDIST_SHA256}")
        with tarfile.open(tarball) as tf:
            members = {Path(m.name).name: m for m in tf.getmembers()
                       if m.isfile() and (Path(m.name).parent.name == "samples" or m.name.count("/") == 1)}
            for name in todo + ["LICENSE"]:
                part = Path(tmp) / name
                with tf.extractfile(members[name]) as src, open(part, "wb") as out:
                    shutil.copyfileobj(src, out)
                if name != "LICENSE" and file_sha256(part) != FILES[name]:
                    raise SystemExit(f"{name}: sha256 {file_sha256(part)} is not the pinned {FILES[name]}")
                os.replace(part, dest / ("LICENSE-coffea" if name == "LICENSE" else name))


if __name__ == "__main__":
    fetch()
    print(f"{len(FILES)} sample files in {DIR}")
