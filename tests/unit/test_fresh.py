"""proxy_attention.workers.fresh: a function called in a fresh interpreter (train_proxy's proxy step)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proxy_attention.workers.fresh import FreshCallError, call_fresh

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


@pytest.fixture
def importable(monkeypatch):
    """The fresh interpreter finds the targets beside this file (and the package under test)."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(SRC), os.environ.get("PYTHONPATH", "")]))


def test_a_fresh_interpreter_returns_the_result_and_logs_the_prints(importable, tmp_path):
    log = tmp_path / "job.log"
    result = call_fresh("fresh_targets:whoami", {"greeting": "hi"}, str(log), force=True)
    assert result["greeting"] == "hi"
    assert result["pid"] != os.getpid()
    assert result["torch_loaded"] is False  # nothing of this process came along
    assert "printed by the function" in log.read_text()


def test_in_place_where_torch_is_loaded(importable):
    import torch  # noqa: F401 -- a warm worker's fork has it

    result = call_fresh("fresh_targets:whoami", {"greeting": "hi"})
    assert result["pid"] == os.getpid()


def test_a_failure_names_the_function_and_leaves_its_traceback_in_the_log(importable, tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(FreshCallError, match=r"fresh_targets:fail failed .*exit status 1.*job\.log"):
        call_fresh("fresh_targets:fail", {"message": "the step broke"}, str(log), force=True)
    text = log.read_text()
    assert "Traceback" in text and "ValueError: the step broke" in text


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_fresh_interpreter_dies_with_its_parent(importable, tmp_path):
    """A job killed mid-step leaves no writer behind (PR_SET_PDEATHSIG)."""
    pid_file = tmp_path / "child.pid"
    code = ("from proxy_attention.workers.fresh import call_fresh; "
            f"call_fresh('fresh_targets:write_pid_and_sleep', {{'path': {str(pid_file)!r}, 'seconds': 60}}, force=True)")
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(600):
            if pid_file.exists() and pid_file.read_text():
                break
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        for _ in range(200):
            if not _alive(child):
                break
            time.sleep(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the fresh interpreter outlived its parent")
    finally:
        parent.kill()
