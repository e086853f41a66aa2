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
# what Snakemake sets to a job's `threads` in its environment (snakemake/shell.py); libraries read
# them when imported, so they decide whether a worker starts threads (and may then fork)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")

# What the worker imports once: the libraries and package modules the workflow's scripts import
# (training rounds, proxy steps, explain jobs and the batch-size finder; data, tables and figures),
# and the Snakemake module a script job's preamble loads. A worker is only forked while it has one
# thread (server.py checks): with the thread variables Snakemake sets for a job of `threads: 1`
# (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1, ...) none of these imports starts one.
PRELOAD = (
    "snakemake.script",
    "numpy",
    "pandas",
    "PIL.Image",
    "sklearn.datasets",
    "sklearn.model_selection",
    "scipy.stats",
    "matplotlib",
    "seaborn",
    "torch",
    "torchvision",
    "timm",
    "pytorch_grad_cam",
    "proxy_attention.devices",
    "proxy_attention.logs",
    "proxy_attention.models",
    "proxy_attention.train.batchsize",
    "proxy_attention.train.schedule",
    "proxy_attention.train.settings",
    "proxy_attention.train.trainer",
    "proxy_attention.train.trainset",
    "proxy_attention.proxy.job",
    "proxy_attention.analysis.explain",
    "proxy_attention.analysis.aggregate",
    "proxy_attention.analysis.answer",
    "proxy_attention.analysis.arms",
    "proxy_attention.analysis.audit",
    "proxy_attention.analysis.protocols",
    "proxy_attention.analysis.selection",
    "proxy_attention.report.plots",
    "proxy_attention.report.comparison",
    "proxy_attention.report.gallery",
    "proxy_attention.report.arms",
    "proxy_attention.report.selection",
    "proxy_attention.report.tensorboard",
    "proxy_attention.data.datasets",
    "proxy_attention.data.imagecache",
    "proxy_attention.data.index",
    "proxy_attention.data.split",
)


def _source_fingerprint() -> list[tuple[str, int, int]]:
    """Every module file of the package with its size and modification time (a few ms)."""
    root = Path(__file__).resolve().parents[1]
    return sorted(
        (str(p.relative_to(root)), s.st_size, s.st_mtime_ns)
        for p in root.rglob("*.py")
        for s in [p.stat()]
    )


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_start_time(pid: int) -> str | None:
    stat = _stat(pid)
    return None if stat is None else stat[19]


def process_alive(pid: int, start_time: str | None = None) -> bool:
    """Whether ``pid`` is still running (not gone, not a zombie) and, given its start time, not reused."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and (start_time is None or stat[19] == start_time)


def worker_address(environ: dict[str, str] | None = None) -> bytes | None:
    """The abstract Unix socket address of this run's worker, or ``None`` where jobs run without one.

    ``None`` outside a local run (no :data:`ENV_RUN`, or its process has ended), with
    ``PROXY_ATTENTION_WARM=0``, and off Linux (abstract sockets, ``SO_PEERCRED`` and
    ``PR_SET_PDEATHSIG`` are Linux's).
    """
    env = dict(os.environ if environ is None else environ)
    if not env.get(ENV_RUN) or env.get(ENV_SWITCH, "1") == "0" or not sys.platform.startswith("linux"):
        return None
    if not process_alive(int(env[ENV_RUN])):  # a variable left over from a run that has ended
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
