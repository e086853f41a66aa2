"""Two Snakemake runs at once in one directory: the second stops with a message, no stale lock.

profiles/default sets nolock (Snakemake's own lock outlives a SIGKILL); without a lock two
runs started at once ran the same jobs and one ended with "Logfile not found".
"""

import os
import signal
import subprocess
import sys

from conftest import REPO, TINY

HOLD = ("import sys, time; from proxy_attention.runlock import take_run_lock; take_run_lock(sys.argv[1]); "
        "print('locked', flush=True); time.sleep(120)")


def hold_lock(workdir):
    """A process that holds workdir/results/.lock as a running workflow does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(workdir / "results" / ".lock")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def take(workdir):
    return subprocess.run([sys.executable, "-c", "import sys; from proxy_attention.runlock import take_run_lock; "
                           "take_run_lock(sys.argv[1])", str(workdir / "results" / ".lock")],
                          capture_output=True, text=True)


def test_the_lock_is_refused_while_held_and_free_after_a_sigkill(tmp_path):
    holder = hold_lock(tmp_path)
    try:
        second = take(tmp_path)
        assert second.returncode != 0
        assert "another Snakemake run is already running" in second.stderr
        assert f"pid {holder.pid}" in second.stderr  # names the run that holds it
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert take(tmp_path).returncode == 0  # no stale lock: no --unlock needed


def test_a_second_workflow_run_stops_before_any_job_but_a_dry_run_does_not(tmp_path):
    work = tmp_path / "work"
    holder = hold_lock(work)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(TINY), "--cores", "1", "results/data/digits/split.csv"]
    try:
        dry = subprocess.run(cmd + ["-n"], capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr[-2000:]
        run = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert run.returncode != 0
    assert "another Snakemake run is already running" in run.stdout + run.stderr
    assert not (work / "resources" / "datasets" / "digits").exists()  # no job ran
