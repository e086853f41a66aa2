"""What a user installs: the lock (constraints.txt), the conda env and pyproject.toml agree, and every
job imports the checkout's own package, wherever Snakemake keeps its copy of the env file."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return out


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirements() -> list[Requirement]:
    return [Requirement(r) for r in project()["dependencies"] + project()["optional-dependencies"]["test"]]


def env_pip() -> list[str]:
    env = yaml.safe_load((REPO / "envs" / "proxy-attention.yaml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)


def test_lock_pins_every_dependency_within_pyproject_bounds():
    lock = pins((REPO / "constraints.txt").read_text().splitlines())
    for req in requirements():
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in lock, f"constraints.txt does not pin {req.name}"
        assert req.specifier.contains(lock[name]), f"constraints.txt pins {name}=={lock[name]}, outside {req}"


def test_conda_env_pins_the_lock_and_installs_no_local_path():
    lock = pins((REPO / "constraints.txt").read_text().splitlines())
    pip = env_pip()
    env = pins(pip)
    test_only = {Requirement(r).name for r in project()["optional-dependencies"]["test"]}  # not in the jobs' env
    runtime = [r for r in requirements() if r.name not in test_only]
    for req in runtime:
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert env.get(name) == lock[name], f"envs/proxy-attention.yaml: {name} {env.get(name)} != lock {lock[name]}"
    # a relative path (-e ../) points nowhere once Snakemake copies the file into .snakemake/conda/
    assert not [p for p in pip if p.startswith(("-e", ".", "/", "file:")) or "../" in p], pip


@pytest.mark.slow
def test_jobs_import_the_package_beside_the_snakefile(tmp_path):
    """A copy of the workflow runs its own src/, not the pip-installed one: the Snakefile puts it first
    on PYTHONPATH for every job (the path a conda env made by --sdm conda finds the package by)."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("Snakefile", "workflow", "src", "config", "profiles", "envs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, copy / name)
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(copy / "Snakefile"), "--directory", str(work),
           "--configfile", str(REPO / "tests/configs/tiny.yaml"), "--cores", "1", "results/data/digits/index.csv"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (work / "results/logs/index_dataset/digits.log").read_text()
    assert f"from {(copy / 'src' / 'proxy_attention').resolve()}" in log, log[:2000]


def test_ci_refuses_to_start_on_a_nearly_full_disk(tmp_path):
    """.ci/run checks free space before it installs anything: on a disk without room it exits 1 at once,
    naming the folder and the space, and leaves nothing in $TMPDIR (stop 21's CI filled the disk mid-suite)."""
    proc = subprocess.run(["bash", str(REPO / ".ci" / "run")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CI_MIN_FREE_GB": "1000000", "TMPDIR": str(tmp_path)})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"not enough free disk in {tmp_path}" in proc.stderr
    assert "need about 1000000 GiB" in proc.stderr
    assert list(tmp_path.iterdir()) == []
