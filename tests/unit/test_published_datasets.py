"""Every published dataset: download from a loopback mirror, verify, convert to the common layout, index."""

import hashlib
from pathlib import Path

import fake_datasets
import pytest
from loopback import LoopbackServer

from proxy_attention.config import check_config
from proxy_attention.data.datasets import archive_paths, dataset_type, prepare_dataset
from proxy_attention.data.datasets.download import ChecksumError, fetch
from proxy_attention.data.datasets.registry import REGISTRY, remote_files
from proxy_attention.data.index import index_folder
from proxy_attention.errors import ConfigError, DataError

FAST = dict(retries=1, backoff=0.0, timeout=10)


def layout(root: Path) -> dict:
    return {
        part.name: {c.name: sum(1 for f in c.iterdir() if f.is_file()) for c in part.iterdir() if c.is_dir()}
        for part in root.iterdir() if part.is_dir() and part.name in ("train", "test")
    }


def mirror_options(server, name, archives) -> dict:
    """Options pointing a dataset at the loopback server, with the fake archives' checksums."""
    for filename, data in archives.items():
        server.files[f"/mirror/{name}/{filename}"] = data
    sums = {f: "sha256:" + hashlib.sha256(d).hexdigest() for f, d in archives.items()}
    if len(archives) == 1:
        (filename,) = archives
        return {"source": server.url(f"/mirror/{name}/{filename}"), "checksum": sums[filename]}
    return {"source": server.url(f"/mirror/{name}/"), "checksum": sums}


def download_all(name, options, workdir: Path) -> list[str]:
    paths = [str(workdir / p) for p in archive_paths(name, options)]
    for p in paths:
        fetch(name, options, Path(p).name, p, **FAST)
    return paths


@pytest.mark.parametrize("name", sorted(fake_datasets.BUILDERS))
def test_published_dataset_from_mirror_to_index(name, tmp_path):
    archives, expected = fake_datasets.BUILDERS[name]()
    with LoopbackServer() as server:
        options = mirror_options(server, name, archives)
        paths = download_all(name, options, tmp_path)
        assert sorted(server.requests) == sorted(f"/mirror/{name}/{f}" for f in archives)
        out = tmp_path / "resources" / "datasets" / name
        prepare_dataset(name, options, out, archives=paths)
    assert layout(out) == expected
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # no temporary folder left
    for p in paths:  # the archives are only read
        assert Path(p).read_bytes() == archives[Path(p).name]
    result = index_folder(out, threads=1)
    assert len(result.index) == sum(n for part in expected.values() for n in part.values())
    assert set(result.index.source_split) == set(expected)
    assert result.report.empty


def test_cifar_pixels_and_labels_survive_the_conversion(tmp_path):
    import pickle

    import numpy as np
    from PIL import Image

    archives, _ = fake_datasets.cifar100()
    path = tmp_path / "cifar-100-python.tar.gz"
    path.write_bytes(archives[path.name])
    out = tmp_path / "cifar"
    prepare_dataset("cifar100", {"checksum": "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()}, out, [path])
    import tarfile

    with tarfile.open(path) as tf:
        test = pickle.loads(tf.extractfile("cifar-100-python/test").read(), encoding="latin1")
    i = 3
    img = np.asarray(Image.open(out / "test" / "aquarium_fish" / test["filenames"][i]))
    assert test["fine_labels"][i] == 1
    assert np.array_equal(img, test["data"][i].reshape(3, 32, 32).transpose(1, 2, 0))


def test_plant_village_background_class_is_optional(tmp_path):
    archives, expected = fake_datasets.plant_village()
    (filename, data), = archives.items()
    path = tmp_path / filename
    path.write_bytes(data)
    opts = {"checksum": "sha256:" + hashlib.sha256(data).hexdigest(), "background": True}
    prepare_dataset("plant_village", opts, tmp_path / "pv", [path])
    assert layout(tmp_path / "pv")["train"] == {**expected["train"], "Background_without_leaves": 4}


def test_imagenette_sizes_and_a_resized_mirror(tmp_path):
    assert remote_files("imagenette", {})[0].url == "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"
    assert remote_files("imagenette", {"size": 320})[0].filename == "imagenette2-320.tgz"
    assert remote_files("imagenette", {"size": "full"})[0].checksum.startswith("sha256:de32de18")
    with pytest.raises(DataError, match="size 224|no official download"):
        dataset_type("imagenette", {"size": 224})
    archives, expected = fake_datasets.imagenette("224")
    (filename, data), = archives.items()
    mirror = tmp_path / filename
    mirror.write_bytes(data)
    opts = {"size": 224, "source": str(mirror), "checksum": "sha256:" + hashlib.sha256(data).hexdigest()}
    paths = download_all("imagenette", opts, tmp_path)
    assert paths == [str(tmp_path / "resources/downloads/imagenette/imagenette2-224.tgz")]
    prepare_dataset("imagenette", opts, tmp_path / "ds", paths)
    assert layout(tmp_path / "ds") == expected


def test_corrupt_or_truncated_archive_fails_clearly_and_writes_nothing(tmp_path):
    archives, _ = fake_datasets.asl_alphabet()  # Kaggle publishes no checksum, so only extraction can tell
    data = archives["asl-alphabet.zip"]
    truncated = tmp_path / "dl" / "asl-alphabet.zip"
    truncated.parent.mkdir()
    truncated.write_bytes(data[: len(data) // 2])
    out = tmp_path / "datasets" / "asl_alphabet"
    with pytest.raises(DataError, match=r"'asl_alphabet': archive .*asl-alphabet.zip is truncated or corrupt"):
        prepare_dataset("asl_alphabet", {}, out, [truncated])
    assert not out.parent.exists() or list(out.parent.iterdir()) == []

    archives, _ = fake_datasets.food101()
    tgz = tmp_path / "dl" / "food-101.tar.gz"
    tgz.write_bytes(archives["food-101.tar.gz"][:-2000])
    out = tmp_path / "datasets" / "food101"
    with pytest.raises(DataError, match="truncated or corrupt"):
        prepare_dataset("food101", {"checksum": "sha256:" + hashlib.sha256(tgz.read_bytes()).hexdigest()}, out, [tgz])
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_archive_with_the_wrong_checksum_is_not_extracted(tmp_path):
    archives, _ = fake_datasets.food101()
    tgz = tmp_path / "food-101.tar.gz"
    tgz.write_bytes(archives["food-101.tar.gz"])  # not the real 5 GB file: the published checksum fails
    with pytest.raises(ChecksumError, match="'food101'.*expected sha256:d97d15e4"):
        prepare_dataset("food101", {}, tmp_path / "ds", [tgz])
    assert not (tmp_path / "ds").exists()


def test_registry_names_and_options_are_checked_before_any_job():
    base = {"schedules": [[1]], "run_folds": "all", "folds": 2, "models": []}
    for name in REGISTRY:
        check_config({**base, "datasets": {name: {}}}, check_models=False)
    bad = [
        ({"imagenette": {"size": 224}}, "source"),
        ({"cifar100": {"colour": "red"}}, "no option"),
        ({"dogs": {"type": "stanford_dogs", "checksum": "md5:" + "0" * 32}}, "must map each file name"),
        ({"food101": {"checksum": "sha256:abc"}}, "not of the form"),
        ({"food101": {"source": {"food.tgz": "/x"}}}, "unknown files"),
        ({"mnist": {}}, "not known"),
    ]
    for datasets, message in bad:
        with pytest.raises(ConfigError, match=message):
            check_config({**base, "datasets": datasets}, check_models=False)
