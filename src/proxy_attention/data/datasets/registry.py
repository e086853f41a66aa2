"""The published datasets the pipeline knows by name: where their files are and how to check them.

Each entry lists the publisher's file(s) with the checksum the publisher (or a
well-known loader that pins them: torchvision, TensorFlow Datasets, fastai)
gives, and names the converter that turns the archive(s) into the common
layout. A file with no published checksum has ``checksum=None``; the download
then logs its sha256 so the user can pin it. Nothing here is guessed.

User options (``config.yaml``, ``datasets.<name>``) that change what is fetched:

* ``source``: a local path or URL to read instead of the official URL (for
  clusters without internet). A string is the file itself for one-file
  datasets, or a folder / URL prefix holding the official file names; a
  mapping ``{filename: location}`` is always allowed.
* ``checksum``: ``"sha256:<hex>"`` or ``"md5:<hex>"`` replacing the published
  one (one-file datasets), or a mapping ``{filename: checksum}``.
* ``size`` (Imagenette): ``160`` (default), ``320`` or ``full``; any other
  size names a re-sized copy that only a ``source`` can provide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from proxy_attention.errors import DataError


@dataclass(frozen=True)
class RemoteFile:
    filename: str  # name under resources/downloads/<dataset>/
    url: str | None  # official location; None where only a mirror or Kaggle has it
    checksum: str | None  # "md5:<hex>" or "sha256:<hex>"; None when none is published
    size: int | None = None  # bytes, where published (shown in the log only)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    homepage: str
    licence: str
    classes: int
    images: str  # human-readable counts, for the docs and logs
    files: tuple[RemoteFile, ...] = ()
    kaggle: str | None = None  # Kaggle dataset slug, for datasets distributed only there
    notes: str = ""
    options: dict = field(default_factory=dict)  # converter options and their defaults


IMAGENETTE_BASE = "https://s3.amazonaws.com/fast-ai-imageclas/"
# Official Imagenette2 archives. md5: torchvision.datasets.Imagenette; sha256 and
# sizes: TensorFlow Datasets url_checksums/imagenette.txt (same files).
IMAGENETTE_FILES = {
    "160": RemoteFile("imagenette2-160.tgz", IMAGENETTE_BASE + "imagenette2-160.tgz",
                      "sha256:88daccb09b6fce93f45e6c09ddeb269cce705549e6bff322092a2a5a11489863", 98948031),
    "320": RemoteFile("imagenette2-320.tgz", IMAGENETTE_BASE + "imagenette2-320.tgz",
                      "sha256:5020a9130cea0348272823cb12d2db7e981c6f2afa3dce71ccd5b8013005c55e", 341553947),
    "full": RemoteFile("imagenette2.tgz", IMAGENETTE_BASE + "imagenette2.tgz",
                       "sha256:de32de18a7d8df0114d5e2c3c14cafb9558e8f00441a73aa7953681ad02be49c", 1556914727),
}

REGISTRY: dict[str, DatasetInfo] = {
    "cifar100": DatasetInfo(
        name="cifar100",
        title="CIFAR-100",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        licence="no licence stated by the authors (cite Krizhevsky 2009)",
        classes=100,
        images="50,000 train + 10,000 test, 32x32",
        # md5 published on the CIFAR page and pinned by torchvision.datasets.CIFAR100.
        files=(RemoteFile("cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                          "md5:eb9058c3a382ffc7106e4002c42a8d85"),),
        notes="python pickles; the 100 fine labels are the classes",
    ),
    "stanford_dogs": DatasetInfo(
        name="stanford_dogs",
        title="Stanford Dogs",
        homepage="http://vision.stanford.edu/aditya86/ImageNetDogs/",
        licence="ImageNet images: non-commercial research and education only",
        classes=120,
        images="12,000 train + 8,580 test, varied sizes",
        # sha256 and sizes: TensorFlow Datasets url_checksums/stanford_dogs.txt.
        files=(
            RemoteFile("images.tar", "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar",
                       "sha256:a443fc2f9a851aa1a7b8e4fa4af94b8459fce2c9f5a2f4dd4669cf9673a4ec58", 793579520),
            RemoteFile("lists.tar", "http://vision.stanford.edu/aditya86/ImageNetDogs/lists.tar",
                       "sha256:34b47cacd9a98b5d150e084f24d29391c084c55272295ec65c85651bc35f4d6c", 481280),
        ),
        notes="official train/test lists (train_list.mat, test_list.mat); class names without the WordNet id",
    ),
    "imagenette": DatasetInfo(
        name="imagenette",
        title="Imagenette (v2)",
        homepage="https://github.com/fastai/imagenette",
        licence="Apache 2.0 (fastai); images from ImageNet, research use",
        classes=10,
        images="9,469 train + 3,925 val (used as test)",
        notes="size 160 (default), 320 or full; the official val split is the test split",
        options={"size": "160"},
    ),
    "food101": DatasetInfo(
        name="food101",
        title="Food-101",
        homepage="https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/",
        licence="research use; images from foodspotting.com, no licence stated",
        classes=101,
        images="75,750 train + 25,250 test, max side 512 px",
        # sha256 and size: TensorFlow Datasets url_checksums/food101.txt
        # (torchvision.datasets.Food101 pins the same file as md5:85eeb15f3717b99a5da872d97d918f87).
        files=(RemoteFile("food-101.tar.gz", "http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",
                          "sha256:d97d15e438b7f4498f96086a4f7e2fa42a32f2712e87d3295441b2b6314053a4", 4996278331),),
        notes="official split from meta/train.txt and meta/test.txt",
    ),
    "plant_village": DatasetInfo(
        name="plant_village",
        title="PlantVillage (colour, without augmentation)",
        homepage="https://data.mendeley.com/datasets/tywbtsjrjv/1",
        licence="CC BY 4.0",
        classes=38,
        images="54,303 colour leaf images, 256x256; no official test split",
        # The original plantvillage.org release is gone; this is the unaugmented
        # republication on Mendeley Data that TensorFlow Datasets uses (sha256 and
        # size from its url_checksums/plant_village.txt). The authors' GitHub copy
        # (spMohanty/PlantVillage-Dataset, raw/color) is read too when given as 'source'.
        files=(RemoteFile(
            "Plant_leaf_diseases_dataset_without_augmentation.zip",
            "https://data.mendeley.com/datasets/tywbtsjrjv/1/files/d5652a28-c1d8-4b76-97f3-72fb80f94efc/"
            "Plant_leaf_diseases_dataset_without_augmentation.zip",
            "sha256:ac3432453984d02a86197987e775a5429d0d59e7cc7c35bcf5a8f50349b90ff0", 868032562),),
        notes="the Mendeley copy's extra 'Background_without_leaves' class is dropped unless background: true",
        options={"background": False},
    ),
    "asl_alphabet": DatasetInfo(
        name="asl_alphabet",
        title="ASL Alphabet",
        homepage="https://www.kaggle.com/datasets/grassknoted/asl-alphabet",
        licence="GPL 2",
        classes=29,
        images="87,000 train (200x200) + 28 test images",
        # Distributed only through Kaggle, which publishes no checksum for the archive.
        files=(RemoteFile("asl-alphabet.zip", None, None),),
        kaggle="grassknoted/asl-alphabet",
        notes="the official test folder holds one image per class (28): consider official_test: false",
    ),
}

# Options every registry dataset understands (beyond its own in DatasetInfo.options).
COMMON_OPTIONS = {"type", "source", "checksum", "official_test", "max_per_class"}


ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}  # hex digits of each digest


def parse_checksum(text: str, dataset: str = "?") -> tuple[str, str]:
    """``"sha256:<hex>"`` -> ``("sha256", "<hex>")``; refuses unknown algorithms and malformed digests."""
    algo, sep, digest = str(text).strip().partition(":")
    algo, digest = algo.lower(), digest.strip().lower()
    if not sep or algo not in ALGORITHMS or len(digest) != ALGORITHMS[algo] or any(c not in "0123456789abcdef" for c in digest):
        raise DataError(
            f"dataset '{dataset}': checksum {text!r} is not of the form 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'"
        )
    return algo, digest


def registry_type(name: str, options: dict | None) -> str | None:
    """The registry entry a configured dataset uses, or None for built-ins and folders."""
    kind = (options or {}).get("type", name)
    return kind if kind in REGISTRY else None


def imagenette_size(options: dict) -> str:
    size = str(options.get("size", "160")).lower().removesuffix("px")
    if not (size == "full" or size.isdigit()):
        raise DataError(f"imagenette size must be 160, 320, full or a pixel size of a mirrored copy, got {options['size']!r}")
    return size


def _published_files(kind: str, options: dict) -> list[RemoteFile]:
    if kind == "imagenette":
        size = imagenette_size(options)
        if size in IMAGENETTE_FILES:
            return [IMAGENETTE_FILES[size]]
        return [RemoteFile(f"imagenette2-{size}.tgz", None, None)]  # a re-sized copy: no official URL
    return list(REGISTRY[kind].files)


def _is_url(location: str) -> bool:
    return urlparse(location).scheme in ("http", "https", "ftp", "file")


def _source_for(dataset: str, f: RemoteFile, source, n_files: int) -> str | None:
    if source is None:
        return None
    if isinstance(source, dict):
        return source.get(f.filename)
    source = str(source)
    is_folder = source.endswith("/") or (not _is_url(source) and Path(source).expanduser().is_dir())
    if is_folder or n_files > 1:
        return source.rstrip("/") + "/" + f.filename  # a folder or URL prefix holding the official names
    return source


def _checksum_for(dataset: str, f: RemoteFile, checksum, n_files: int) -> str | None:
    if checksum is None:
        return f.checksum
    if isinstance(checksum, dict):
        return checksum.get(f.filename, f.checksum)
    if n_files > 1:
        raise DataError(f"dataset '{dataset}' has {n_files} files: 'checksum' must map each file name to its checksum")
    return str(checksum)


def remote_files(dataset: str, options: dict | None) -> list[RemoteFile]:
    """The files a configured registry dataset needs, with the user's source and checksum applied.

    ``url`` of the result is where the download rule reads the file: the user's
    ``source`` if set, else the official URL (None for Kaggle-only files).
    """
    options = options or {}
    kind = registry_type(dataset, options)
    if kind is None:
        return []
    published = _published_files(kind, options)
    n = len(published)
    source, checksum = options.get("source"), options.get("checksum")
    if isinstance(source, dict):
        unknown = set(source) - {f.filename for f in published}
        if unknown:
            raise DataError(f"dataset '{dataset}': 'source' names unknown files {sorted(unknown)}; "
                            f"its files are {[f.filename for f in published]}")
    if isinstance(checksum, dict):
        unknown = set(checksum) - {f.filename for f in published}
        if unknown:
            raise DataError(f"dataset '{dataset}': 'checksum' names unknown files {sorted(unknown)}; "
                            f"its files are {[f.filename for f in published]}")
    out = []
    for f in published:
        location = _source_for(dataset, f, source, n) or f.url
        sum_ = _checksum_for(dataset, f, checksum, n)
        if sum_ is not None:
            parse_checksum(sum_, dataset)
        out.append(RemoteFile(f.filename, location, sum_, f.size))
    return out


def remote_checksum(dataset: str, options: dict | None, filename: str) -> str | None:
    """The checksum the download of ``filename`` is verified against (None: none known, or no such file)."""
    files = {f.filename: f for f in remote_files(dataset, options)}
    return files[filename].checksum if filename in files else None


def check_options(dataset: str, options: dict | None) -> None:
    """Refuse options a registry dataset cannot use, before any job runs."""
    options = options or {}
    kind = registry_type(dataset, options)
    if kind is None:
        return
    info = REGISTRY[kind]
    unknown = set(options) - COMMON_OPTIONS - set(info.options)
    if unknown:
        allowed = sorted(COMMON_OPTIONS | set(info.options))
        raise DataError(f"dataset '{dataset}' ({info.title}) has no option(s) {sorted(unknown)}; allowed: {allowed}")
    for f in remote_files(dataset, options):
        if f.url is None and info.kaggle is None:
            raise DataError(
                f"dataset '{dataset}': {f.filename} has no official download; set 'source' to its path or URL"
                + (" (Imagenette publishes sizes 160, 320 and full only)" if kind == "imagenette" else "")
            )
