"""Decode every image once into a uint8 array on disk (N, H, W, 3), in index order.

Training, evaluation and proxy steps memory-map this file instead of decoding
images every epoch. Images are resized so the shorter side is ``size`` and
centre-cropped to ``size x size``.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from proxy_attention.atomic import atomic_path
from proxy_attention.data.index import load_rgb
from proxy_attention.errors import DataError

log = logging.getLogger(__name__)


def decode_resized(path: str | Path, size: int) -> np.ndarray:
    img = load_rgb(path)
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    if (nw, nh) != (size, size):
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8)


def _decode(path: Path, size: int) -> np.ndarray:
    try:
        return decode_resized(path, size)
    except FileNotFoundError:
        raise DataError(
            f"{path} is in the index but no longer exists: the dataset folder changed after it was indexed. "
            "Run the workflow again (an edited type: folder dataset is re-indexed), or delete the index"
        ) from None


def build_cache(index: pd.DataFrame, root: str | Path, size: int, out: str | Path, threads: int = 4) -> None:
    root = Path(root)
    paths = [root / p for p in index["path"]]
    with atomic_path(out) as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
        step = max(1, len(paths) // 10)
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for i, img in enumerate(pool.map(lambda p: _decode(p, size), paths)):
                arr[i] = img
                if (i + 1) % step == 0:
                    log.info("decoded %d/%d images", i + 1, len(paths))
        arr.flush()
        del arr


def load_cache(path: str | Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")
