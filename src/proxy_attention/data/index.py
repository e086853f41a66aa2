"""Index an image folder: one row per usable image, with its label and class index.

The common layout is ``<root>/<part>/<class>/<file>`` where ``<part>`` is
``train`` and optionally ``test`` (an official test split). The label is the
class folder's name (thesis 4.5.2); class indices follow the sorted class names.

Every file is opened and fully decoded, so unreadable, truncated and non-image
files are found here, once, and listed in the data report with the reason they
were skipped. Byte-identical duplicates are kept once (a test copy wins, so no
image can sit in both test and train).
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from proxy_attention.errors import DataError

log = logging.getLogger(__name__)

PARTS = ("test", "train")  # test first: a duplicate keeps its test copy
CONVERTED_MODES = {"L", "LA", "P", "PA", "RGBA", "CMYK", "I", "I;16", "F", "1", "YCbCr", "LAB", "HSV"}




@dataclass
class IndexResult:
    index: pd.DataFrame
    report: pd.DataFrame  # one row per skipped or converted file
    class_counts: pd.DataFrame | None = None  # per part and class: files found, kept, skipped, converted, left out


def _probe(path: Path) -> dict:
    """Open and fully decode one image; describe it or say why it is unusable."""
    info: dict = {"sha1": None, "mode": None, "width": None, "height": None, "problem": None}
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
            info.update(mode=img.mode, width=img.width, height=img.height)
    except UnidentifiedImageError:
        info["problem"] = "not an image"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        info["problem"] = f"corrupt or truncated image: {e}"
    return info


def index_folder(root: str | Path, threads: int = 4, official_test: bool = True,
                 max_per_class: int | None = None) -> IndexResult:
    """Scan ``root`` and return the index of usable images and the data report.

    ``official_test=False`` puts the images of ``test/`` into the training pool
    (the split then draws its own test part). ``max_per_class`` keeps at most
    that many usable images per class and part, a deterministic choice (the
    lowest content hashes), for quick runs on a class-balanced subset.
    """
    root = Path(root)
    if not (root / "train").is_dir():
        raise DataError(
            f"dataset folder {root} has no 'train/' part; expected {root}/train/<class>/<image> "
            "(and optionally {root}/test/<class>/<image>)"
        )
    candidates: list[tuple[str, str, Path]] = []
    report_rows: list[dict] = []
    for part in PARTS:
        part_dir = root / part
        if not part_dir.is_dir():
            continue
        for entry in sorted(os.scandir(part_dir), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                report_rows.append(dict(path=f"{part}/{entry.name}", part=part, label=None, action="skipped", reason="file outside any class folder"))
                continue
            files = sorted(p for p in Path(entry.path).rglob("*") if p.is_file() and not p.name.startswith("."))
            if not files:
                report_rows.append(dict(path=f"{part}/{entry.name}/", part=part, label=entry.name, action="skipped", reason="empty class folder"))
            candidates.extend((part, entry.name, p) for p in files)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        probes = list(pool.map(_probe, (p for _, _, p in candidates)))

    rows = []
    seen: dict[str, str] = {}
    for (part, label, path), info in zip(candidates, probes):
        rel = path.relative_to(root).as_posix()
        if info["problem"]:
            report_rows.append(dict(path=rel, part=part, label=label, action="skipped", reason=info["problem"]))
            continue
        if info["sha1"] in seen:
            report_rows.append(dict(path=rel, part=part, label=label, action="skipped", reason=f"duplicate of {seen[info['sha1']]}"))
            continue
        seen[info["sha1"]] = rel
        if info["mode"] != "RGB":
            report_rows.append(dict(path=rel, part=part, label=label, action="converted", reason=f"mode {info['mode']} converted to RGB"))
        rows.append(dict(path=rel, label=label, source_split=part, width=info["width"], height=info["height"], mode=info["mode"], sha1=info["sha1"]))

    report = pd.DataFrame(report_rows, columns=["path", "part", "label", "action", "reason"])
    if not rows:
        raise DataError(f"dataset folder {root}: no usable image found ({len(report)} files skipped; see the data report)")
    index = pd.DataFrame(rows)
    index["sampled"] = True
    if max_per_class is not None:
        rank = index.groupby(["source_split", "label"])["sha1"].rank(method="first")
        index["sampled"] = rank <= max_per_class
    counts = _class_counts(candidates, root, report, index)
    index = index[index.sampled].drop(columns="sampled").reset_index(drop=True)
    if not official_test:
        index["source_split"] = "train"
    train_classes = set(index.loc[index.source_split == "train", "label"])
    test_only = sorted(set(index.label) - train_classes)
    if test_only:
        raise DataError(f"dataset folder {root}: classes {test_only} have test images but no usable training image")
    classes = sorted(train_classes)
    index["label_idx"] = index["label"].map({c: i for i, c in enumerate(classes)}).astype(int)
    index = index[["path", "label", "label_idx", "source_split", "width", "height", "mode", "sha1"]]
    converted = (report.action == "converted").sum() if len(report) else 0
    log.info("indexed %s: %d usable images in %d classes, %d skipped, %d converted to RGB",
             root, len(index), len(classes), (report.action == "skipped").sum() if len(report) else 0, converted)
    if max_per_class is not None:
        log.info("max_per_class %d: kept %d images, left out %d", max_per_class, len(index), int(counts.left_out.sum()))
    return IndexResult(index=index, report=report, class_counts=counts)


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
    return out.sort_values(["part", "label"], key=lambda c: c.map({"train": 0, "test": 1}) if c.name == "part" else c,
                           ignore_index=True)


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image as RGB, whatever its mode (grayscale, palette, RGBA, CMYK, ...)."""
    with Image.open(path) as img:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, img).convert("RGB")
        return img.convert("RGB")
