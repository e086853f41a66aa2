"""How the workflow reads its config: a --configfile replaces the built-in default (through
replace-workflow-config in profiles/default) instead of being merged into it."""

import subprocess
import sys

import yaml
from conftest import REPO


def dry_run(workdir, *args) -> str:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "1", "-n", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_configfile_replaces_the_default(tmp_path, image_folder):
    config = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    config["datasets"] = {"mydata": {"type": "folder", "path": str(image_folder)}}
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    out = dry_run(tmp_path / "work", "--configfile", str(path))
    assert "dataset=mydata" in out
    assert "digits" not in out  # the default's dataset does not join the grid
    assert "resnet18" not in out  # nor its model


def test_default_config_without_configfile(tmp_path):
    out = dry_run(REPO, "--forceall")  # the built-in config/config.yaml, read from the checkout
    assert "dataset=digits" in out and "model=resnet18" in out
