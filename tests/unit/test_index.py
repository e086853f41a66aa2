"""Indexing finds bad data, converts odd colour modes and reports what it skipped."""

import shutil

import numpy as np
import pytest
from conftest import write_colour_classes
from PIL import Image

from proxy_attention.data.imagecache import build_cache, load_cache
from proxy_attention.data.index import index_folder
from proxy_attention.errors import DataError


def test_clean_folder_is_indexed_with_encoded_labels(image_folder):
    result = index_folder(image_folder)
    assert len(result.index) == 36
    assert result.report.empty
    assert sorted(result.index.label.unique()) == ["class0", "class1", "class2"]
    assert result.index.groupby("label").label_idx.first().to_dict() == {"class0": 0, "class1": 1, "class2": 2}
    assert (result.index.source_split == "train").all()


def test_bad_files_are_skipped_and_reported(image_folder):
    d = image_folder / "train" / "class0"
    good = (d / "img0.png").read_bytes()
    (d / "truncated.png").write_bytes(good[: len(good) // 2])
    (d / "notes.txt").write_text("not an image")
    (d / "copy.png").write_bytes(good)  # byte-identical duplicate
    Image.new("L", (8, 8), 128).save(d / "gray.png")
    Image.new("RGBA", (8, 8), (10, 20, 30, 0)).save(d / "alpha.png")
    Image.new("CMYK", (8, 8), (0, 50, 100, 0)).save(d / "cmyk.jpg")
    Image.new("P", (8, 8), 3).save(d / "palette.png")
    (image_folder / "train" / "empty_class").mkdir()
    (image_folder / "train" / "stray.png").write_bytes(good)

    result = index_folder(image_folder)
    reasons = dict(zip(result.report.path, result.report.reason))
    assert reasons["train/class0/truncated.png"].startswith("corrupt or truncated")
    assert reasons["train/class0/notes.txt"] == "not an image"
    assert reasons["train/class0/img0.png"] == "duplicate of train/class0/copy.png"  # first in sorted order is kept
    assert reasons["train/empty_class/"] == "empty class folder"
    assert reasons["train/stray.png"] == "file outside any class folder"
    for name, mode in [("gray.png", "L"), ("alpha.png", "RGBA"), ("cmyk.jpg", "CMYK"), ("palette.png", "P")]:
        assert reasons[f"train/class0/{name}"] == f"mode {mode} converted to RGB"
    paths = set(result.index.path)
    assert "train/class0/gray.png" in paths and "train/class0/truncated.png" not in paths
    assert "empty_class" not in set(result.index.label)
    assert len(result.index) == 36 + 4

    cache = image_folder.parent / "cache.npy"
    build_cache(result.index, image_folder, 16, cache)
    arr = load_cache(cache)
    assert arr.shape == (40, 16, 16, 3) and arr.dtype == np.uint8
    row = result.index.path.tolist().index("train/class0/gray.png")
    assert (arr[row] == 128).all()  # grayscale became three equal channels
    row = result.index.path.tolist().index("train/class0/alpha.png")
    assert (arr[row] == 255).all()  # transparent pixels are composited on white


def test_duplicate_across_test_and_train_keeps_the_test_copy(image_folder):
    test_dir = image_folder / "test" / "class1"
    test_dir.mkdir(parents=True)
    shutil.copy(image_folder / "train" / "class1" / "img3.png", test_dir / "same.png")
    result = index_folder(image_folder)
    assert "test/class1/same.png" in set(result.index.path)
    assert "train/class1/img3.png" not in set(result.index.path)


def test_nothing_usable_is_a_clear_error(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    (tmp_path / "train" / "a" / "x.jpg").write_text("garbage")
    with pytest.raises(DataError, match="no usable image"):
        index_folder(tmp_path)
    with pytest.raises(DataError, match="no 'train/' part"):
        index_folder(tmp_path / "train")


# ---- content duplicates, classes, layouts and file names (docs/what-happens-when.md) ----


def smooth_image(seed: int, size: int = 48) -> Image.Image:
    """A photo-like picture (smooth random blobs), big enough for a perceptual hash to mean something."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8))
    return small.resize((size, size), Image.Resampling.BICUBIC)


@pytest.fixture
def photo_folder(tmp_path):
    """train/ and test/ of 3 classes x 4 distinct 48x48 smooth images (PNG)."""
    root = tmp_path / "photos"
    for part, offset in (("train", 0), ("test", 100)):
        for c in range(3):
            d = root / part / f"class{c}"
            d.mkdir(parents=True)
            for i in range(4):
                smooth_image(offset + 10 * c + i).save(d / f"img{i}.png")
    return root


def test_distinct_photos_are_not_near_duplicates(photo_folder):
    result = index_folder(photo_folder)
    assert len(result.index) == 24 and result.report.empty
    assert result.index.phash.str.fullmatch("p[0-9a-f]{16}").all()


def test_reencoded_test_image_in_training_is_left_out_and_reported(photo_folder):
    test_img = Image.open(photo_folder / "test/class1/img2.png")
    test_img.save(photo_folder / "train/class1/same_pixels.bmp")  # other bytes, the same pixels
    test_img.save(photo_folder / "train/class1/recompressed.jpg", quality=70)  # lossy re-encoding
    test_img.resize((40, 40), Image.Resampling.BILINEAR).save(photo_folder / "train/class1/resized.png")
    result = index_folder(photo_folder)
    reasons = dict(zip(result.report.path, result.report.reason))
    assert reasons["train/class1/same_pixels.bmp"] == "same pixels as test/class1/img2.png (a re-encoded copy)"
    for name in ("recompressed.jpg", "resized.png"):
        assert reasons[f"train/class1/{name}"].startswith("near-duplicate of test image test/class1/img2.png (phash distance")
    assert set(result.index.path) == {str(p.relative_to(photo_folder)) for p in photo_folder.rglob("img*.png")}


def test_a_lookalike_of_another_class_drops_nothing(photo_folder):
    """A training picture that only looks like a test picture (phash 2 bits off, another object in it) is not a copy.

    phash alone called it a near-duplicate with another label, a "label conflict" that dropped both, the test image too.
    """
    from conftest import jpeg, lookalike, phash_distance, scene

    base = scene().crop((0, 0, 64, 64))
    base.save(photo_folder / "test/class0/sky.png")
    lookalike(base).save(photo_folder / "train/class2/other_bird.png")
    jpeg(base, 75).save(photo_folder / "train/class0/sky_again.jpg")  # a real copy is still left out
    assert phash_distance(base, lookalike(base)) == 2
    result = index_folder(photo_folder)
    reasons = dict(zip(result.report.path, result.report.reason))
    assert set(reasons) == {"train/class0/sky_again.jpg"}
    assert reasons["train/class0/sky_again.jpg"].startswith("near-duplicate of test image test/class0/sky.png")
    assert {"test/class0/sky.png", "train/class2/other_bird.png"} <= set(result.index.path)
    assert (result.index.near_copy_group == "").all()  # the copy is gone; the look-alike is in no group


def test_one_class_is_an_error_naming_the_dataset(tmp_path):
    write_colour_classes(tmp_path / "one" / "train", per_class=4, noise=60, strength=0.7)
    for c in ("class1", "class2"):
        shutil.rmtree(tmp_path / "one" / "train" / c)
    with pytest.raises(DataError, match=r"dataset 'leaves'.*only 1 class .*\['class0'\].*at least two"):
        index_folder(tmp_path / "one", dataset="leaves")


def test_image_under_two_labels_is_a_label_conflict(image_folder):
    shutil.copy(image_folder / "train/class0/img0.png", image_folder / "train/class1/stray.png")
    result = index_folder(image_folder)
    reasons = dict(zip(result.report.path, result.report.reason))
    assert reasons["train/class1/stray.png"] == "label conflict: same image as train/class0/img0.png (label 'class0')"
    assert reasons["train/class0/img0.png"] == "label conflict: same image as train/class1/stray.png (label 'class1')"
    assert not {"train/class0/img0.png", "train/class1/stray.png"} & set(result.index.path)


def test_class_left_empty_by_cleaning_is_an_error_naming_it(image_folder):
    only = image_folder / "train" / "class3"
    only.mkdir()
    shutil.copy(image_folder / "train/class0/img5.png", only / "mine.png")  # its only image is class0's
    (only / "broken.png").write_text("not an image")
    with pytest.raises(DataError, match=r"class\(es\) \['class3'\] have training files but none is usable") as err:
        index_folder(image_folder)
    assert "class3: train/class3/mine.png: label conflict" in str(err.value)
    assert "class3: train/class3/broken.png: not an image" in str(err.value)


def test_val_folder_joins_the_training_pool(image_folder):
    from proxy_attention.data.split import make_split

    write_colour_classes(image_folder / "val", per_class=3, noise=200, strength=0.3)
    write_colour_classes(image_folder / "test", per_class=2, noise=250, strength=0.2)
    result = index_folder(image_folder)
    assert result.index.groupby("source_split").size().to_dict() == {"test": 6, "train": 36, "val": 9}
    assert set(result.class_counts.part) == {"train", "val", "test"}
    split = make_split(result.index, folds=3, seed=0, test_fraction=0.2)
    assert (split.loc[split.source_split == "val", "split"] == "trainval").all()
    assert (split.loc[split.source_split == "test", "split"] == "test").all()


def test_unexpected_top_level_folder_is_refused(image_folder):
    write_colour_classes(image_folder / "extra", per_class=2, noise=60, strength=0.7)
    with pytest.raises(DataError, match=r"dataset 'ds'.*unexpected top-level folder\(s\) \['extra'\]"):
        index_folder(image_folder)


def test_user_folder_links_val_and_refuses_what_it_cannot_place(image_folder, tmp_path):
    from proxy_attention.data.datasets import link_folder

    write_colour_classes(image_folder / "val", per_class=2, noise=60, strength=0.7)
    link_folder(image_folder, tmp_path / "linked", "mine")
    assert sorted(p.name for p in (tmp_path / "linked").iterdir()) == ["train", "val"]
    (image_folder / "holdout").mkdir()
    with pytest.raises(DataError, match=r"dataset 'mine'.*\['holdout'\]"):
        link_folder(image_folder, tmp_path / "linked2", "mine")
    flat = tmp_path / "flat"
    write_colour_classes(flat, per_class=2, noise=60, strength=0.7)
    (flat / "test").mkdir()
    with pytest.raises(DataError, match=r"has \['test/'\] but no train/"):
        link_folder(flat, tmp_path / "linked3", "mine")


def test_non_utf8_file_name_is_skipped_and_reported(image_folder, tmp_path):
    import os

    from proxy_attention.atomic import write_csv

    d = os.fsencode(image_folder / "train" / "class0")
    shutil.copy(os.path.join(d, b"img0.png"), os.path.join(d, b"caf\xe9.png"))
    bad_class = os.path.join(os.fsencode(image_folder / "train"), b"cl\xffss")
    os.mkdir(bad_class)
    shutil.copy(os.path.join(d, b"img1.png"), os.path.join(bad_class, b"x.png"))
    result = index_folder(image_folder)
    reasons = dict(zip(result.report.path, result.report.reason))
    assert reasons["train/class0/caf\\xe9.png"].startswith("file name is not valid UTF-8")
    assert reasons["train/cl\\xffss/"].startswith("class folder name is not valid UTF-8 (1 files left out)")
    assert len(result.index) == 36
    write_csv(tmp_path / "data_report.csv", result.report)  # the crash was here
    write_csv(tmp_path / "index.csv", result.index)
    assert "caf\\xe9.png" in (tmp_path / "data_report.csv").read_text(encoding="utf-8")


def test_cache_names_an_indexed_file_that_is_gone(image_folder):
    result = index_folder(image_folder)
    (image_folder / "train/class2/img7.png").unlink()
    with pytest.raises(DataError, match=r"class2/img7.png is in the index but no longer exists"):
        build_cache(result.index, image_folder, 8, image_folder.parent / "cache.npy", threads=1)


# ---- high bit depth and EXIF orientation (issue 25, items 1 and 2) ----

def _png16_rgb(path, rgb16: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one): IHDR bit depth 16, colour type 2."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_high_bit_depth_images_are_scaled_not_clipped_and_reported(image_folder):
    """A 16-bit, 32-bit integer or float copy of an 8-bit picture loads as that picture, and the report says how."""
    rng = np.random.default_rng(1)
    gray8 = {n: rng.integers(0, 256, (16, 16)).astype(np.uint8) for n in ("g16.png", "g32.tif", "gf.tif")}
    rgb8 = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    d = image_folder / "train" / "class0"
    Image.fromarray(gray8["g16.png"].astype(np.uint16) * 257).save(d / "g16.png")  # opens as I;16
    Image.fromarray(gray8["g32.tif"].astype(np.int32) * 257).save(d / "g32.tif")  # opens as I, up to 65535
    Image.fromarray(gray8["gf.tif"].astype(np.float32) / 255).save(d / "gf.tif")  # opens as F, in [0, 1]
    _png16_rgb(d / "rgb16.png", rgb8.astype(np.uint16) * 257)
    assert [Image.open(d / n).mode for n in ("g16.png", "g32.tif", "gf.tif")] == ["I;16", "I", "F"]

    result = index_folder(image_folder)
    reasons = dict(zip(result.report.path, result.report.reason))
    assert reasons["train/class0/g16.png"].startswith("mode I;16: 16-bit values scaled to 8 bits (value / 257)")
    assert "taken as 16-bit and scaled" in reasons["train/class0/g32.tif"]
    assert "float values in [0, 1] scaled" in reasons["train/class0/gf.tif"]
    cache = image_folder.parent / "cache.npy"
    build_cache(result.index, image_folder, 16, cache)
    arr = load_cache(cache)
    rows = result.index.path.tolist()
    for name in ("g16.png", "g32.tif", "gf.tif"):
        got = arr[rows.index(f"train/class0/{name}")]
        for channel in range(3):  # the same values, not clipped to {0, 255}
            assert np.array_equal(got[..., channel], gray8[name]), name
    assert np.array_equal(arr[rows.index("train/class0/rgb16.png")], rgb8)  # 16-bit RGB PNG, scaled by Pillow


def test_exif_orientation_is_applied_and_reported(image_folder):
    """A photo stored sideways with EXIF orientation 6 is trained on upright, and the data report says so."""
    stored = np.zeros((32, 64, 3), np.uint8)  # 64 wide, 32 high: left half black, right half white
    stored[:, 32:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the stored left half is the top
    d = image_folder / "train" / "class0"
    Image.fromarray(stored).save(d / "sideways.jpg", exif=exif, quality=95)
    Image.fromarray(255 - stored).save(d / "plain.jpg", quality=95)  # another picture, no tag

    result = index_folder(image_folder)
    reasons = dict(zip(result.report.path, result.report.reason))
    assert reasons["train/class0/sideways.jpg"] == "turned upright by its EXIF orientation tag (6: rotated 90° clockwise)"
    assert "train/class0/plain.jpg" not in reasons  # an RGB image without the tag is not touched
    row = result.index.set_index("path").loc["train/class0/sideways.jpg"]
    assert (row.width, row.height) == (32, 64)
    from proxy_attention.data.index import load_rgb
    upright = np.asarray(load_rgb(d / "sideways.jpg"), dtype=float).mean(axis=(1, 2))
    assert upright[:28].max() < 40 and upright[36:].min() > 215  # black on top, white below
