"""Locking logic of proxy_attention.devices with a fake GPU count (no GPU needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from proxy_attention import devices as gpu

# A child process: claims GPUs, prints "<indices>|<CUDA_VISIBLE_DEVICES>", then
# holds the claim until its stdin is closed.
CHILD = textwrap.dedent(
    """
    import os, sys
    from proxy_attention.devices import claim_gpus
    idx = claim_gpus(int(sys.argv[1]), sys.argv[2], n_available=int(sys.argv[3]),
                     timeout=float(sys.argv[4]), poll=0.05)
    print(f"{idx}|{os.environ.get('CUDA_VISIBLE_DEVICES')}", flush=True)
    sys.stdin.read()
    """
)


def _env():
    env = dict(os.environ)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.pop(gpu.ENV_NUM_GPUS, None)
    env.pop(gpu.ENV_GPU_POOL, None)
    return env


def _start(n_req, lock_dir, n_gpus, timeout=5.0):
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(n_req), str(lock_dir), str(n_gpus), str(timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    return p


def _claimed(p):
    line = p.stdout.readline().strip()
    if not line:
        p.wait(timeout=30)
        raise AssertionError(f"child failed: {p.stderr.read()}")
    idx, cvd = line.split("|")
    return idx, cvd


def _finish(p):
    p.stdin.close()
    p.wait(timeout=30)


@pytest.fixture(autouse=True)
def _clean_env():
    saved = dict(os.environ)
    for k in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", gpu.ENV_NUM_GPUS, gpu.ENV_GPU_POOL):
        os.environ.pop(k, None)
    yield
    gpu.release_gpus()
    os.environ.clear()
    os.environ.update(saved)


def test_two_processes_get_different_gpus(tmp_path):
    a = _start(1, tmp_path, 2)
    ia, cva = _claimed(a)
    b = _start(1, tmp_path, 2)
    ib, cvb = _claimed(b)
    try:
        assert {ia, ib} == {"[0]", "[1]"}
        assert {cva, cvb} == {"0", "1"}
    finally:
        _finish(a)
        _finish(b)


def test_lock_released_when_process_exits(tmp_path):
    a = _start(1, tmp_path, 2)
    b = _start(1, tmp_path, 2)
    _claimed(a), _claimed(b)
    a.kill()  # even a hard kill drops the flock
    a.wait(timeout=30)
    c = _start(1, tmp_path, 2, timeout=10)
    try:
        ic, _ = _claimed(c)
        assert ic in {"[0]", "[1]"}
    finally:
        _finish(b)
        _finish(c)


def test_waits_then_times_out_when_all_busy(tmp_path):
    a = _start(1, tmp_path, 2)
    b = _start(1, tmp_path, 2)
    _claimed(a), _claimed(b)
    try:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            gpu.claim_gpus(1, tmp_path, n_available=2, timeout=0.5, poll=0.05)
        assert time.monotonic() - t0 >= 0.5
        assert "CUDA_VISIBLE_DEVICES" not in os.environ
    finally:
        _finish(a)
        _finish(b)


def test_waiting_process_gets_gpu_once_freed(tmp_path):
    a = _start(1, tmp_path, 2)
    b = _start(1, tmp_path, 2)
    ia, _ = _claimed(a)
    _claimed(b)
    c = _start(1, tmp_path, 2, timeout=20)  # waits
    time.sleep(0.5)
    _finish(a)
    try:
        ic, _ = _claimed(c)
        assert ic == ia
    finally:
        _finish(b)
        _finish(c)


def test_multi_gpu_claim(tmp_path):
    a = _start(2, tmp_path, 4)
    b = _start(2, tmp_path, 4)
    try:
        ia, cva = _claimed(a)
        ib, cvb = _claimed(b)
        ga, gb = set(cva.split(",")), set(cvb.split(","))
        assert len(ga) == len(gb) == 2 and not ga & gb
    finally:
        _finish(a)
        _finish(b)


def test_in_process_claim_sets_env(tmp_path):
    assert gpu.claim_gpu(1, tmp_path, n_available=3) == 0
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert (tmp_path / "gpu0.lock").read_text().startswith(f"pid={os.getpid()}")


def test_existing_cuda_visible_devices_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # e.g. set by SLURM --gpus
    assert gpu.claim_gpu(1, tmp_path, n_available=8) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("n_req,n_gpus", [(0, 4), (1, 1), (1, 0)])
def test_nothing_to_choose(tmp_path, n_req, n_gpus):
    assert gpu.claim_gpu(n_req, tmp_path, n_available=n_gpus) is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_too_many_requested(tmp_path):
    with pytest.raises(ValueError):
        gpu.claim_gpus(3, tmp_path, n_available=2)


def test_count_gpus_env_override(monkeypatch):
    monkeypatch.setenv(gpu.ENV_NUM_GPUS, "4")
    assert gpu.count_gpus() == 4


def test_gpu_pool_env_restricts_choice(tmp_path):
    os.environ[gpu.ENV_GPU_POOL] = "2,3"
    assert gpu.claim_gpus(1, tmp_path, n_available=8) == [2]
    assert os.environ.pop("CUDA_VISIBLE_DEVICES") == "2"
    # flock is per open file: this process's own lock on gpu2 counts as taken
    assert gpu.claim_gpus(1, tmp_path, n_available=8) == [3]
    del os.environ["CUDA_VISIBLE_DEVICES"]
    with pytest.raises(TimeoutError):
        gpu.claim_gpus(1, tmp_path, timeout=0.2, poll=0.05)
