"""Call one function of the package in a fresh interpreter that dies with this process.

A job that does two heavy things one after the other -- ``train_proxy``: the proxy step, then its
round -- can run the first in a fresh interpreter, so that what only the first imports
(pytorch-grad-cam pulls in OpenCV, Matplotlib, SciPy and scikit-learn: about 120 MB resident) and
what its C heap keeps after it are gone before the second starts: the job's peak is then the larger
of the two, not their sum (``benchmarks/README.md`` §7). It pays one more interpreter start
(torch's import, about 3 s on the 2-core machine). A process that has imported torch already (a
warm worker's fork, :mod:`proxy_attention.workers.server`) calls the function in place: it has paid
those imports, and their pages are shared with the worker.

The fresh interpreter runs ``python -m proxy_attention.workers.fresh`` with the call as JSON on its
stdin, logs to the job's log, and writes the function's result (JSON) to its stdout; the function's
own prints go to the log. It is killed when this process dies (``PR_SET_PDEATHSIG``), so a job
killed mid-step leaves no writer behind.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

PR_SET_PDEATHSIG = 1  # Linux's prctl option

# the module whose presence means that the heavy imports are paid for in this process already
LOADED = "torch"


class FreshCallError(RuntimeError):
    """The function failed in the fresh interpreter (its traceback is in the job's log)."""


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process (SIGKILL) when ``parent`` dies (Linux; elsewhere nothing)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def call_fresh(target: str, kwargs: dict[str, Any], log_file: str | None = None, *, force: bool = False) -> Any:
    """``module:function(**kwargs)`` in a fresh interpreter (JSON in, JSON out); in place where this
    process has imported torch already, unless ``force``. The fresh one logs to ``log_file`` (appended)."""
    module, function = target.split(":")
    if LOADED in sys.modules and not force:
        return getattr(importlib.import_module(module), function)(**kwargs)
    parent = os.getpid()
    logging.getLogger(__name__).info("%s in a fresh interpreter (this process has not loaded %s)", target, LOADED)
    request = json.dumps({"target": target, "kwargs": kwargs, "log": log_file})
    log = open(log_file, "a") if log_file else None  # closed below
    try:
        proc = subprocess.run(
            [sys.executable, "-m", __name__],
            input=request,
            stdout=subprocess.PIPE,
            stderr=log if log is not None else None,
            text=True,
            preexec_fn=lambda: die_with_parent(parent),  # (no threads in this process yet: torch is not loaded)
        )
    finally:
        if log is not None:
            log.close()
    if proc.returncode != 0:
        how = f"exit status {proc.returncode}" if proc.returncode > 0 else f"signal {-proc.returncode}"
        where = f"; its traceback is in {log_file}" if log_file else ""
        raise FreshCallError(f"{target} failed in its own interpreter ({how}){where}")
    return json.loads(proc.stdout)


def _main() -> None:
    request = json.loads(sys.stdin.read())
    from proxy_attention.logs import end_job, setup_logging

    setup_logging(request["log"])
    result_stream, sys.stdout = sys.stdout, sys.stderr  # the function's prints go to the log
    module, function = request["target"].split(":")
    result = getattr(importlib.import_module(module), function)(**request["kwargs"])
    result_stream.write(json.dumps(result))
    result_stream.flush()
    end_job(0)  # skip torch's teardown (proxy_attention.logs.end_job)


if __name__ == "__main__":
    _main()
