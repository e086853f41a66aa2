"""A compressed ``.npz`` written one piece at a time: the same file ``np.savez_compressed`` writes.

``np.savez_compressed`` needs every array whole in memory; a proxy step's CAMs are one
(N, H, W) float32 array, so writing them that way holds all N at once. Here the arrays
are written in order, and the last one can be appended batch by batch as it is produced
(:meth:`NpzWriter.stream`). The entries, their ``.npy`` headers and their bytes are those
of ``np.savez_compressed`` with the same arrays in the same order (numpy, too, feeds
the zip entry in chunks; deflate's output does not depend on how its input is cut), and
so is the whole file: ``ZipFile.open(name, "w")`` stamps every entry 1980-01-01, as it
does for numpy.
"""

from __future__ import annotations

import contextlib
import zipfile
from typing import BinaryIO, Callable, Iterator

import numpy as np
from numpy.lib import format as npy_format


class NpzWriter:
    """Write into the open binary file ``fh``; use as a context manager, or call :meth:`close`."""

    def __init__(self, fh: BinaryIO):
        self._zip = zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def add(self, name: str, array) -> None:
        """A whole array, as ``np.savez_compressed(fh, name=array)`` writes it."""
        with self._zip.open(name + ".npy", "w", force_zip64=True) as entry:  # numpy forces zip64 too (gh-10776)
            npy_format.write_array(entry, np.asanyarray(array), allow_pickle=False)

    @contextlib.contextmanager
    def stream(self, name: str, shape: tuple[int, ...], dtype) -> Iterator[Callable[[np.ndarray], None]]:
        """Yield ``append(rows)``, which writes the next rows of a C-ordered array of ``shape`` and ``dtype``;
        the rows appended must add up to ``shape[0]`` exactly (else ValueError, and the file is not valid)."""
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        header = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        written = 0

        def append(rows: np.ndarray) -> None:
            nonlocal written
            rows = np.asarray(rows)
            if rows.dtype != dtype or rows.shape[1:] != shape[1:]:
                raise ValueError(f"rows of {rows.dtype} {rows.shape[1:]} appended to {name}, "
                                 f"an array of {dtype} {shape[1:]}")
            if written + len(rows) > shape[0]:
                raise ValueError(f"more than the {shape[0]} rows of {name} appended")
            entry.write(memoryview(np.ascontiguousarray(rows)).cast("B"))
            written += len(rows)

        with self._zip.open(name + ".npy", "w", force_zip64=True) as entry:
            # numpy writes version 1.0 whenever the header fits in it, as any (N, H, W) header does
            npy_format.write_array_header_1_0(entry, header)
            yield append
            if written != shape[0]:
                raise ValueError(f"{written} rows of {name} written, {shape[0]} announced in its header")

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> "NpzWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
