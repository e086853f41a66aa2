"""Config mistakes caught when the workflow loads, not hours later in a job."""

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from snakemake.utils import validate

from proxy_attention.config import coerce_numbers

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def loaded(text: str) -> dict:
    """The default config with ``text`` (YAML) merged into its top level, as PyYAML reads it."""
    config = copy.deepcopy(DEFAULT)
    config.update(yaml.safe_load(text))
    return config


# --- 12: `lr: 1e-3` is a string to PyYAML ---

def test_yaml_reads_exponents_without_a_dot_as_strings():
    assert yaml.safe_load("lr: 1e-3") == {"lr": "1e-3"}  # the fault: YAML 1.1


def test_numeric_strings_of_number_keys_become_numbers():
    config = loaded("training: {lr: 1e-3, weight_decay: 5e-5, min_lr: 1E-7}\n"
                    "test_fraction: 2e-1\nproxy: {proxy_threshold: [5e-1, 0.7], cam_method: [gradcam]}\n"
                    "folds: 3e0\nmodels: ['1e3']")
    coerce_numbers(config, SCHEMA)
    validate(config, str(SCHEMA_PATH))
    assert config["training"]["lr"] == 0.001 and config["training"]["weight_decay"] == 5e-5
    assert config["training"]["min_lr"] == 1e-7 and config["test_fraction"] == 0.2
    assert config["proxy"]["proxy_threshold"] == [0.5, 0.7]
    assert config["folds"] == 3 and isinstance(config["folds"], int)
    assert config["models"] == ["1e3"]  # a string key stays a string


def test_the_workflow_accepts_lr_1e_3(tmp_path):
    text = (REPO / "tests/configs/tiny.yaml").read_text().replace("training:\n", "training:\n  lr: 1e-3\n")
    assert "lr: 1e-3" in text
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path / "w"), "--configfile", str(cfg), "--cores", "1", "-n", "--quiet", "all"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
