"""Turn each published dataset's archive(s) into the common layout ``train/<class>/*`` (+ ``test/<class>/*``).

Every converter gets the verified archives (file name -> path), the dataset's
options, the output folder (a temporary folder that is renamed into place only
when the converter has finished) and a scratch folder inside it to extract into.
Files are moved out of the extracted tree, never copied twice; the archives
themselves are only read.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from proxy_attention.data.datasets.archives import (
    CORRUPT,
    corrupt_archive,
    extract,
    find_dir,
    read_member,
)
from proxy_attention.errors import DataError

log = logging.getLogger(__name__)

# fastai's readable names of the Imagenette WordNet ids (also torchvision.datasets.Imagenette's first names).
IMAGENETTE_CLASSES = {
    "n01440764": "tench",
    "n02102040": "English springer",
    "n02979186": "cassette player",
    "n03000684": "chain saw",
    "n03028079": "church",
    "n03394916": "French horn",
    "n03417042": "garbage truck",
    "n03425413": "gas pump",
    "n03445777": "golf ball",
    "n03888257": "parachute",
}


def place(src: Path, dest: Path) -> None:
    """Move one file into the layout (a rename: same file system)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise DataError(f"two files map to {dest}; the archive has an unexpected layout")
    os.replace(src, dest)


