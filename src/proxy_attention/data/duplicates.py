"""Duplicates by content: the same pixels (exact) or a perceptual near-copy (re-encoded, resized).

Hashing file bytes misses a test image saved again as JPEG, or as PNG from a
JPEG: the bytes differ, the picture is the same. Two signatures of the decoded
RGB image are kept in the index instead:

- ``pixel_sha1``: sha1 of the image size and its RGB pixels. Equal means the
  same picture, whatever the file format (a PNG re-save of a JPEG, a palette
  image saved as RGB).
- ``phash``: imagehash's 64-bit perceptual hash (DCT of a 32x32 grayscale
  thumbnail) as ``p`` + 16 hex digits (the ``p`` keeps a CSV reader from taking
  ``0000000000000000`` or ``12e4...`` for a number). Images whose hashes differ in
  at most :data:`PHASH_THRESHOLD` bits are *candidates*: a JPEG re-compression or a
  resize of the same picture moves the hash by at most 2 to 6 bits, but so little
  is left of a picture in 64 low-frequency bits that different pictures with the
  same layout (a plane on a similar sky, two handwritten zeros) land there too.
  Images smaller than :data:`PHASH_MIN_SIDE` pixels get no perceptual hash
  (``""``); only exact pixel equality applies there.

Every candidate pair is then checked pixel by pixel (:func:`same_picture`): the
32x32 grayscale thumbnails (the ones phash starts from), blurred a little (sigma
1 px), one predicted from the other by least squares with brightness, contrast
and a sub-pixel shift (the thumbnail's x and y gradients) as free terms; the
pair is a near-duplicate only if the largest local RMS difference left (a
Gaussian window of sigma 1.5 px, both directions) is at most
:data:`PIXEL_THRESHOLD` gray levels. A re-encoded or resized copy leaves noise
spread thinly everywhere; a different picture leaves at least one place that
differs (the plane, a stroke). Measured (``tools/measure_near_duplicates.py``,
docs/what-happens-when.md): JPEG quality 75, a resize to 3/4 and a brightness
change left at most 17.8 levels at 32, 64 and 224 px; every candidate pair of
different pictures (Imagenette at phash distance <= 12, the 8x8 digits upscaled
to 32 px) at least 29.8; 24 lies between. Shifts by 1.5 % of the side pass 43
times in 47; flips, rotations and crops are not caught.
The index records the groups of checked near-copies (:func:`near_copy_pairs`,
:func:`group_labels`) in its ``near_copy_group`` column, for the split and the
leakage audit, which have no pixels.

The index drops the training copy of a test image found either way (the test
copy wins); the split moves a training near-duplicate of a drawn test image into
the test part; the leakage audit counts any that are left.
"""

from __future__ import annotations

import hashlib
import logging

import imagehash
import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

PHASH_THRESHOLD = 6  # bits of 64: finds candidates; re-encodings measured at <= 6 (32 px) and <= 2 (224 px)
PHASH_MIN_SIDE = 32  # phash works on a 32x32 thumbnail; smaller images are only compared pixel for pixel
THUMB_SIDE = 32  # the pixel check compares the grayscale thumbnail phash is computed from
PIXEL_THRESHOLD = 24.0  # gray levels; copies measured at <= 17.8, different pictures at >= 29.8


def pixel_sha1(rgb: Image.Image) -> str:
    h = hashlib.sha1(f"{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def perceptual_hash(rgb: Image.Image) -> str:
    """64-bit phash as ``p`` + 16 hex digits, or "" for images too small for it to mean anything."""
    if min(rgb.size) < PHASH_MIN_SIDE:
        return ""
    return "p" + str(imagehash.phash(rgb))


def thumbnail(rgb: Image.Image) -> np.ndarray | None:
    """The 32x32 grayscale thumbnail (uint8) the pixel check compares, or None where there is no phash."""
    if min(rgb.size) < PHASH_MIN_SIDE:
        return None
    return np.asarray(rgb.convert("L").resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS), dtype=np.uint8)


