"""An edited ``type: folder`` dataset is re-indexed (and only it); a dry run shows what would rerun."""

import hashlib
import re
from pathlib import Path

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


def contents(folder: Path) -> dict[str, tuple]:
    """Every file and folder under ``folder``: a file's bytes (sha256) and modification time, a folder as such."""
    return {p.relative_to(folder).as_posix(): ("folder",) if p.is_dir() and not p.is_symlink()
            else (hashlib.sha256(p.read_bytes()).hexdigest(), p.lstat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def test_editing_a_folder_dataset_reindexes_it_and_only_it(tmp_path):
    names = ("mine", "other")
    for name in names:
        write_colour_classes(tmp_path / name / "train", per_class=4, noise=60, strength=0.7)
    work = tmp_path / "work"
    work.mkdir()
    config = base_config({n: {"type": "folder", "path": str(tmp_path / n)} for n in names})
    targets = [f"results/data/{n}/split.csv" for n in names]
    users = {}  # the user's folders as the user left them: no run may add, remove, rewrite or touch a file

    def run(*args):
        """A run (or dry run) of the targets; afterwards the user's folders are byte for byte as they were."""
        proc = snakemake(work, config, *args, *targets)
        for n in names:
            assert contents(tmp_path / n) == users[n], f"a run changed the user's folder {n}"
        return proc

    def user_edits():
        users.update({n: contents(tmp_path / n) for n in names})

    user_edits()
    run()
    assert "Nothing to be done" in (p := run("-n")).stdout + p.stderr

    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "mine/train/class1/new.png")  # an image added
    user_edits()
    jobs = scheduled(run("-n"))
    assert {("prepare_dataset", "mine"), ("index_dataset", "mine"), ("split_dataset", "mine")} <= jobs
    assert not [j for j in jobs if j[1] == "other"]

    run()
    assert "train/class1/new.png" in set(pd.read_csv(work / "results/data/mine/index.csv").path)
    (tmp_path / "mine/train/class0/img2.png").unlink()  # an image deleted
    user_edits()
    assert ("index_dataset", "mine") in scheduled(run("-n"))
    run()
    index = pd.read_csv(work / "results/data/mine/index.csv")
    assert "train/class0/img2.png" not in set(index.path) and len(index) == 12
    assert "Nothing to be done" in (p := run("-n")).stdout + p.stderr
