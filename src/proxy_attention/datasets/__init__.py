"""Datasets: bring any supported dataset into the common image-folder layout.

Every dataset ends up as ``<out_dir>/train/<class>/<image>`` plus, where the
publisher has one, ``<out_dir>/test/<class>/<image>`` (the official test split).
:func:`prepare_dataset` is the single entry point the workflow calls.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..atomic import atomic_dir
from ..index import DataError
from .digits import export_digits

BUILTIN = {"digits"}


def dataset_type(name: str, options: dict | None) -> str:
    options = options or {}
    if "type" in options:
        return options["type"]
    if name in BUILTIN:
        return name
    raise DataError(f"dataset '{name}' is not known; give it 'type: folder' and a 'path', or use one of {sorted(BUILTIN)}")


def link_folder(src: str | Path, out_dir: str | Path) -> None:
    """Make a user's class-folder dataset available under ``out_dir`` without copying or touching it.

    Accepts ``src/<class>/*`` (all training data) or ``src/train/<class>/*`` with an optional ``src/test``.
    """
    src = Path(src).expanduser().resolve()
    if not src.is_dir():
        raise DataError(f"dataset folder {src} does not exist")
    with atomic_dir(out_dir) as tmp:
        if (src / "train").is_dir():
            for part in ("train", "test"):
                if (src / part).is_dir():
                    os.symlink(src / part, tmp / part, target_is_directory=True)
        else:
            os.symlink(src, tmp / "train", target_is_directory=True)


def prepare_dataset(name: str, options: dict | None, out_dir: str | Path) -> None:
    kind = dataset_type(name, options)
    if kind == "digits":
        export_digits(out_dir)
    elif kind == "folder":
        if not (options or {}).get("path"):
            raise DataError(f"dataset '{name}' has type 'folder' but no 'path'")
        link_folder(options["path"], out_dir)
    else:
        raise DataError(f"dataset '{name}': unknown type '{kind}'")
