"""Write artifacts so that a crash never leaves a half-written file behind.

Everything is written under a temporary name in the destination's folder and
then renamed into place with :func:`os.replace`, which is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_name(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give artifacts the usual permissions
    os.close(fd)
    return Path(tmp)


# Below this many free bytes a failed write is taken for a full disk: torch's zip writer reports
# one as RuntimeError "unexpected pos ... vs ..." / "file write failed", never with ENOSPC.
LOW_SPACE = 1 << 20
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full_error(path: Path, exc: BaseException):
    """A DiskFullError naming ``path`` when ``exc`` came from a full disk (its errno, or a writer's
    error while almost no space is left), else None. Call before removing the partial file."""
    from proxy_attention.errors import DiskFullError

    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    full_errno = isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS
    free = _free_bytes(path.parent)
    if not full_errno and (free is None or free >= LOW_SPACE):
        return None
    what = "disk quota exceeded" if isinstance(exc, OSError) and exc.errno == errno.EDQUOT else \
        "no space left on device"
    free_text = f"{free / 2**20:.1f} MiB free" if free is not None else "free space unknown"
    err = DiskFullError(f"{what} writing {path} ({free_text} in {path.parent}; the partial file was removed): "
                        f"free space there and rerun the same command [{type(exc).__name__}: {str(exc)[:200]}]")
    err.errno, err.filename = errno.ENOSPC, str(path)
    return err


def remove_stale_temporaries(path: Path) -> None:
    """Remove what writers of ``path`` killed mid-write (SIGKILL runs no cleanup) left beside it:
    ``.<name>.*.tmp`` files and folders. Called once ``path`` is written, so nothing half-written
    outlives the next successful write (one job writes a path at a time: Snakemake and the run lock)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched; a full disk is
    raised as :class:`~proxy_attention.errors.DiskFullError` ("no space left on device" and the path).
    """
    path = Path(path)
    try:
        tmp = _tmp_name(path)
    except OSError as e:
        full = disk_full_error(path, e)
        if full:
            raise full from e
        raise
    try:
        yield tmp
        os.replace(tmp, path)
        remove_stale_temporaries(path)
    except BaseException as e:
        full = disk_full_error(path, e)
        tmp.unlink(missing_ok=True)
        if full:
            raise full from e
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; rename it to ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
        remove_stale_temporaries(path)
    except BaseException as e:
        full = disk_full_error(path, e)
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise full from e
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | os.PathLike, df) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def checksum_file(path: str | os.PathLike) -> Path:
    """The sidecar ``<file>.sha256`` beside a file written with ``torch_save(..., checksum=True)``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def torch_save(path: str | os.PathLike, obj, checksum: bool = False) -> None:
    """``torch.save`` atomically; with ``checksum``, record its SHA-256 in ``<file>.sha256``, which
    :func:`proxy_attention.models.load_checkpoint` checks (a truncated or damaged file is named)."""
    import torch

    sidecar = checksum_file(path)
    sidecar.unlink(missing_ok=True)  # never a stale checksum beside a new file
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        digest = file_sha256(tmp) if checksum else None
    if digest:
        write_text(sidecar, f"{digest}  {Path(path).name}\n")
