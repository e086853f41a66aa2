"""Logging set-up for workflow scripts: everything to the rule's log file, with timestamps."""

from __future__ import annotations

import logging
import os
import sys
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


def end_job() -> None:
    """End a job's process now that every output is written: flush the logs and streams, then ``os._exit(0)``.

    A normal exit tears down every loaded module first. With torch, timm and the ``torch._dynamo``
    that torchvision pulls in, that teardown took 0.7 s of an empty script and 1.0-1.5 s of a
    training job here (benchmarks/README.md, section 6), paid by every training and explain job
    for nothing. Call it as the script's last line, under ``if __name__ == "__main__":`` (a
    Snakemake script job runs as ``__main__``; a test that runs the script in its own process
    must not be ended).
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(0)
