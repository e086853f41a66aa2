"""Index an image folder: one row per usable image, with its label and class index.

The common layout is ``<root>/<part>/<class>/<file>`` where ``<part>`` is
``train``, optionally ``test`` (an official test split) and optionally ``val``
(a publisher's validation split: it joins the training pool that the k folds
are drawn from, as ``source_split == "val"``). Any other top-level folder is an
error, never ignored. The label is the class folder's name (thesis 4.5.2);
class indices follow the sorted class names.

Every file is opened and fully decoded, so unreadable, truncated and non-image
files are found here, once, and listed in the data report with the reason they
were skipped; so are files whose name is not valid UTF-8 (shown with ``\\x``
escapes). Duplicates are found by content (:mod:`proxy_attention.data.duplicates`):
the same pixels are kept once (a test copy wins, so no image can sit in both
test and train), a training near-duplicate (re-encoded, resized: a phash
candidate that passes the pixel check) of a test image is left out, and an image
found under two labels is a label conflict: every copy is left out and named in
the report. A look-alike (phash close, pixels not) is kept. The checked
near-copies are recorded as groups in the ``near_copy_group`` column. Fewer than two usable classes, or a
class left with no usable training image, stops with a message.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError

from proxy_attention.data.duplicates import (
    PHASH_THRESHOLD,
    PIXEL_THRESHOLD,
    group_labels,
    near_copy_pairs,
    perceptual_hash,
    pixel_sha1,
    thumbnail,
)
from proxy_attention.errors import DataError

log = logging.getLogger(__name__)

PARTS = ("test", "train", "val")  # test first: a duplicate keeps its test copy
POOL_PARTS = ("train", "val")  # the parts the k folds are drawn from
PART_ORDER = {"train": 0, "val": 1, "test": 2}
ORIENTATION_TAG = 0x0112  # EXIF Orientation
ORIENTATIONS = {2: "mirrored left to right", 3: "rotated 180°", 4: "mirrored top to bottom", 5: "transposed",
                6: "rotated 90° clockwise", 7: "transversed", 8: "rotated 90° counter-clockwise"}
CONVERTED_MODES = {"L", "LA", "P", "PA", "RGBA", "CMYK", "I", "I;16", "F", "1", "YCbCr", "LAB", "HSV"}
LAYOUT = "expected <folder>/train/<class>/<image>, optionally test/<class>/ (the test split) and val/<class>/ " \
    "(joins the training pool)"


def escaped(name: str) -> str:
    """A file name as text that any CSV or log can hold: bytes that are not UTF-8 shown as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_top_level(root: Path, dataset: str) -> None:
    """Refuse top-level folders other than train/, test/ and val/ (hidden ones aside): never ignore data."""
    unexpected = sorted(escaped(e.name) for e in os.scandir(root)
                        if e.is_dir() and not e.name.startswith(".") and e.name not in PARTS)
    if unexpected:
        raise DataError(
            f"dataset '{dataset}': folder {root} has unexpected top-level folder(s) {unexpected}; {LAYOUT}. "
            "Move their class folders into train/ (or test/), or move them out of the dataset folder"
        )


@dataclass
class IndexResult:
    index: pd.DataFrame
    report: pd.DataFrame  # one row per skipped or converted file
    class_counts: pd.DataFrame | None = None  # per part and class: files found, kept, skipped, converted, left out


HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # more than 8 bits per value: scaled, never clipped


def _high_bit_to_l(img: Image.Image, notes: list[str]) -> Image.Image:
    """A 16-bit, 32-bit integer or float grayscale image as 8-bit "L", scaled (``convert`` would clip at 255).

    ``I;16*`` modes hold 16-bit values: value / 257 maps 0..65535 onto 0..255.
    ``I`` and ``F`` say nothing about the range, so the values decide: floats
    within [0, 1] are scaled by 255, values within 0..255 are kept, values within
    0..65535 are taken as 16-bit (/ 257), anything else is stretched linearly from
    its minimum and maximum to 0..255. ``notes`` receives what was done.
    """
    mode = img.mode
    a = np.asarray(img, dtype=np.float64)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        scaled, how = a / 257.0, "16-bit values scaled to 8 bits (value / 257)"
    elif mode == "F" and lo >= 0 and hi <= 1:
        scaled, how = a * 255.0, "float values in [0, 1] scaled to 8 bits (value * 255)"
    elif lo >= 0 and hi <= 255:
        scaled, how = a, f"{'float' if mode == 'F' else '32-bit integer'} values within 0..255 kept as 8 bits"
    elif lo >= 0 and hi <= 65535:
        scaled, how = a / 257.0, "values within 0..65535 taken as 16-bit and scaled to 8 bits (value / 257)"
    else:
        scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        how = f"values from {lo:g} to {hi:g} stretched linearly to 0..255"
    notes.append(f"mode {mode}: {how}")
    out = np.nan_to_num(np.rint(scaled), nan=0.0, posinf=255.0, neginf=0.0).clip(0, 255).astype(np.uint8)
    return Image.fromarray(out, "L")


