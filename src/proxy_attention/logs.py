"""Logging set-up for workflow scripts: everything to the rule's log file, with timestamps."""

from __future__ import annotations

import logging
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
