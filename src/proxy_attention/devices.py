"""Which device a job computes on: :func:`resolve_device`, and the GPUs of one multi-GPU
machine shared between concurrent Snakemake jobs (:func:`claim_gpus`).

Snakemake's local executor counts a ``gpu`` resource (``--resources gpu=4``
never runs more than four GPU jobs at once) but does not say *which* GPU a job
should use: it does not set ``CUDA_VISIBLE_DEVICES``, so every job would pick
``cuda:0``.  :func:`claim_gpu` fills that gap.  Call it at the very start of a
training script, before anything touches CUDA::

    from proxy_attention.devices import claim_gpu
    claim_gpu(snakemake_gpus)          # e.g. 1; 0 -> CPU job, nothing happens
    import torch                       # torch now sees only the claimed GPU(s)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

How it works: one lock file per physical GPU (``<lock_dir>/gpu<i>.lock``).  A
job takes an exclusive, non-blocking ``fcntl.flock`` on the first free one(s),
keeps the file open for the rest of the process's life and exports
``CUDA_VISIBLE_DEVICES=<i>``.  The kernel drops the lock when the process
exits -- also on a crash or ``kill -9`` -- so there are no stale locks to
clean up.  The lock directory must be on a local filesystem (flock over NFS is
unreliable) and shared by all jobs on the machine (the default is under /tmp).

When ``CUDA_VISIBLE_DEVICES`` is already set -- SLURM sets it for jobs that
asked for ``--gpus``/``--gres``, and a user may set it by hand -- the function
leaves it alone: the scheduler already decided.  With zero or one GPU there is
nothing to choose either.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Union

ENV_LOCK_DIR = "PROXY_ATTENTION_GPU_LOCK_DIR"
ENV_NUM_GPUS = "PROXY_ATTENTION_NUM_GPUS"  # override detection (tests, odd drivers)
ENV_GPU_POOL = "PROXY_ATTENTION_GPUS"  # e.g. "1,2,3": share out only these GPUs

# open lock files of this process; keeping them referenced keeps the locks held
_HELD: List = []


def default_lock_dir() -> Path:
    """``$PROXY_ATTENTION_GPU_LOCK_DIR`` or ``/tmp/proxy-attention-gpu-locks-<uid>``."""
    env = os.environ.get(ENV_LOCK_DIR)
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"proxy-attention-gpu-locks-{os.getuid()}"


def count_gpus() -> int:
    """Number of NVIDIA GPUs on the machine, found *without* initialising CUDA.

    Order: ``$PROXY_ATTENTION_NUM_GPUS``, ``/proc/driver/nvidia/gpus/*``,
    ``nvidia-smi -L``; 0 if none of them says anything.  (``torch.cuda.
    device_count()`` is avoided on purpose: once CUDA is initialised, changing
    ``CUDA_VISIBLE_DEVICES`` has no effect any more.)
    """
    env = os.environ.get(ENV_NUM_GPUS)
    if env is not None and env.strip() != "":
        return int(env)
    proc = Path("/proc/driver/nvidia/gpus")
    if proc.is_dir():
        n = sum(1 for _ in proc.iterdir())
        if n:
            return n
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30
            ).stdout
            return sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            return 0
    return 0


def gpu_pool(n_available: Optional[int] = None) -> List[int]:
    """Physical GPU indices to share out: ``$PROXY_ATTENTION_GPUS`` (e.g. "1,2,3")
    if set, else ``0 .. n-1`` with ``n = n_available`` or :func:`count_gpus`."""
    env = os.environ.get(ENV_GPU_POOL, "").strip()
    if env:
        return [int(x) for x in env.replace(" ", "").split(",") if x != ""]
    n = count_gpus() if n_available is None else int(n_available)
    return list(range(n))


def _cuda_already_initialised() -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        return bool(torch.cuda.is_initialized())
    except Exception:  # pragma: no cover - very old / odd torch builds
        return False


def _try_lock(path: Path):
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(f"pid={os.getpid()}\n")
    f.flush()
    return f


def claim_gpus(
    n_gpus_requested: int,
    lock_dir: Union[str, os.PathLike, None] = None,
    *,
    n_available: Optional[int] = None,
    timeout: Optional[float] = 600.0,
    poll: float = 1.0,
) -> Optional[List[int]]:
    """Claim ``n_gpus_requested`` free GPUs and restrict this process to them.

    Returns the claimed *physical* GPU indices (inside the process they are
    ``cuda:0``, ``cuda:1``, ...), or ``None`` when nothing was changed:
    ``n_gpus_requested <= 0``, ``CUDA_VISIBLE_DEVICES`` already set, or at most
    one GPU to share (see :func:`gpu_pool`).

    If all GPUs are taken, waits (checking every ``poll`` seconds) up to
    ``timeout`` seconds (``None``: forever), then raises ``TimeoutError``.
    With ``snakemake --resources gpu=<number of GPUs>`` this never waits.
    """
    if n_gpus_requested is None or int(n_gpus_requested) <= 0:
        return None
    n_req = int(n_gpus_requested)
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return None  # SLURM (--gpus/--gres) or the user already decided
    pool = gpu_pool(n_available)
    n_gpus = len(pool)
    if n_gpus <= 1:
        return None
    if n_req > n_gpus:
        raise ValueError(f"{n_req} GPUs requested, only {n_gpus} to share: {pool}")
    if _cuda_already_initialised():
        raise RuntimeError(
            "claim_gpu() must run before CUDA is initialised "
            "(call it before the first torch.cuda / .cuda() / .to('cuda'))"
        )

    lock_path = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_path.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        got = []
        for i in pool:
            f = _try_lock(lock_path / f"gpu{i}.lock")
            if f is not None:
                got.append((i, f))
                if len(got) == n_req:
                    break
        if len(got) == n_req:
            _HELD.extend(f for _, f in got)
            idx = [i for i, _ in got]
            # make indices mean the same as in nvidia-smi and /proc
            os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, idx))
            return idx
        for _, f in got:  # partial claim: give back, try again later
            f.close()
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(
                f"no {n_req} free GPU(s) of {n_gpus} after {timeout}s "
                f"(locks in {lock_path}); run snakemake with --resources gpu={n_gpus}"
            )
        time.sleep(poll)


def claim_gpu(
    n_gpus_requested: int = 1,
    lock_dir: Union[str, os.PathLike, None] = None,
    **kwargs,
) -> Optional[int]:
    """Like :func:`claim_gpus`, returning the first claimed physical index or None."""
    idx = claim_gpus(n_gpus_requested, lock_dir, **kwargs)
    return None if idx is None else idx[0]


def release_gpus() -> None:
    """Drop this process's GPU locks early (normally they last until exit).

    ``CUDA_VISIBLE_DEVICES`` stays as it is: CUDA cannot be re-targeted anyway.
    """
    while _HELD:
        _HELD.pop().close()


def resolve_device(name: str):
    """``auto`` -> CUDA where available, else CPU; any other name (``cpu``, ``cuda:1``) as given.

    The one device resolver of the package (training, proxy steps, explanations, predict).
    torch is imported here, not at module level, so that :func:`claim_gpus` runs before CUDA starts.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
