"""Logging set-up for workflow scripts: everything to the rule's log file, with timestamps."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from proxy_attention import __version__


def setup_logging(log_file: str | None = None, level: int = logging.INFO) -> None:
    """Send Python logging and stderr to ``log_file`` (the rule's ``log:``), or stderr when none."""
    if log_file:
        stream = open(log_file, "a", buffering=1)
        sys.stderr = stream
    else:
        stream = sys.stderr
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stream,
        force=True,
    )
    logging.captureWarnings(True)
    # Which code ran: the workflow puts its own src/ first on PYTHONPATH (Snakefile), so this is
    # the checkout's package also inside a conda environment made by --sdm conda.
    package = Path(__file__).resolve().parent
    logging.getLogger("proxy_attention").info("proxy_attention %s from %s", __version__, package)


# called with the job's exit status just before :func:`end_job` ends the process (a warm worker's
# fork registers the line it adds to the job's log here)
_AT_END: list[Callable[[int], None]] = []


def at_job_end(callback: Callable[[int], None]) -> None:
    """Have :func:`end_job` call ``callback(status)`` before it ends the process."""
    _AT_END.append(callback)


def end_job(status: int = 0) -> None:
    """End a job's process now that every output is written: flush the logs and streams, then ``os._exit(status)``.

    A normal exit tears down every loaded module first; with torch, timm and the ``torch._dynamo``
    that torchvision pulls in, that teardown costs a training job a second or so for nothing
    (``benchmarks/bench.py --only jobs`` measures it). Call it as the script's last line, under
    ``if __name__ == "__main__":`` (a Snakemake script job runs as ``__main__``; a test that runs
    the script in its own process must not be ended). ``atexit`` handlers do not run. A job run in
    a warm worker's fork ends here too, whether or not its script calls it
    (:mod:`proxy_attention.workers.server`).
    """
    for callback in _AT_END:
        callback(status)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(status)
