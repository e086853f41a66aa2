"""One Snakemake run at a time per working directory, without a lock that outlives its process.

profiles/default sets ``nolock``: Snakemake's own directory lock stays behind after a SIGKILL
and blocks every later run until ``snakemake --unlock``. Without it, two runs started at once
in one directory both ran the same jobs, and one ended with "Logfile not found".

:func:`take_run_lock` (the Snakefile's ``onstart``: only a run that executes jobs, never a dry
run, ``--lint``, ``--report`` or the per-job processes of a cluster executor, which get
``--no-hooks``) takes an ``fcntl.flock`` on ``results/.lock``. The kernel releases it when the
process ends, however it ends, so a killed run never leaves a stale lock. A second run in the
same directory stops with a message naming the first.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path

LOCK_FILE = "results/.lock"

_held: dict[str, int] = {}  # lock path -> fd, kept open for the life of the process


class RunLockedError(RuntimeError):
    """Another Snakemake run holds the working directory."""


def take_run_lock(path: str | os.PathLike = LOCK_FILE) -> None:
    """Hold an exclusive flock on ``path`` until this process ends; raise when another holds it."""
    path = Path(path).absolute()
    if str(path) in _held:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = Path(path).read_text(errors="replace").strip() or "another process"
        os.close(fd)
        raise RunLockedError(
            f"another Snakemake run is already running in {path.parent.parent} ({holder}; lock {path}). "
            "Two runs at once would run the same jobs. Wait for it to finish (or stop it) and start this one "
            "again; dry runs (-n), --report and --lint are not blocked. The lock goes away by itself when "
            "that process ends, also after a kill: no --unlock is needed."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, (f"pid {os.getpid()} on {socket.gethostname()}, started "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(sys.argv)[:300]}\n").encode())
    _held[str(path)] = fd
