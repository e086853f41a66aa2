"""Datasets: bring any supported dataset into the common image-folder layout.

Every dataset ends up as ``<out_dir>/train/<class>/<image>`` plus, where the
publisher has one, ``<out_dir>/test/<class>/<image>`` (the official test split).
:func:`prepare_dataset` is the single entry point the workflow calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from proxy_attention.atomic import atomic_dir
from proxy_attention.data.datasets.converters import CONVERTERS
from proxy_attention.data.datasets.digits import export_digits
from proxy_attention.data.datasets.download import verify_file
from proxy_attention.data.datasets.registry import REGISTRY, check_options, remote_files
from proxy_attention.errors import DataError

log = logging.getLogger(__name__)

BUILTIN = {"digits"}
KNOWN = sorted(BUILTIN | set(REGISTRY))


def _kind(name: str, options: dict | None) -> str:
    return (options or {}).get("type", name)


def dataset_type(name: str, options: dict | None) -> str:
    """The dataset's type, after checking its configured options (the workflow calls this before any job)."""
    options = options or {}
    kind = _kind(name, options)
    if kind in BUILTIN or kind in REGISTRY or kind == "folder":
        if kind in REGISTRY:
            check_options(name, options)
        return kind
    if "type" in options:
        raise DataError(f"dataset '{name}': unknown type '{kind}'; use 'folder' or one of {KNOWN}")
    raise DataError(f"dataset '{name}' is not known; give it 'type: folder' and a 'path', or use one of {KNOWN}")


def archive_paths(name: str, options: dict | None, root: str = "resources/downloads") -> list[str]:
    """The downloaded files a dataset needs (none for built-ins and folders), relative to the workdir."""
    return [f"{root}/{name}/{f.filename}" for f in remote_files(name, options)]


# Options that do not change a dataset's converted folder: a new mirror, subset size or test-split
# choice does not re-extract it.
NON_CONVERSION_OPTIONS = frozenset({"source", "max_per_class", "official_test"})


def conversion_options(options: dict | None) -> dict:
    """The options of a dataset that change its converted folder (``prepare_dataset``'s params)."""
    return {k: v for k, v in (options or {}).items() if k not in NON_CONVERSION_OPTIONS}


def link_folder(src: str | Path, out_dir: str | Path, dataset: str = "?") -> None:
    """Make a user's class-folder dataset available under ``out_dir`` without copying or touching it.

    Accepts ``src/<class>/*`` (all training data) or ``src/train/<class>/*`` with an optional ``src/test``
    (the test split) and ``src/val`` (joins the training pool). Any other top-level folder beside
    ``train/`` is refused, and so is a ``test/`` or ``val/`` without ``train/``: never dropped silently.
    """
    from proxy_attention.data.index import LAYOUT, PARTS, check_top_level

    src = Path(src).expanduser().resolve()
    if not src.is_dir():
        raise DataError(f"dataset '{dataset}': dataset folder {src} does not exist")
    if (src / "train").is_dir():
        check_top_level(src, dataset)
    else:
        parts = [p for p in PARTS if (src / p).is_dir()]
        if parts:
            raise DataError(
                f"dataset '{dataset}': folder {src} has {[p + '/' for p in parts]} but no train/; {LAYOUT}, "
                "or one folder per class (all training data). Rename or move these folders"
            )
    with atomic_dir(out_dir) as tmp:
        if (src / "train").is_dir():
            for part in PARTS:
                if (src / part).is_dir():
                    os.symlink(src / part, tmp / part, target_is_directory=True)
        else:
            os.symlink(src, tmp / "train", target_is_directory=True)


def folder_fingerprint(path: str | Path) -> str:
    """A cheap digest of a folder's listing: every file's relative path, size and mtime (nothing is read).

    Computed when the workflow loads and passed to ``prepare_dataset`` as a param, so that adding,
    deleting, replacing or touching an image of a ``type: folder`` dataset re-links and re-indexes it
    (Snakemake's params trigger) and reruns what depends on it, without decoding anything.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        return "missing"
    digest = hashlib.sha1()
    n = 0
    stack = [b""]
    base = os.fsencode(root)
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(base, rel) if rel else base) as it:
            entries = sorted(it, key=lambda e: e.name)
        for e in entries:
            sub = os.path.join(rel, e.name) if rel else e.name
            try:
                if e.is_dir():  # follows a symlinked folder only at the top (train/ may be a link)
                    if not e.is_symlink() or not rel:
                        stack.append(sub)
                    continue
                st = e.stat()
            except OSError:
                digest.update(b"?" + sub + b"\0")
                continue
            digest.update(b"%s\0%d\0%d\n" % (sub, st.st_size, st.st_mtime_ns))
            n += 1
    return f"{n} files, sha1 {digest.hexdigest()}"


def preparation_params(name: str, options: dict | None) -> dict:
    """``prepare_dataset``'s params: the conversion options, plus a folder's listing fingerprint."""
    params = conversion_options(options)
    if _kind(name, options) == "folder" and (options or {}).get("path"):
        params["listing"] = folder_fingerprint(options["path"])
    return params


def convert_published(name: str, options: dict | None, archives, out_dir: str | Path) -> None:
    """Verify a registry dataset's archives and convert them into the common layout under ``out_dir``."""
    options = options or {}
    kind = _kind(name, options)
    info = REGISTRY[kind]
    given = {Path(a).name: Path(a) for a in archives}
    files = remote_files(name, options)
    missing = [f.filename for f in files if f.filename not in given]
    if missing:
        raise DataError(f"dataset '{name}': archive(s) {missing} were not given")
    for f in files:
        verify_file(name, given[f.filename], f.checksum, f.url)
    opts = {**info.options, **options}
    with atomic_dir(out_dir) as tmp:
        work = tmp / ".extract"
        CONVERTERS[kind](name, {f.filename: given[f.filename] for f in files}, opts, tmp, work)
        shutil.rmtree(work, ignore_errors=True)
        if not (tmp / "train").is_dir():
            raise DataError(f"dataset '{name}': no training image came out of {sorted(given)}")
        for part in ("train", "test"):
            if (tmp / part).is_dir():
                classes = [d for d in (tmp / part).iterdir() if d.is_dir()]
                n = sum(1 for d in classes for _ in d.iterdir())
                log.info("dataset '%s' (%s): %s has %d files in %d classes", name, info.title, part, n, len(classes))


def prepare_dataset(name: str, options: dict | None, out_dir: str | Path, archives=()) -> None:
    """Write ``out_dir`` in the common layout; published datasets are converted from ``archives``.

    ``options`` need not hold ``source``: the archives were fetched (and checked) by the download rule.
    """
    kind = _kind(name, options)
    if kind == "digits":
        export_digits(out_dir)
    elif kind == "folder":
        if not (options or {}).get("path"):
            raise DataError(f"dataset '{name}' has type 'folder' but no 'path'")
        link_folder(options["path"], out_dir, name)
    elif kind in REGISTRY:
        convert_published(name, options, archives, out_dir)
    else:
        raise DataError(f"dataset '{name}': unknown type '{kind}'; use 'folder' or one of {KNOWN}")
