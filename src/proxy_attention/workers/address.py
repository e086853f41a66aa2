"""Whether a job may hand itself to a warm worker, and the address of its run's worker.

The Snakefile's ``onstart`` sets :data:`ENV_RUN` to the Snakemake process's pid in a local run
(never on a cluster: a job there must stay inside the allocation its scheduler gave it). Each
Snakemake run gets its own worker, which ends with it; the address also covers the environment,
the working directory, the interpreter and the package's source files, so a worker never runs a
job under other settings or older code than the job's own process would have.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

# set by the Snakefile in a local run: "<pid of the Snakemake process>"
ENV_RUN = "PROXY_ATTENTION_WARM_RUN"
# "0" turns the worker off (every job a fresh interpreter, as on a cluster)
ENV_SWITCH = "PROXY_ATTENTION_WARM"

# What the worker imports once: what every training and explain job imports before its work.
# pytorch-grad-cam (with OpenCV, matplotlib, scikit-learn, SciPy) is left to the jobs that use it,
# as without a worker: OpenCV starts a thread when imported, and a process with threads is not
# safe to fork.
PRELOAD = (
    "numpy",
    "pandas",
    "torch",
    "torchvision",
    "timm",
    "proxy_attention.devices",
    "proxy_attention.logs",
    "proxy_attention.models",
    "proxy_attention.train.batchsize",
    "proxy_attention.train.schedule",
    "proxy_attention.train.settings",
    "proxy_attention.train.trainer",
    "proxy_attention.train.trainset",
)


def _source_fingerprint() -> list[tuple[str, int, int]]:
    """Every module file of the package with its size and modification time (a few ms)."""
    root = Path(__file__).resolve().parents[1]
    return sorted(
        (str(p.relative_to(root)), s.st_size, s.st_mtime_ns)
        for p in root.rglob("*.py")
        for s in [p.stat()]
    )


def worker_address(environ: dict[str, str] | None = None) -> bytes | None:
    """The abstract Unix socket address of this run's worker, or ``None`` where jobs run without one.

    ``None`` outside a local run (no :data:`ENV_RUN`), with ``PROXY_ATTENTION_WARM=0``, and off
    Linux (abstract sockets, ``SO_PEERCRED`` and ``PR_SET_PDEATHSIG`` are Linux's).
    """
    env = dict(os.environ if environ is None else environ)
    if not env.get(ENV_RUN) or env.get(ENV_SWITCH, "1") == "0" or not sys.platform.startswith("linux"):
        return None
    key = repr(
        (
            sys.executable,
            sys.version,
            os.getuid(),
            os.getcwd(),
            sorted(env.items()),
            PRELOAD,
            _source_fingerprint(),
        )
    )
    return b"\0proxy-attention-worker-" + hashlib.sha256(key.encode()).hexdigest()[:32].encode()


def run_pid(environ: dict[str, str] | None = None) -> int:
    """The pid of the Snakemake run a worker serves (it ends when that process does)."""
    return int((os.environ if environ is None else environ)[ENV_RUN])