def _residual_peak(a: np.ndarray, b: np.ndarray) -> float:
    """Largest local RMS of what is left of ``b`` after predicting it from ``a`` (gray levels)."""
    from scipy.ndimage import gaussian_filter, sobel

    gx, gy = sobel(a, axis=1, mode="nearest") / 8, sobel(a, axis=0, mode="nearest") / 8
    design = np.stack([np.ones(a.size), a.ravel(), gx.ravel(), gy.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(design, b.ravel(), rcond=None)
    left = (b.ravel() - design @ coef).reshape(b.shape)
    return float(np.sqrt(gaussian_filter(left * left, 1.5, mode="nearest")).max())


def largest_local_difference(a: np.ndarray, b: np.ndarray) -> float:
    """How far two thumbnails are from being the same picture, in gray levels (0 for the same pixels).

    Both are blurred (sigma 1 px); each is predicted from the other by least squares
    (offset, gain and the x/y gradients: brightness, contrast and a sub-pixel shift
    are free); the larger of the two largest local RMS residuals is returned.
    """
    from scipy.ndimage import gaussian_filter

    a = gaussian_filter(np.asarray(a, dtype=np.float64), 1.0, mode="nearest")
    b = gaussian_filter(np.asarray(b, dtype=np.float64), 1.0, mode="nearest")
    return max(_residual_peak(a, b), _residual_peak(b, a))


def same_picture(a: np.ndarray, b: np.ndarray, threshold: float = PIXEL_THRESHOLD) -> bool:
    """The pixel check of a phash candidate pair: True for a near-copy, False for a look-alike."""
    return largest_local_difference(a, b) <= threshold


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


def candidate_pairs(hashes, threshold: int = PHASH_THRESHOLD, chunk: int = 512):
    """Every pair ``i < j`` of hashes at most ``threshold`` bits apart: ``(i, j, distance)`` arrays."""
    v, have = _as_ints(hashes)
    pos = np.flatnonzero(have)
    vals = v[pos]
    out_i, out_j, out_d = [np.array([], int)], [np.array([], int)], [np.array([], int)]
    for start in range(0, len(pos), chunk):
        block = vals[start:start + chunk]
        dist = _popcount(block[:, None] ^ vals[None, start:])
        a, b = np.nonzero(dist <= threshold)
        keep = b > a  # b counts from start: pairs with a later hash only, no self-pairs
        out_i.append(pos[start + a[keep]])
        out_j.append(pos[start + b[keep]])
        out_d.append(dist[a[keep], b[keep]].astype(int))
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def near_copy_pairs(hashes, thumbs) -> tuple[list[tuple[int, int, int, float]], int]:
    """Candidate pairs by phash that pass the pixel check: ``[(i, j, phash distance, gray levels)]``.

    ``thumbs[i]`` is :func:`thumbnail`'s array (None where there is none). Also returns
    how many candidates the pixel check turned down (look-alikes, not copies).
    """
    kept, refused = [], 0
    for i, j, d in zip(*candidate_pairs(hashes)):
        if thumbs[i] is None or thumbs[j] is None:
            refused += 1
            continue
        diff = largest_local_difference(thumbs[i], thumbs[j])
        if diff <= PIXEL_THRESHOLD:
            kept.append((int(i), int(j), int(d), diff))
        else:
            refused += 1
    return kept, refused


def group_labels(names, pairs) -> list[str]:
    """For each row, the name of the first row of its group of near-copies ("" if it has none)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(names)
    labels = [""] * n
    if not pairs:
        return labels
    i, j = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    _, comp = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    sizes = np.bincount(comp)
    first: dict[int, str] = {}
    for row in range(n):
        if sizes[comp[row]] > 1:
            labels[row] = first.setdefault(int(comp[row]), names[row])
    return labels


def lookalikes_of_test(table, is_test: np.ndarray) -> dict[int, tuple[int, str]]:
    """Rows outside the test part whose content matches a test row: ``{row: (test_row, how)}``.

    ``how`` is ``"same pixels"`` or ``"near-duplicate (phash distance d)"``. Needs the
    ``pixel_sha1`` column, and for near-duplicates the ``near_copy_group`` column the
    index writes (pairs that passed the pixel check, grouped). A table with ``phash``
    but no ``near_copy_group`` (an index made before the pixel check) falls back to
    the phash alone, which takes look-alikes for copies, and says so in the log.
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
    hashes = table["phash"].fillna("").astype(str).to_numpy() if "phash" in table else None
    if "near_copy_group" in table:
        groups = table["near_copy_group"].fillna("").astype(str).to_numpy()
        tests_of: dict[str, list[int]] = {}
        for row in np.flatnonzero(is_test):
            if groups[row]:
                tests_of.setdefault(groups[row], []).append(int(row))
        for row in np.flatnonzero(~is_test):
            partners = tests_of.get(groups[row]) if groups[row] else None
            if partners:
                dist = {t: _distance(hashes, row, t) for t in partners} if hashes is not None else {}
                test_row = min(partners, key=lambda t: dist.get(t, 0))
                how = f"near-duplicate (phash distance {dist[test_row]})" if dist else "near-duplicate"
                found.setdefault(int(row), (test_row, how))
    elif hashes is not None:
        others, tests = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        qi, ri, d = near_duplicates(hashes[others], hashes[tests])
        if len(qi):
            log.warning("the index has no near_copy_group column (made before the pixel check): %d look-alike(s) "
                        "by phash alone, some may be different pictures; delete index.csv to index again", len(qi))
        for a, b, dist in zip(qi, ri, d):
            found.setdefault(int(others[a]), (int(tests[b]), f"near-duplicate (phash distance {dist})"))
    return found


def _distance(hashes, a: int, b: int) -> int:
    va, vb = (int(h.removeprefix("p"), 16) if h else None for h in (hashes[a], hashes[b]))
    return (va ^ vb).bit_count() if va is not None and vb is not None else -1
