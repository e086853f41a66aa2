"""Unpack tar and zip archives safely, turning a truncated or corrupt archive into a clear error."""

from __future__ import annotations

import gzip
import logging
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

from proxy_attention.errors import DataError

log = logging.getLogger(__name__)

# What a truncated or damaged archive raises while it is read.
CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile)


def corrupt_archive(dataset: str, archive: Path, err: Exception) -> DataError:
    return DataError(
        f"dataset '{dataset}': archive {archive} is truncated or corrupt ({type(err).__name__}: {err}). "
        f"Delete {archive} and run again to fetch it anew"
    )


def _inside(root: Path, name: str) -> bool:
    target = (root / name).resolve()
    return target == root or root in target.parents


def extract(dataset: str, archive: str | Path, dest: str | Path) -> Path:
    """Extract every member of ``archive`` (tar, tar.gz, tgz or zip) under ``dest``; return ``dest``.

    Members that would land outside ``dest`` (absolute paths, ``..``, links) are refused.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    log.info("dataset '%s': extracting %s", dataset, archive)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                bad = [n for n in zf.namelist() if not _inside(root, n)]
                if bad:
                    raise DataError(f"dataset '{dataset}': archive {archive} has members outside its folder: {bad[:3]}")
                zf.extractall(dest)  # reads every member in full and checks its CRC
        else:
            with tarfile.open(archive, "r:*") as tf:
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")
                else:  # Python without extraction filters: check the names ourselves
                    members = tf.getmembers()
                    bad = [m.name for m in members if not _inside(root, m.name) or m.issym() or m.islnk() or m.isdev()]
                    if bad:
                        raise DataError(f"dataset '{dataset}': archive {archive} has unsafe members: {bad[:3]}")
                    tf.extractall(dest, members=members)
    except CORRUPT as e:
        raise corrupt_archive(dataset, archive, e) from None
    n = sum(len(files) for _, _, files in os.walk(dest))
    log.info("dataset '%s': extracted %d files from %s", dataset, n, archive.name)
    return dest


def read_member(dataset: str, archive: str | Path, basename: str) -> bytes:
    """The bytes of the one tar member whose file name is ``basename`` (at any depth)."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:
                if member.isfile() and Path(member.name).name == basename:
                    return tf.extractfile(member).read()
    except CORRUPT as e:
        raise corrupt_archive(dataset, archive, e) from None
    raise DataError(f"dataset '{dataset}': archive {archive} has no file named {basename}")


def find_dir(root: Path, match, max_depth: int = 4) -> Path | None:
    """The shallowest directory under ``root`` (itself included) for which ``match(path)`` is true."""
    level = [root]
    for _ in range(max_depth + 1):
        hits = sorted(p for p in level if match(p))
        if hits:
            return hits[0]
        level = sorted(c for p in level for c in p.iterdir() if c.is_dir() and not c.name.startswith("."))
        if not level:
            break
    return None
