"""The config's model check is remembered once passed, so a Snakemake start needs no torch or timm."""

import copy
import json
import logging
import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from proxy_attention import modelcheck
from proxy_attention.errors import ConfigError

DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PROXY_ATTENTION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / modelcheck.RECORD


@pytest.fixture
def calls(monkeypatch):
    """How often the real build check runs, by model name."""
    seen = []
    real = modelcheck.check_model_at_size

    def counting(config, name):
        seen.append(name)
        return real(config, name)

    monkeypatch.setattr(modelcheck, "check_model_at_size", counting)
    return seen


def test_a_passed_check_runs_once_and_a_changed_input_runs_again(cache, calls, monkeypatch):
    config = copy.deepcopy(DEFAULT)
    modelcheck.check_models(config)
    modelcheck.check_models(config)
    assert calls == ["resnet18"]
    assert [e["model"] for e in json.loads(cache.read_text()).values()] == ["resnet18"]
    for change in ({"img_size": 64}, {"cam_target_layer": {"resnet18": "layer2"}},
                   {"model_kwargs": {"resnet18": {"drop_rate": 0.1}}}):
        modelcheck.check_models({**config, **change})
    assert calls == ["resnet18"] * 4
    monkeypatch.setattr(modelcheck, "package_version", lambda package: "9.9.9")  # another timm and torch
    modelcheck.check_models(config)
    assert calls == ["resnet18"] * 5


def test_a_failed_check_is_not_remembered(cache):
    config = {**copy.deepcopy(DEFAULT), "models": ["resnet18x"]}
    for _ in range(2):
        with pytest.raises(ConfigError, match="'resnet18x' is not a timm model"):
            modelcheck.check_models(config)
    assert not cache.exists()


def test_a_remembered_warning_is_logged_again(cache, calls, caplog):
    config = {**copy.deepcopy(DEFAULT), "cam_target_layer": {"resnet18": "layer4"}}  # 1x1 at 32 px
    for _ in range(2):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            modelcheck.check_models(config)
        assert "'layer4' has a 1x1 feature map at img_size 32" in caplog.text
    assert calls == ["resnet18"]


def test_an_unwritable_or_damaged_record_only_costs_the_check(tmp_path, monkeypatch, calls):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PROXY_ATTENTION_CACHE", str(blocker / "cache"))
    config = copy.deepcopy(DEFAULT)
    modelcheck.check_models(config)
    modelcheck.check_models(config)
    assert calls == ["resnet18"] * 2
    monkeypatch.setenv("PROXY_ATTENTION_CACHE", str(tmp_path / "ok"))
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / modelcheck.RECORD).write_text("{not json")
    modelcheck.check_models(config)
    assert calls == ["resnet18"] * 3


def test_a_remembered_check_loads_no_torch(cache):
    # the point of it: a second Snakemake start checks the config without importing torch or timm
    probe = (
        "import sys, copy, yaml\n"
        "from proxy_attention.config import check_config\n"
        f"config = yaml.safe_load(open({str(REPO / 'config' / 'config.yaml')!r}))\n"
        "check_config(config)\n"
        "print(' '.join(m for m in ('torch', 'timm') if m in sys.modules))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    first, second = (subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env,
                                    check=True).stdout.split() for _ in range(2))
    assert first == ["torch", "timm"] and second == []


def test_the_remembered_check_covers_its_code_and_not_the_labels(tmp_path):
    # editing a label (or config.py's other checks) must not run every model check again; editing the check must
    package = REPO / "src" / "proxy_attention"
    for name in ("modelcheck.py", "models.py", "config.py", "labels.py"):
        (tmp_path / name).write_bytes((package / name).read_bytes())
    before = modelcheck._code_hash(tmp_path)
    for name in ("labels.py", "config.py"):
        with open(tmp_path / name, "a") as f:
            f.write("\n# an edited label\n")
        assert modelcheck._code_hash(tmp_path) == before, name
    for name in ("modelcheck.py", "models.py"):
        with open(tmp_path / name, "a") as f:
            f.write("\n# an edited check\n")
        assert modelcheck._code_hash(tmp_path) != before, name
        before = modelcheck._code_hash(tmp_path)
    assert modelcheck._code_hash() == modelcheck._code_hash(package)