def to_rgb(img: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """An opened image as RGB, whatever its mode, turned upright by its EXIF orientation tag.

    Transparent pixels are composited on white; 16-bit, 32-bit and float images are
    scaled to 8 bits (:func:`_high_bit_to_l`), never clipped. ``notes`` (if given)
    receives one line per thing done beyond a plain conversion, for the data report.
    """
    notes = [] if notes is None else notes
    orientation = img.getexif().get(ORIENTATION_TAG, 1) if hasattr(img, "getexif") else 1
    if orientation not in (None, 1):
        img = ImageOps.exif_transpose(img)
        notes.append(f"turned upright by its EXIF orientation tag ({orientation}: {ORIENTATIONS.get(orientation, '?')})")
    if img.mode in HIGH_BIT_MODES:
        return _high_bit_to_l(img, notes).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def _probe(path: Path) -> dict:
    """Open and fully decode one image; describe it (and its content hashes) or say why it is unusable."""
    info: dict = {"sha1": None, "pixel_sha1": None, "phash": "", "thumb": None, "mode": None, "width": None, "height": None,
                  "problem": None, "notes": ""}
    try:
        data = path.read_bytes()
    except OSError as e:
        info["problem"] = f"unreadable file: {e.strerror or e}"
        return info
    info["sha1"] = hashlib.sha1(data).hexdigest()
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()  # verify() does not decode pixels; load() finds truncation
            notes: list[str] = []
            rgb = to_rgb(img, notes)
            info.update(mode=img.mode, width=rgb.width, height=rgb.height, notes="; ".join(notes))
        info.update(pixel_sha1=pixel_sha1(rgb), phash=perceptual_hash(rgb), thumb=thumbnail(rgb))
    except UnidentifiedImageError:
        info["problem"] = "not an image"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        info["problem"] = f"corrupt or truncated image: {e}"
    return info


def _skip(rel: str, part: str, label: str | None, reason: str) -> dict:
    return dict(path=rel, part=part, label=label, action="skipped", reason=reason)


def index_folder(root: str | Path, threads: int = 4, official_test: bool = True,
                 max_per_class: int | None = None, dataset: str | None = None) -> IndexResult:
    """Scan ``root`` and return the index of usable images and the data report.

    ``official_test=False`` puts the images of ``test/`` into the training pool
    (the split then draws its own test part). ``max_per_class`` keeps at most
    that many usable images per class and part, a deterministic choice (the
    lowest content hashes), for quick runs on a class-balanced subset.
    ``dataset`` names the dataset in messages (default: the folder's name).
    """
    root = Path(root)
    name = dataset or root.name
    if not (root / "train").is_dir():
        raise DataError(
            f"dataset '{name}': folder {root} has no 'train/' part; expected {root}/train/<class>/<image> "
            f"(and optionally {root}/test/<class>/<image>)"
        )
    check_top_level(root, name)
    candidates: list[tuple[str, str, Path]] = []
    report_rows: list[dict] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.name.startswith(".") and not entry.is_dir():
            report_rows.append(_skip(escaped(entry.name), "", None, "file outside any part folder (train/, test/, val/)"))
    for part in PARTS:
        part_dir = root / part
        if not part_dir.is_dir():
            continue
        for entry in sorted(os.scandir(part_dir), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                report_rows.append(_skip(f"{part}/{escaped(entry.name)}", part, None, "file outside any class folder"))
                continue
            files = sorted(p for p in Path(entry.path).rglob("*") if p.is_file() and not p.name.startswith("."))
            if not is_utf8(entry.name):
                report_rows.append(_skip(f"{part}/{escaped(entry.name)}/", part, None,
                                         f"class folder name is not valid UTF-8 ({len(files)} files left out); rename it"))
                continue
            if not files:
                report_rows.append(_skip(f"{part}/{entry.name}/", part, entry.name, "empty class folder"))
            for p in files:
                rel = p.relative_to(root).as_posix()
                if is_utf8(rel):
                    candidates.append((part, entry.name, p))
                else:
                    report_rows.append(_skip(escaped(rel), part, entry.name,
                                             "file name is not valid UTF-8 (shown with \\x escapes); rename it"))

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        probes = list(pool.map(_probe, (p for _, _, p in candidates)))

    rows: list[dict] = []
    thumbs: list = []  # the pixel check's thumbnail of each row (not a column: 1 KB each)
    dropped: dict[int, str] = {}  # kept-row position -> why it was left out after all
    by_pixels: dict[str, int] = {}
    for (part, label, path), info in zip(candidates, probes):
        rel = path.relative_to(root).as_posix()
        if info["problem"]:
            report_rows.append(_skip(rel, part, label, info["problem"]))
            continue
        first = by_pixels.get(info["pixel_sha1"])
        if first is not None:
            kept = rows[first]
            if kept["label"] != label:
                report_rows.append(_skip(rel, part, label,
                                         f"label conflict: same image as {kept['path']} (label '{kept['label']}')"))
                dropped.setdefault(first, f"label conflict: same image as {rel} (label '{label}')")
            elif info["sha1"] == kept["sha1"]:
                report_rows.append(_skip(rel, part, label, f"duplicate of {kept['path']}"))
            else:
                report_rows.append(_skip(rel, part, label, f"same pixels as {kept['path']} (a re-encoded copy)"))
            continue
        by_pixels[info["pixel_sha1"]] = len(rows)
        thumbs.append(info["thumb"])
        rows.append(dict(path=rel, label=label, source_split=part, width=info["width"], height=info["height"],
                         mode=info["mode"], sha1=info["sha1"], pixel_sha1=info["pixel_sha1"], phash=info["phash"],
                         notes=info["notes"]))

    # near-copies: candidates by phash, each pair checked pixel by pixel (a look-alike is not a copy)
    live = [i for i in range(len(rows)) if i not in dropped]
    pairs, refused = near_copy_pairs([rows[i]["phash"] for i in live], [thumbs[i] for i in live])
    pairs = [(live[a], live[b], d, diff) for a, b, d, diff in pairs]
    if pairs or refused:
        log.info("dataset '%s': %d pair(s) within %d phash bits; %d passed the pixel check (near-copies), "
                 "%d did not (look-alikes, kept)", name, len(pairs) + refused, PHASH_THRESHOLD, len(pairs), refused)
    if official_test:  # a training near-copy (re-encoded, resized) of a test image would leak it
        closest: dict[int, tuple[int, int, float]] = {}  # pool row -> (test row, phash distance, gray levels)
        for a, b, d, diff in pairs:
            for own, other in ((a, b), (b, a)):
                crosses = rows[own]["source_split"] != "test" and rows[other]["source_split"] == "test"
                if crosses and (own not in closest or (d, diff) < closest[own][1:]):
                    closest[own] = (other, d, diff)
        for own_row, (test_idx, dist, diff) in sorted(closest.items()):
            own, test_row = rows[own_row], rows[test_idx]
            why = (f"near-duplicate of test image {test_row['path']} (phash distance {dist} <= {PHASH_THRESHOLD}, "
                   f"pixel difference {diff:.0f} <= {PIXEL_THRESHOLD:.0f} gray levels)")
            if own["label"] != test_row["label"]:
                dropped[own_row] = f"label conflict: {why}, labelled '{test_row['label']}'"
                dropped.setdefault(test_idx, f"label conflict: near-duplicate {own['path']} is labelled '{own['label']}'")
            else:
                dropped[own_row] = why
    kept_pairs = [(a, b, d, diff) for a, b, d, diff in pairs if a not in dropped and b not in dropped]
    for r, group in zip(rows, group_labels([r["path"] for r in rows], kept_pairs)):
        r["near_copy_group"] = group
    for i, why in sorted(dropped.items()):
        report_rows.append(_skip(rows[i]["path"], rows[i]["source_split"], rows[i]["label"], why))
    rows = [r for i, r in enumerate(rows) if i not in dropped]
    for r in rows:
        if r["mode"] != "RGB" or r["notes"]:  # the report says every change made to the pixels, not only "converted"
            reason = "; ".join(x for x in (r["notes"], "" if r["mode"] == "RGB" else f"mode {r['mode']} converted to RGB") if x)
            report_rows.append(dict(path=r["path"], part=r["source_split"], label=r["label"], action="converted",
                                    reason=reason))

    report = pd.DataFrame(report_rows, columns=["path", "part", "label", "action", "reason"])
    if not rows:
        raise DataError(f"dataset '{name}' ({root}): no usable image found ({len(report)} files skipped; "
                        "see the data report)")
    index = pd.DataFrame(rows)
    _check_classes(name, candidates, index, report)
    index["sampled"] = True
    if max_per_class is not None:
        rank = index.groupby(["source_split", "label"])["sha1"].rank(method="first")
        index["sampled"] = rank <= max_per_class
    counts = _class_counts(candidates, root, report, index)
    index = index[index.sampled].drop(columns="sampled").reset_index(drop=True)
    if not official_test:
        index["source_split"] = "train"
    train_classes = set(index.loc[index.source_split != "test", "label"])
    test_only = sorted(set(index.label) - train_classes)
    if test_only:
        raise DataError(f"dataset '{name}' ({root}): classes {test_only} have test images but no usable training image")
    classes = sorted(train_classes)
    if len(classes) < 2:
        raise DataError(
            f"dataset '{name}' ({root}): only {len(classes)} class with usable training images ({classes}); "
            "a classifier needs at least two (every image of one class scores 100 % accuracy). "
            "Put one folder per class under train/"
        )
    index["label_idx"] = index["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    index = index[["path", "label", "label_idx", "source_split", "width", "height", "mode", "sha1", "pixel_sha1",
                   "phash", "near_copy_group"]]
    converted = (report.action == "converted").sum() if len(report) else 0
    log.info("indexed %s: %d usable images in %d classes, %d skipped, %d converted to RGB",
             root, len(index), len(classes), (report.action == "skipped").sum() if len(report) else 0, converted)
    for reason in ("label conflict", "near-duplicate", "same pixels", "not valid UTF-8"):
        n = int(report.reason.str.contains(reason).sum()) if len(report) else 0
        if n:
            log.warning("dataset '%s': %d file(s) skipped for '%s' (see data_report.csv)", name, n, reason)
    if max_per_class is not None:
        log.info("max_per_class %d: kept %d images, left out %d", max_per_class, len(index), int(counts.left_out.sum()))
    return IndexResult(index=index, report=report, class_counts=counts)


def _check_classes(name: str, candidates, index: pd.DataFrame, report: pd.DataFrame) -> None:
    """A class folder of the training pool whose files were all skipped is an error naming the class and why."""
    found = {label for part, label, _ in candidates if part in POOL_PARTS}
    kept = set(index.loc[index.source_split.isin(POOL_PARTS), "label"])
    lost = sorted(found - kept)
    if lost:
        lines = []
        for label in lost:
            rows = report[(report.label == label) & report.part.isin(POOL_PARTS) & (report.action == "skipped")]
            lines += [f"{label}: {r.path}: {r.reason}" for r in rows.head(3).itertuples()]
        raise DataError(
            f"dataset '{name}': class(es) {lost} have training files but none is usable after cleaning:\n  "
            + "\n  ".join(lines) + "\nFix or remove these files, or remove the class folder"
        )


def _class_counts(candidates, root: Path, report: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """Per part and class: files found, images kept, files skipped (and why, in the report), converted, left out."""
    found = pd.DataFrame([(part, label) for part, label, _ in candidates], columns=["part", "label"])
    table = found.value_counts().rename("files").to_frame()
    by_action = report.dropna(subset=["label"]).groupby(["part", "label", "action"]).size().unstack(fill_value=0)
    for action in ("skipped", "converted"):
        col = by_action[action] if action in by_action else pd.Series(dtype=int)
        table[action] = col.reindex(table.index, fill_value=0)
    table["kept"] = index[index.sampled].groupby(["source_split", "label"]).size().rename_axis(["part", "label"]).reindex(
        table.index, fill_value=0)
    table["left_out"] = index[~index.sampled].groupby(["source_split", "label"]).size().rename_axis(
        ["part", "label"]).reindex(table.index, fill_value=0)
    empty = report[report.reason == "empty class folder"]
    extra = pd.DataFrame({"part": empty.part, "label": empty.label, "files": 0, "skipped": 0, "converted": 0,
                          "kept": 0, "left_out": 0})
    out = pd.concat([table.reset_index(), extra], ignore_index=True)
    out = out[["part", "label", "files", "kept", "skipped", "converted", "left_out"]].astype(
        {c: int for c in ("files", "kept", "skipped", "converted", "left_out")})
    return out.sort_values(["part", "label"], key=lambda c: c.map(PART_ORDER) if c.name == "part" else c,
                           ignore_index=True)


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image as RGB, whatever its mode (grayscale, palette, RGBA, CMYK, ...)."""
    with Image.open(path) as img:
        return to_rgb(img)
