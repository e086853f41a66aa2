"""Indexing finds bad data, converts odd colour modes and reports what it skipped."""

import shutil

import numpy as np
import pytest
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
