"""Atomic writes on a full disk: "no space left on device" and the path, nothing half-written."""

import errno
import os
import shutil
from collections import namedtuple

import pandas as pd
import pytest
import torch

from proxy_attention import atomic
from proxy_attention.errors import DiskFullError

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def full_disk(monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: Usage(10 << 30, 10 << 30, 4096))


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_torchs_iostream_error_on_a_full_disk_says_no_space_left(tmp_path, monkeypatch, full_disk):
    """torch's zip writer reports a full disk as "unexpected pos ... iostream error", never ENOSPC."""
    dest = tmp_path / "checkpoint.pt"
    dest.write_bytes(b"the previous checkpoint")

    def save(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 2246144 vs 2246040")

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(DiskFullError, match=f"no space left on device writing {dest}") as info:
        atomic.torch_save(dest, {"a": 1}, checksum=True)
    assert info.value.errno == errno.ENOSPC and "unexpected pos" in str(info.value)
    assert dest.read_bytes() == b"the previous checkpoint"  # untouched
    assert leftovers(tmp_path) == [] and not (tmp_path / "checkpoint.pt.sha256").exists()


@pytest.mark.parametrize("write", ["json", "csv", "dir"])
def test_enospc_from_any_writer_names_the_path(tmp_path, monkeypatch, write):
    dest = tmp_path / ("out" if write == "dir" else f"out.{write}")

    def fail(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match=f"no space left on device writing {dest}"):
        if write == "json":
            monkeypatch.setattr(os, "replace", fail)
            atomic.write_json(dest, {"a": 1})
        elif write == "csv":
            monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
            atomic.write_csv(dest, pd.DataFrame({"a": [1]}))
        else:
            with atomic.atomic_dir(dest) as tmp:
                (tmp / "a.png").write_bytes(b"x")
                fail()
    assert not dest.exists() and leftovers(tmp_path) == []


def test_other_errors_with_space_left_are_not_called_a_full_disk(tmp_path):
    with pytest.raises(RuntimeError, match="^boom$"):
        with atomic.atomic_path(tmp_path / "x") as tmp:
            tmp.write_text("part")
            raise RuntimeError("boom")
    assert leftovers(tmp_path) == []


def test_what_a_killed_writer_left_is_removed_by_the_next_write(tmp_path):
    """SIGKILL runs no cleanup: the temporaries of a killed write are removed once the path is written."""
    from proxy_attention.atomic import atomic_dir, write_text

    target = tmp_path / "checkpoint.pt"
    stale_file = tmp_path / ".checkpoint.pt.0y13mq15.tmp"
    stale_file.write_bytes(b"half")
    other = tmp_path / ".other.pt.abc.tmp"  # another file's temporary is not ours to remove
    other.write_bytes(b"x")
    write_text(target, "done")
    assert target.read_text() == "done" and not stale_file.exists() and other.exists()
    stale_dir = tmp_path / ".images.k2j3.tmp"
    stale_dir.mkdir()
    (stale_dir / "a.png").write_bytes(b"half")
    with atomic_dir(tmp_path / "images") as d:
        (d / "b.png").write_bytes(b"ok")
    assert (tmp_path / "images" / "b.png").exists() and not stale_dir.exists()
