"""The tiny grid on a real (one-node, local) SLURM cluster gives the local results.

The test starts a cluster with tools/slurm/start_local_cluster.sh (Debian's
slurm-wlm + munge, all traffic on 127.0.0.1), runs the workflow once with the
local executor and once through `--executor slurm`
(tools/slurm/run_tiny_grid.sh, profiles/slurm), and compares the numeric
result columns of results/summary/runs.csv.

It is skipped only when the cluster script says SLURM cannot be installed
(exit 3: apt-get failed) or that it needs root (exit 2).  Any other failure
fails the test.

Switch the workflow with WORKFLOWS below, or from the command line:
    SLURM_TEST_WORKFLOW=<dir with Snakefile> SLURM_TEST_CONFIG=<yaml> pytest tests/workflow/test_slurm.py
Set SLURM_TEST_KEEP_CLUSTER=1 to leave the cluster running afterwards.
Needs snakemake-executor-plugin-slurm in the Python that runs pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import slurm_env

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tools" / "slurm"

# (id, workflow folder with the Snakefile, config file).  In the repository the
# real one is (REPO, REPO / "tests/configs/tiny.yaml").
WORKFLOWS = [pytest.param(REPO, REPO / "tests" / "configs" / "tiny.yaml", id="repo-tiny")]
if os.environ.get("SLURM_TEST_WORKFLOW"):
    WORKFLOWS = [
        pytest.param(
            Path(os.environ["SLURM_TEST_WORKFLOW"]).resolve(),
            Path(os.environ["SLURM_TEST_CONFIG"]).resolve(),
            id="env",
        )
    ]

SUMMARY = Path("results") / "summary" / "runs.csv"
TINY = REPO / "tests" / "configs" / "tiny.yaml"
VALUE_COLUMNS = ("test_acc", "val_acc")
# columns that legitimately differ between two runs: never keys, never compared
VOLATILE = re.compile(
    r"(wall|time|duration|seconds|_s$|date|started|finished|host|node|slurm|cuda|pid)",
    re.IGNORECASE,
)
RUN_TIMEOUT_S = int(os.environ.get("SLURM_TEST_TIMEOUT_S", "1800"))


def _snakemake_cmd() -> list[str]:
    return [sys.executable, "-m", "snakemake"]


def _run(cmd, *, timeout, env=None, log: Path | None = None):
    """``cmd`` with the machine's SLURM configuration (the other tests' Snakemake starts see none: conftest)."""
    t0 = time.monotonic()
    p = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
        env=slurm_env() if env is None else env,
    )
    dt = time.monotonic() - t0
    if log is not None:
        log.write_text(f"$ {' '.join(map(str, cmd))}\n# rc={p.returncode} {dt:.1f}s\n"
                       f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
    return p, dt


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running one-node SLURM cluster; stopped afterwards if this test started it."""
    was_running = bool(
        Path("/run/slurmctld.pid").is_file()
        and shutil.which("sinfo")
        and subprocess.run(["sinfo", "-h"], capture_output=True, env=slurm_env()).returncode == 0
    )
    p, dt = _run(["bash", SCRIPTS / "start_local_cluster.sh"], timeout=900)
    if p.returncode == 3:
        pytest.skip("slurm-wlm/munge cannot be installed: " + " | ".join(p.stderr.strip().splitlines()[-3:]))
    if p.returncode == 2:
        pytest.skip(f"the local SLURM cluster needs root: {p.stderr.strip()[-300:]}")
    assert p.returncode == 0, f"start_local_cluster.sh failed (rc={p.returncode}):\n{p.stderr}"
    print(f"local SLURM cluster up in {dt:.1f}s")
    yield
    if not was_running and not os.environ.get("SLURM_TEST_KEEP_CLUSTER"):
        subprocess.run(["bash", SCRIPTS / "stop_local_cluster.sh"], capture_output=True, env=slurm_env())


@pytest.fixture(scope="session")
def slurm_plugin():
    pytest.importorskip(
        "snakemake_executor_plugin_slurm",
        reason="pip install snakemake-executor-plugin-slurm",
    )


# ------------------------------------------------------------------- helpers


