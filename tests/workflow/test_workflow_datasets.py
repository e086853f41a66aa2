"""The real Snakemake rules (download -> prepare_dataset -> index -> split) against a loopback mirror."""

import hashlib
import shutil
import subprocess
import sys

import fake_datasets
import pandas as pd
import pytest
import yaml
from conftest import REPO
from loopback import LoopbackServer

pytestmark = pytest.mark.slow

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def snakemake(workdir, config: dict, *targets, check=True):
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = SNAKEMAKE + ["--directory", str(workdir), "--configfile", str(cfg), "--cores", "2", *targets]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def base_config(datasets: dict) -> dict:
    return {"datasets": datasets, "models": ["resnet10t"], "folds": 2, "schedules": [[1]], "img_size": 16}


def test_published_dataset_through_the_workflow_downloads_once(tmp_path):
    archives, expected = fake_datasets.food101()
    data = archives["food-101.tar.gz"]
    with LoopbackServer() as server:
        server.files["/mirror/food-101.tar.gz"] = data
        server.faults["/mirror/food-101.tar.gz"] = ["truncate"]  # the first transfer breaks off
        config = base_config({"food101": {
            "source": server.url("/mirror/food-101.tar.gz"),
            "checksum": "sha256:" + hashlib.sha256(data).hexdigest(),
        }})
        targets = ["results/data/food101/split.csv", "results/data/food101/class_counts.csv"]
        snakemake(tmp_path, config, *targets)
        assert server.requests == ["/mirror/food-101.tar.gz"] * 2  # retried once, then whole

        archive = tmp_path / "resources/downloads/food101/food-101.tar.gz"
        assert archive.read_bytes() == data
        assert "ended after" in (tmp_path / "results/logs/download/food101/food-101.tar.gz.log").read_text()
        split = pd.read_csv(tmp_path / "results/data/food101/split.csv")
        assert (split.split == "test").sum() == sum(expected["test"].values())  # the official test split
        assert set(split.loc[split.split == "test", "source_split"]) == {"test"}
        counts = pd.read_csv(tmp_path / "results/data/food101/class_counts.csv")
        assert counts.set_index(["part", "label"]).kept.to_dict() == {
            (part, cls): n for part, classes in expected.items() for cls, n in classes.items()}

        second = snakemake(tmp_path, config, *targets)
        assert "Nothing to be done" in second.stdout + second.stderr
        # a re-extraction (the converted folder and the index deleted) reads the cached archive
        shutil.rmtree(tmp_path / "resources/datasets/food101")
        shutil.rmtree(tmp_path / "results/data/food101")
        snakemake(tmp_path, config, *targets)
        assert len(server.requests) == 2
        assert (tmp_path / "resources/datasets/food101/test/baklava").is_dir()

        # a smaller subset (max_per_class) re-indexes without fetching or extracting again
        config["datasets"]["food101"]["max_per_class"] = 2
        snakemake(tmp_path, config, *targets)
        counts = pd.read_csv(tmp_path / "results/data/food101/class_counts.csv")
        assert counts.kept.tolist() == [2] * 6 and counts.left_out.sum() == 3
        assert len(server.requests) == 2


def test_wrong_checksum_stops_the_workflow_and_keeps_nothing(tmp_path):
    archives, _ = fake_datasets.imagenette()
    data = archives["imagenette2-160.tgz"]
    with LoopbackServer() as server:
        server.files["/imagenette2-160.tgz"] = data
        url = server.url("/imagenette2-160.tgz")
        config = base_config({"imagenette": {"source": url}})  # the published checksum still applies
        proc = snakemake(tmp_path, config, "results/data/imagenette/index.csv", check=False)
    assert proc.returncode != 0
    log = (tmp_path / "results/logs/download/imagenette/imagenette2-160.tgz.log").read_text()
    actual = hashlib.sha256(data).hexdigest()
    assert f"expected sha256:88daccb09b6fce93f45e6c09ddeb269cce705549e6bff322092a2a5a11489863, got sha256:{actual}" in log
    assert "dataset 'imagenette'" in log and url in log
    folder = tmp_path / "resources/downloads/imagenette"
    assert not folder.exists() or list(folder.iterdir()) == []
    assert not (tmp_path / "resources/datasets/imagenette").exists()


def test_resized_imagenette_from_a_local_mirror(tmp_path):
    """The documented real-data set-up (config/imagenette.yaml), on a tiny archive of the same layout."""
    archives, expected = fake_datasets.imagenette("224")
    mirror = tmp_path / "mirror" / "imagenette2-224.tgz"
    mirror.parent.mkdir()
    mirror.write_bytes(archives["imagenette2-224.tgz"])
    mirror.chmod(0o444)
    work = tmp_path / "work"
    work.mkdir()
    config = base_config({"imagenette": {
        "size": 224, "source": "../mirror/imagenette2-224.tgz",  # relative to the working directory
        "checksum": "sha256:" + hashlib.sha256(mirror.read_bytes()).hexdigest()}})
    snakemake(work, config, "results/data/imagenette/split.csv")
    link = work / "resources/downloads/imagenette/imagenette2-224.tgz"
    assert link.is_symlink() and link.resolve() == mirror
    index = pd.read_csv(work / "results/data/imagenette/index.csv")
    counts = index.groupby(["source_split", "label"]).size().to_dict()
    assert counts == {(p, c): n for p, classes in expected.items() for c, n in classes.items()}
    assert set(index.label) == {"tench", "English springer", "parachute"}


def test_kaggle_archive_put_in_place_by_hand_is_used(tmp_path):
    """ASL: no Kaggle API here; the zip placed where the error message says is taken as it is."""
    archives, expected = fake_datasets.asl_alphabet()
    place = tmp_path / "resources/downloads/asl_alphabet/asl-alphabet.zip"
    place.parent.mkdir(parents=True)
    place.write_bytes(archives["asl-alphabet.zip"])
    config = base_config({"asl_alphabet": {"official_test": False}})
    proc = snakemake(tmp_path, config, "results/data/asl_alphabet/split.csv")
    jobs = (proc.stdout + proc.stderr).split("Job stats:")[1].split("Select jobs")[0]
    assert "prepare_dataset" in jobs and "download" not in jobs
    split = pd.read_csv(tmp_path / "results/data/asl_alphabet/split.csv")
    assert len(split) == sum(n for part in expected.values() for n in part.values())
    assert set(split.source_split) == {"train"} and (split.split == "test").sum() > 0  # drawn, not official
    log = (tmp_path / "results/logs/prepare_dataset/asl_alphabet.log").read_text()
    assert "no published checksum" in log and "sha256:" in log