def place_dir(src: Path, dest: Path) -> None:
    """Move a whole class folder into the layout."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        raise DataError(f"two class folders map to {dest}; the archive has an unexpected layout")
    os.replace(src, dest)


def _require(found: Path | None, dataset: str, what: str, archive: Path) -> Path:
    if found is None:
        raise DataError(f"dataset '{dataset}': archive {archive.name} has no {what}; is it the right file?")
    return found


# ---------------------------------------------------------------- CIFAR-100


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batches (dicts of lists, strings and numpy arrays) and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR pickle")


def _load_batch(dataset: str, archive: Path, name: str) -> dict:
    data = read_member(dataset, archive, name)
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise corrupt_archive(dataset, archive, e) from None
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def cifar100(dataset: str, archives: dict[str, Path], options: dict, out: Path, work: Path) -> None:
    archive = archives["cifar-100-python.tar.gz"]
    names = [n.decode() if isinstance(n, bytes) else n for n in _load_batch(dataset, archive, "meta")["fine_label_names"]]
    for part in ("train", "test"):
        batch = _load_batch(dataset, archive, part)
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels, files = batch["fine_labels"], batch["filenames"]
        if not (len(data) == len(labels) == len(files)) or data.shape[1:] != (3072,):
            raise DataError(f"dataset '{dataset}': CIFAR batch '{part}' has data {data.shape}, "
                            f"{len(labels)} labels and {len(files)} file names")
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        for i, (img, label, fname) in enumerate(zip(images, labels, files)):
            fname = fname.decode() if isinstance(fname, bytes) else str(fname)
            dest = out / part / names[label] / fname
            if dest.exists():
                dest = dest.with_name(f"{dest.stem}_{i}{dest.suffix}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(dest)
        log.info("dataset '%s': wrote %d %s images as PNG", dataset, len(images), part)


# ------------------------------------------------------------ Stanford Dogs


def _mat_strings(value) -> list[str]:
    """The strings of a MATLAB cell array as scipy.io.loadmat returns it."""
    out = []
    for cell in np.asarray(value, dtype=object).ravel():
        inner = np.asarray(cell).ravel()
        out.append(str(inner[0]) if inner.size else "")
    return out


def _dog_list(dataset: str, archive: Path, name: str) -> list[str]:
    import scipy.io

    try:
        mat = scipy.io.loadmat(io.BytesIO(read_member(dataset, archive, name)))
    except (ValueError, TypeError) + CORRUPT as e:
        raise corrupt_archive(dataset, archive, e) from None
    return _mat_strings(mat["file_list"])


def dog_breed(folder: str) -> str:
    """``n02085620-Chihuahua`` -> ``Chihuahua`` (the WordNet id dropped)."""
    wnid, sep, breed = folder.partition("-")
    return breed if sep and breed else folder


def stanford_dogs(dataset: str, archives: dict[str, Path], options: dict, out: Path, work: Path) -> None:
    lists = archives["lists.tar"]
    parts = {"train": _dog_list(dataset, lists, "train_list.mat"), "test": _dog_list(dataset, lists, "test_list.mat")}
    extract(dataset, archives["images.tar"], work)
    images = _require(find_dir(work, lambda p: p.name == "Images"), dataset, "Images/ folder", archives["images.tar"])
    for part, rels in parts.items():
        missing = []
        for rel in rels:
            src = images / rel
            if not src.is_file():
                missing.append(rel)
                continue
            folder, fname = rel.split("/", 1)
            place(src, out / part / dog_breed(folder) / fname)
        log.info("dataset '%s': %d %s images from %s_list.mat", dataset, len(rels) - len(missing), part, part)
        if missing:
            log.warning("dataset '%s': %d images of %s_list.mat are not in images.tar, e.g. %s",
                        dataset, len(missing), part, missing[:3])


# --------------------------------------------------------------- Imagenette


def imagenette(dataset: str, archives: dict[str, Path], options: dict, out: Path, work: Path) -> None:
    (archive,) = archives.values()
    extract(dataset, archive, work)
    top = _require(find_dir(work, lambda p: (p / "train").is_dir() and (p / "val").is_dir()),
                   dataset, "<folder>/train and <folder>/val", archive)
    for src_part, part in (("train", "train"), ("val", "test")):
        for wnid_dir in sorted(d for d in (top / src_part).iterdir() if d.is_dir()):
            name = IMAGENETTE_CLASSES.get(wnid_dir.name)
            if name is None:
                log.warning("dataset '%s': unknown Imagenette class %s kept under its WordNet id", dataset, wnid_dir.name)
                name = wnid_dir.name
            place_dir(wnid_dir, out / part / name)


# ----------------------------------------------------------------- Food-101


def food101(dataset: str, archives: dict[str, Path], options: dict, out: Path, work: Path) -> None:
    (archive,) = archives.values()
    extract(dataset, archive, work)
    root = _require(find_dir(work, lambda p: (p / "meta" / "train.txt").is_file() and (p / "images").is_dir()),
                    dataset, "food-101/meta/train.txt and food-101/images/", archive)
    for part in ("train", "test"):
        rels = [line.strip() for line in (root / "meta" / f"{part}.txt").read_text().splitlines() if line.strip()]
        missing = 0
        for rel in rels:
            src = root / "images" / f"{rel}.jpg"
            if not src.is_file():
                missing += 1
                continue
            cls, name = rel.split("/", 1)
            place(src, out / part / cls / f"{name}.jpg")
        log.info("dataset '%s': %d %s images from meta/%s.txt (%d listed but missing)", dataset,
                 len(rels) - missing, part, part, missing)


# ------------------------------------------------------------ PlantVillage

PLANT_VILLAGE_BACKGROUND = "Background_without_leaves"


def _plant_root(p: Path) -> bool:
    return p.name.startswith(("Plant_leave_diseases_dataset", "Plant_leaf_diseases_dataset")) or (
        p.name == "color" and p.parent.name == "raw"  # the authors' GitHub copy: raw/color/<class>/
    )


def plant_village(dataset: str, archives: dict[str, Path], options: dict, out: Path, work: Path) -> None:
    (archive,) = archives.values()
    extract(dataset, archive, work)
    root = _require(find_dir(work, lambda p: _plant_root(p) and any(c.is_dir() for c in p.iterdir())),
                    dataset, "Plant_leave_diseases_dataset_without_augmentation/ (or raw/color/) folder", archive)
    for cls in sorted(d for d in root.iterdir() if d.is_dir()):
        if cls.name == PLANT_VILLAGE_BACKGROUND and not options.get("background", False):
            log.info("dataset '%s': leaving out the '%s' class (background: false)", dataset, cls.name)
            continue
        place_dir(cls, out / "train" / cls.name)


# ------------------------------------------------------------- ASL alphabet


def asl_alphabet(dataset: str, archives: dict[str, Path], options: dict, out: Path, work: Path) -> None:
    (archive,) = archives.values()
    extract(dataset, archive, work)
    train = _require(find_dir(work, lambda p: p.name == "asl_alphabet_train" and any(
        c.is_dir() and c.name != "asl_alphabet_train" for c in p.iterdir())), dataset,
        "asl_alphabet_train/<letter>/ folders", archive)
    for cls in sorted(d for d in train.iterdir() if d.is_dir()):
        place_dir(cls, out / "train" / cls.name)
    classes = {d.name for d in (out / "train").iterdir()}
    test = find_dir(work, lambda p: p.name == "asl_alphabet_test" and any(c.is_file() for c in p.iterdir()))
    if test is None:
        log.warning("dataset '%s': archive has no asl_alphabet_test/ folder; a test split will be drawn", dataset)
        return
    counts: Counter = Counter()
    for f in sorted(p for p in test.iterdir() if p.is_file()):
        cls = f.stem.rsplit("_test", 1)[0]
        if cls not in classes:
            log.warning("dataset '%s': test image %s names no training class; left out", dataset, f.name)
            continue
        place(f, out / "test" / cls / f.name)
        counts[cls] += 1
    log.info("dataset '%s': official test folder has %d images in %d classes (no test image for: %s)", dataset,
             sum(counts.values()), len(counts), sorted(classes - set(counts)) or "none")
    if sum(counts.values()) < 5 * len(classes):
        log.warning("dataset '%s': the official test split has only %d images; unless official_test is false "
                    "(which draws a stratified test split instead) test accuracies rest on these", dataset,
                    sum(counts.values()))


CONVERTERS = {
    "cifar100": cifar100,
    "stanford_dogs": stanford_dogs,
    "imagenette": imagenette,
    "food101": food101,
    "plant_village": plant_village,
    "asl_alphabet": asl_alphabet,
}
