"""A job's first line: run the rest of its script in the run's warm worker of its kind.

::

    from proxy_attention.workers.client import run_in_worker

    run_in_worker("torch")  # the rest of this script runs in a fork of the run's torch worker, if any

In a local run (the Snakefile's ``onstart`` sets :data:`~proxy_attention.workers.address.ENV_RUN`)
this hands the script, its argv, working directory, environment and standard streams to the run's
worker (starting it if this is the run's first job of that kind), forwards SIGINT, SIGTERM and SIGHUP to
the child, and exits with the child's status: the lines after it run only in the child, where
this call returns at once. Anywhere else -- a cluster job, ``PROXY_ATTENTION_WARM=0``, not Linux,
a worker that cannot start -- it returns and the script runs in this process as before.

This module imports nothing heavy: it runs in every job's own process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from proxy_attention.workers.address import worker_address

IN_WORKER = False  # set in the worker's child before it runs the script
CONNECT_WAIT_S = 300.0  # for a worker that is still importing (a loaded machine)
LOG = Path("results/logs/warm_worker.log")


def _say(message: str) -> None:
    """A line in the job's log (the rule's ``log:``, where the script logs too), else on stderr."""
    line = f"warm worker: {message}"
    logs = getattr(getattr(sys.modules["__main__"], "snakemake", None), "log", None)
    if logs:
        with open(logs[0], "a") as f:
            print(line, file=f)
    else:
        print(line, file=sys.stderr, flush=True)


def _job_name() -> str:
    """The rule and log of a Snakemake job (for the worker's log), else the script's name."""
    main = sys.modules["__main__"]
    job = getattr(main, "snakemake", None)
    if job is not None and getattr(job, "log", None):
        return f"{job.rule} ({job.log[0]})"
    return Path(getattr(main, "__file__", sys.argv[0])).name


def _start_worker(kind: str, address: bytes) -> subprocess.Popen:
    """Start the worker in its own session, its output appended to results/logs/warm_worker.log."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a") as log:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "proxy_attention.workers.server", kind, address.hex()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=True,  # Ctrl-C and a kill of Snakemake's group reach the jobs, not the worker
        )


def _connect(address: bytes) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        return None
    return sock


def _connect_or_start(kind: str, address: bytes) -> socket.socket | None:
    sock = _connect(address)
    if sock is not None:
        return sock
    try:
        worker = _start_worker(kind, address)
    except OSError as e:  # e.g. results/logs/ not writable
        _say(f"could not start the worker: {e}")
        return None
    deadline = time.monotonic() + CONNECT_WAIT_S
    ended = None
    while time.monotonic() < deadline:
        sock = _connect(address)
        if sock is not None:
            return sock
        # ours ended: it lost the address to another job's worker (give that one a moment), or failed
        if ended is None and worker.poll() is not None:
            ended = time.monotonic()
        if ended is not None and time.monotonic() - ended > 1.0:
            _say(f"the worker exited with status {worker.returncode} (see {LOG})")
            return None
        time.sleep(0.02)
    return None


def _exit_like(code: int) -> None:
    """End this process as the child ended: its exit code, or the signal that killed it."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    if code < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code
    os._exit(code)


def run_in_worker(kind: str) -> None:
    """Run the rest of the calling script in the run's warm worker of ``kind`` (a key of
    :data:`~proxy_attention.workers.address.PRELOAD`) and exit; return where there is none."""
    if IN_WORKER:
        return
    address = worker_address(kind)
    if address is None:
        return
    sock = _connect_or_start(kind, address)
    if sock is None:
        _say("none could be started; the job runs in its own interpreter")
        return
    request = {
        "script": os.path.abspath(sys.argv[0]),
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "name": _job_name(),
    }
    try:
        socket.send_fds(sock, [json.dumps(request).encode()], [0, 1, 2])
        reply = json.loads(sock.recv(1 << 16) or b"{}")
    except (OSError, ValueError):
        reply = {}
    if "pid" not in reply:  # nothing was started: run here
        sock.close()
        _say(f"the worker did not take the job ({reply.get('refused', 'it ended')}); the job runs in its own interpreter")
        return
    child = reply["pid"]

    def forward(sig, _frame):
        try:
            os.killpg(child, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    reply = sock.recv(1 << 16)  # retried after a forwarded signal (PEP 475)
    if not reply:
        _say("the worker ended before the job did")
        _exit_like(1)
    done = json.loads(reply)
    _say(
        f"ran in a fork of the run's worker (pid {child}): status {done['status']}, {done['wall_s']:.2f} s, "
        f"CPU {done.get('cpu_s', float('nan')):.2f} s, max RSS {done.get('max_rss_mb', float('nan')):.0f} MB"
    )
    _exit_like(int(done["status"]))
