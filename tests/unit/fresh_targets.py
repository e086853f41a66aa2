"""Functions that tests/unit/test_fresh.py calls in a fresh interpreter (proxy_attention.workers.fresh)."""

import os
import sys
import time
from pathlib import Path


def whoami(greeting: str) -> dict:
    print("printed by the function")  # goes to the log, not into the result
    return {"pid": os.getpid(), "greeting": greeting, "torch_loaded": "torch" in sys.modules}


def fail(message: str) -> None:
    raise ValueError(message)


def write_pid_and_sleep(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)
