"""Logging set-up for workflow scripts: everything to the rule's log file, with timestamps."""

from __future__ import annotations

import logging
import sys


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
