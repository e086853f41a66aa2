"""An edited ``type: folder`` dataset is re-indexed (and only it); a dry run shows what would rerun."""

import re

import pandas as pd
import pytest
from conftest import write_colour_classes
from PIL import Image
from test_workflow_datasets import base_config, snakemake

pytestmark = pytest.mark.slow


def scheduled(proc) -> set[tuple[str, str]]:
    """(rule, dataset) of every job a dry run lists."""
    out = proc.stdout + proc.stderr
    return set(re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: dataset=([\w-]+)", out))


def test_editing_a_folder_dataset_reindexes_it_and_only_it(tmp_path):
    for name in ("mine", "other"):
        write_colour_classes(tmp_path / name / "train", per_class=4, noise=60, strength=0.7)
    work = tmp_path / "work"
    work.mkdir()
    config = base_config({n: {"type": "folder", "path": str(tmp_path / n)} for n in ("mine", "other")})
    targets = [f"results/data/{n}/split.csv" for n in ("mine", "other")]
    snakemake(work, config, *targets)
    assert "Nothing to be done" in (p := snakemake(work, config, "-n", *targets)).stdout + p.stderr

    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "mine/train/class1/new.png")  # an image added
    jobs = scheduled(snakemake(work, config, "-n", *targets))
    assert {("prepare_dataset", "mine"), ("index_dataset", "mine"), ("split_dataset", "mine")} <= jobs
    assert not [j for j in jobs if j[1] == "other"]

    snakemake(work, config, *targets)
    assert "train/class1/new.png" in set(pd.read_csv(work / "results/data/mine/index.csv").path)
    (tmp_path / "mine/train/class0/img2.png").unlink()  # an image deleted
    assert ("index_dataset", "mine") in scheduled(snakemake(work, config, "-n", *targets))
    snakemake(work, config, *targets)
    index = pd.read_csv(work / "results/data/mine/index.csv")
    assert "train/class0/img2.png" not in set(index.path) and len(index) == 12
    assert len(list((tmp_path / "mine/train").rglob("*.png"))) == 12  # re-linking never touched the user's files
    assert "Nothing to be done" in (p := snakemake(work, config, "-n", *targets)).stdout + p.stderr
