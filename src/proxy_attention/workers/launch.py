"""Start a Snakemake script job in the run's warm worker, or exactly as Snakemake asked.

Snakemake runs a ``script:`` job as the shell command ``PYTHON SCRIPT`` (``PYTHON`` is its own
``sys.executable``, an absolute path; ``SCRIPT`` the job's temporary copy of the script, with the
``snakemake`` object in its preamble). The Snakefile's ``shell.prefix`` (:func:`shell_prefix`)
defines a bash function of that very name, so this command -- and only a command that calls that
interpreter by its full path -- runs::

    PYTHON -P -m proxy_attention.workers.launch PYTHON SCRIPT

which hands the job (its argv, working directory, environment and standard streams) to the run's
worker, starting it if this is the run's first job, forwards SIGINT, SIGTERM and SIGHUP to the
job's fork, and exits with the fork's status. Anything else -- no worker (a cluster job, where the
Snakefile never sets :data:`~proxy_attention.workers.address.ENV_RUN`; ``PROXY_ATTENTION_WARM=0``;
not Linux), a worker that cannot start or refuses the job, a command line other than
``PYTHON SCRIPT.py`` -- is ``exec``-ed unchanged. A ``shell:`` rule is untouched unless it calls
that interpreter by its full path, and then it runs as written.

This module imports nothing heavy: it runs before every script job.
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

CONNECT_WAIT_S = 300.0  # for a worker that is still importing (a loaded machine)
LOG = Path("results/logs/warm_worker.log")


def shell_prefix(python: str = sys.executable) -> str:
    """The Snakefile's ``shell.prefix``: bash's default ``set -euo pipefail;`` and a function named
    ``python`` (the full path Snakemake runs script jobs with) that runs this launcher instead.

    A function, not an ``exec`` in front of the command, so that a ``shell:`` rule's own command
    (several commands, ``cd``, ``if``) runs as bash would run it. Braces are doubled: Snakemake
    formats the prefix like a rule's command.
    """
    return (
        f'set -euo pipefail; function {python} {{{{ command {python} -P -m proxy_attention.workers.launch '
        f'{python} "$@"; }}}}; '
    )


def usable_prefix(python: str, shell_executable: str | None) -> bool:
    """Whether :func:`shell_prefix` works: bash (function names with ``/``), Linux, a plain path."""
    return (
        sys.platform.startswith("linux")
        and shell_executable is not None
        and os.path.basename(shell_executable) == "bash"
        and os.path.isabs(python)
        and all(c.isalnum() or c in "/._+-" for c in python)
    )


def _say(message: str) -> None:
    print(f"warm worker: {message}", file=sys.stderr, flush=True)


def _start_worker(address: bytes) -> subprocess.Popen:
    """Start the worker, its output appended to results/logs/warm_worker.log, in a process group of its
    own: Ctrl-C and a kill of Snakemake's process group reach the jobs, not the worker. It stays in
    the run's session, and so in the run's autogroup: a ``nice`` given to the run holds for it."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a") as log:
        return subprocess.Popen(
            [sys.executable, "-P", "-m", "proxy_attention.workers.server", address.hex()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            process_group=0,
        )


def _connect(address: bytes) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        return None
    return sock


def _connect_or_start(address: bytes) -> socket.socket | None:
    sock = _connect(address)
    if sock is not None:
        return sock
    try:
        worker = _start_worker(address)
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


def exit_like(code: int) -> None:
    """End this process with ``code``: an exit status, or (negative) the signal to die of, as Python
    dies of an unhandled one. The launcher ends as its job's fork ended; the fork of a job killed by
    a signal ends so too (:mod:`proxy_attention.workers.server`)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if code < 0:
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler to reset
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code
    os._exit(code)


def is_script_job(argv: list[str]) -> bool:
    """``[PYTHON, SCRIPT.py]``, ``PYTHON`` this interpreter: the command of a Snakemake script job."""
    return (
        len(argv) == 2
        and argv[1].endswith(".py")
        and os.path.isfile(argv[1])
        and os.path.realpath(argv[0]) == os.path.realpath(sys.executable)
    )


def hand_off(script: str) -> int | None:
    """Run ``script`` in a fork of the run's worker and return its status (negative: killed by that
    signal); ``None`` where no worker took it."""
    address = worker_address()
    if address is None:
        return None
    sock = _connect_or_start(address)
    if sock is None:
        _say("none could be started; the job runs in its own interpreter")
        return None
    request = {"script": os.path.abspath(script), "argv": [script], "cwd": os.getcwd(), "env": dict(os.environ)}
    try:
        socket.send_fds(sock, [json.dumps(request).encode()], [0, 1, 2])
        reply = json.loads(sock.recv(1 << 16) or b"{}")
    except (OSError, ValueError):
        reply = {}
    if "pid" not in reply:  # nothing was started: run here
        sock.close()
        _say(f"the worker did not take the job ({reply.get('refused', 'it ended')}); the job runs in its own interpreter")
        return None
    child = reply["pid"]

    def forward(sig, _frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    reply = sock.recv(1 << 16)  # retried after a forwarded signal (PEP 475)
    if not reply:
        _say("the worker ended before the job did")
        return 1
    return int(json.loads(reply)["status"])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.exit("usage: python -m proxy_attention.workers.launch COMMAND [ARG...]")
    if is_script_job(argv):
        status = hand_off(argv[1])
        if status is not None:
            exit_like(status)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main()
