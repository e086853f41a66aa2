"""Duplicates by content: the same pixels (exact) or a perceptual near-copy (re-encoded, resized).

Hashing file bytes misses a test image saved again as JPEG, or as PNG from a
JPEG: the bytes differ, the picture is the same. Two signatures of the decoded
RGB image are kept in the index instead:

- ``pixel_sha1``: sha1 of the image size and its RGB pixels. Equal means the
  same picture, whatever the file format (a PNG re-save of a JPEG, a palette
  image saved as RGB).
- ``phash``: imagehash's 64-bit perceptual hash (DCT of a 32x32 grayscale
  thumbnail) as ``p`` + 16 hex digits (the ``p`` keeps a CSV reader from taking
  ``0000000000000000`` or ``12e4...`` for a number). Images whose hashes differ in at most :data:`PHASH_THRESHOLD`
  bits are near-duplicates: a JPEG re-compression or a resize of the same
  picture. Measured on 2,300 Imagenette images (224 px): re-compression at
  quality 60 and a resize to half size moved the hash by at most 2 bits; the
  closest two different images (757k test-train pairs) were 12 bits apart.
  Crops (5 % off each side: 10 to 18 bits) and flips are not caught.
  Images smaller than :data:`PHASH_MIN_SIDE` pixels get no perceptual hash
  (``""``): upsampled to 32x32 it says nothing (half of the 8x8 digits would be
  "near-duplicates" of another digit); only exact pixel equality applies there.

The index drops the training copy of a test image found either way (the test
copy wins); the split moves a training near-duplicate of a drawn test image into
the test part; the leakage audit counts any that are left.
"""

from __future__ import annotations

import hashlib

import imagehash
import numpy as np
from PIL import Image

PHASH_THRESHOLD = 6  # bits of 64; re-encodings measured at <= 2, distinct images at >= 12
PHASH_MIN_SIDE = 32  # phash works on a 32x32 thumbnail; smaller images are only compared pixel for pixel


def pixel_sha1(rgb: Image.Image) -> str:
    h = hashlib.sha1(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def perceptual_hash(rgb: Image.Image) -> str:
    """64-bit phash as ``p`` + 16 hex digits, or "" for images too small for it to mean anything."""
    if min(rgb.size) < PHASH_MIN_SIDE:
        return ""
    return "p" + str(imagehash.phash(rgb))


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(-1)


def _as_ints(hashes) -> tuple[np.ndarray, np.ndarray]:
    """Hex hashes -> uint64 values and the positions that have one."""
    hashes = [h.removeprefix("p") if isinstance(h, str) else "" for h in hashes]
    have = np.array([bool(h) for h in hashes], dtype=bool)
    values = np.array([int(h, 16) if h else 0 for h in hashes], dtype=np.uint64)
    return values, have


def near_duplicates(queries, references, threshold: int = PHASH_THRESHOLD, chunk: int = 2048):
    """For each query hash, the closest reference within ``threshold`` bits.

    Returns ``(query_pos, reference_pos, distance)`` arrays, one entry per query that has a match.
    Empty hashes (images too small) match nothing.
    """
    q, q_have = _as_ints(queries)
    r, r_have = _as_ints(references)
    r_pos = np.flatnonzero(r_have)
    out_q, out_r, out_d = [], [], []
    if len(r_pos) == 0:
        return np.array([], int), np.array([], int), np.array([], int)
    r_vals = r[r_pos]
    q_pos = np.flatnonzero(q_have)
    for start in range(0, len(q_pos), chunk):
        pos = q_pos[start:start + chunk]
        dist = _popcount(q[pos][:, None] ^ r_vals[None, :])
        best = dist.argmin(axis=1)
        best_d = dist[np.arange(len(pos)), best]
        hit = best_d <= threshold
        out_q.append(pos[hit])
        out_r.append(r_pos[best[hit]])
        out_d.append(best_d[hit].astype(int))
    if not out_q:
        return np.array([], int), np.array([], int), np.array([], int)
    return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d)


def lookalikes_of_test(table, is_test: np.ndarray) -> dict[int, tuple[int, str]]:
    """Rows outside the test part whose content matches a test row: ``{row: (test_row, how)}``.

    ``how`` is ``"same pixels"`` or ``"near-duplicate (phash distance d)"``. Needs the
    ``pixel_sha1`` and ``phash`` columns of the index; without them (an index made
    before they existed) nothing is found.
    """
    is_test = np.asarray(is_test, dtype=bool)
    found: dict[int, tuple[int, str]] = {}
    if "pixel_sha1" in table:
        first_test: dict[str, int] = {}
        for row in np.flatnonzero(is_test):
            first_test.setdefault(table["pixel_sha1"].iat[row], row)
        for row in np.flatnonzero(~is_test):
            match = first_test.get(table["pixel_sha1"].iat[row])
            if match is not None:
                found[int(row)] = (int(match), "same pixels")
    if "phash" in table:
        others, tests = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        hashes = table["phash"].fillna("").astype(str).to_numpy()
        qi, ri, d = near_duplicates(hashes[others], hashes[tests])
        for a, b, dist in zip(qi, ri, d):
            found.setdefault(int(others[a]), (int(tests[b]), f"near-duplicate (phash distance {dist})"))
    return found