def run_local(workflow: Path, configfile: Path, outdir: Path, cores: int = 2):
    """The workflow with Snakemake's local executor; returns the run's wall seconds."""
    p, dt = _run(
        _snakemake_cmd()
        + ["--snakefile", workflow / "Snakefile", "--directory", outdir,
           "--configfile", configfile, "--cores", cores, "--retries", 0],
        timeout=RUN_TIMEOUT_S,
        log=outdir.parent / f"{outdir.name}.log",
    )
    assert p.returncode == 0, f"local run failed:\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}"
    return dt


def run_slurm(workflow: Path, configfile: Path, outdir: Path, jobs: int = 2):
    """The workflow through `--executor slurm` (tools/slurm/run_tiny_grid.sh)."""
    # poll every 2 s: the local cluster answers at once, and Snakemake's 10 s made this test 10 minutes long
    env = slurm_env(SNAKEMAKE=" ".join(_snakemake_cmd()), SLURM_JOBS=str(jobs),
                    SLURM_STATUS_INIT_S=os.environ.get("SLURM_STATUS_INIT_S", "2"),
                    SLURM_STATUS_EVERY_S=os.environ.get("SLURM_STATUS_EVERY_S", "2"))
    p, dt = _run(
        ["bash", SCRIPTS / "run_tiny_grid.sh", workflow, configfile, outdir, "--retries", 0],
        timeout=RUN_TIMEOUT_S,
        env=env,
        log=outdir.parent / f"{outdir.name}.log",
    )
    assert p.returncode == 0, f"SLURM run failed:\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}"
    return dt, p.stderr + p.stdout


def compare_runs(a_csv: Path, b_csv: Path, value_columns=VALUE_COLUMNS, atol=1e-9):
    """Same rows (by key columns) and the same values in ``value_columns``.

    Key columns: every column that is neither a value column nor volatile
    (wall time, job ids, host names, ...).
    """
    import numpy as np
    import pandas as pd

    a, b = pd.read_csv(a_csv), pd.read_csv(b_csv)
    assert list(a.columns) == list(b.columns), (list(a.columns), list(b.columns))
    missing = [c for c in value_columns if c not in a.columns]
    assert not missing, f"{a_csv} lacks {missing}"
    keys = [c for c in a.columns if c not in value_columns and not VOLATILE.search(c)]
    assert len(a) == len(b) > 0, (len(a), len(b))
    if keys:
        a = a.sort_values(keys, kind="stable").reset_index(drop=True)
        b = b.sort_values(keys, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(a[keys], b[keys], check_dtype=False)
    for c in value_columns:
        x, y = a[c].to_numpy(dtype=float), b[c].to_numpy(dtype=float)
        bad = ~np.isclose(x, y, rtol=0, atol=atol, equal_nan=True)
        assert not bad.any(), f"{c} differs:\n{pd.concat([a[keys], a[c], b[c]], axis=1)[bad]}"


# --------------------------------------------------------------------- tests


@pytest.mark.parametrize("workflow,configfile", WORKFLOWS)
def test_tiny_grid_slurm_matches_local(slurm_cluster, slurm_plugin, request, tmp_path, workflow, configfile):
    assert (workflow / "Snakefile").is_file(), workflow
    assert configfile.is_file(), configfile

    if configfile != TINY:
        local = tmp_path / "local"
        run_local(workflow, configfile, local)
    t_slurm, log = run_slurm(workflow, configfile, tmp_path / "slurm")
    print(f"SLURM run {t_slurm:.1f}s")
    if configfile == TINY:
        # the end-to-end tests' local run of the same config, asked for only now: another worker
        # builds it while this one runs the grid through SLURM
        local = request.getfixturevalue("tiny_run_built")

    # the jobs really went through SLURM; tables and figures ran beside Snakemake (localrule: True)
    assert "has been submitted with SLURM jobid" in log
    assert re.search(r"^rule train_round0:", log, re.M), "training was not a SLURM job"
    assert re.search(r"^localrule aggregate:", log, re.M) and re.search(r"^localrule plot_heatmap:", log, re.M), \
        "tables and figures were submitted to SLURM"
    # a cluster job runs in its own interpreter inside its allocation, never in a local warm worker
    job_logs = list((tmp_path / "slurm/results/logs").rglob("*.log"))
    assert job_logs and not any("warm worker" in p.read_text() for p in job_logs)
    assert not (tmp_path / "slurm/results/logs/warm_worker.log").exists()
    compare_runs(local / SUMMARY, tmp_path / "slurm" / SUMMARY)
