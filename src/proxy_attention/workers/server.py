"""The warm worker: import what the workflow's jobs use once, then run each job in a fork of this process.

Started by the first script job of a run that finds none (:mod:`proxy_attention.workers.launch`),
in its own process group, with its log in ``results/logs/warm_worker.log``::

    python -P -m proxy_attention.workers.server ADDRESS_HEX

It binds its abstract address first (a second worker for the same address exits at once) and
listens, then imports :data:`~proxy_attention.workers.address.PRELOAD`; jobs that connect
meanwhile wait for it. Forking a process that runs threads is unsafe (a lock held by another
thread stays locked in the child), so a worker that has more than one thread after its imports --
a job environment asking BLAS or OpenMP libraries for several threads, which some of them start at
import -- takes no job: it answers each with a refusal, and the jobs import for themselves. A job
sends its script, argv, working directory and environment, with its stdin, stdout and stderr as
file descriptors; the worker forks a child that takes them over and runs the script as
``__main__``, exactly as the job's own interpreter would after the same imports (the Snakemake
preamble included: the ``snakemake`` object is built in the fork). The child ends as a fresh job's
process does with :func:`proxy_attention.logs.end_job` -- logging flushed and shut down, the
streams flushed, ``os._exit`` with the status, no ``atexit`` handlers -- after appending the line
``warm worker: ran in a fork ... status, wall, CPU, max RSS`` to the job's log. The job's process
waits and exits with the child's status. The worker runs no job code itself and starts no thread,
so each child begins as a fresh interpreter would.

A child dies with the worker (``PR_SET_PDEATHSIG``) and is killed when its job's process goes
away (the connection closes: SIGKILL of the job, of Snakemake's process group); the worker ends
when its Snakemake run does, on SIGTERM/SIGINT/SIGHUP (killing its children), or after
``--idle`` seconds without a job.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import gc
import importlib
import io
import json
import logging
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass

from proxy_attention.logs import at_job_end, end_job
from proxy_attention.workers.address import PRELOAD, THREAD_VARIABLES, process_alive, process_start_time, run_pid
from proxy_attention.workers.launch import exit_like

MAX_MESSAGE = 1 << 20
PR_SET_PDEATHSIG = 1


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [worker {os.getpid()}] {message}", flush=True)


@dataclass
class Job:
    conn: socket.socket  # to the job's own process
    pid: int  # of the fork
    started: float
    pidfd: int | None = None


def _die_with_parent(parent: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the worker died before prctl took effect
        os._exit(1)


def _log_line(started: float) -> Callable[[int], None]:
    """The job's last log line (the rule's ``log:``, else stderr): its status and the fork's own wall
    time, CPU time and peak memory, which the job's ``benchmark:`` file cannot see (it measures the
    waiting launcher)."""

    def write(status: int) -> None:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        line = (f"warm worker: ran in a fork of the run's worker (pid {os.getpid()}): status {status}, "
                f"{time.monotonic() - started:.2f} s, CPU {cpu:.2f} s, "
                f"max RSS {max(own.ru_maxrss, children.ru_maxrss) / 1024:.0f} MB")
        logs = getattr(getattr(sys.modules["__main__"], "snakemake", None), "log", None)
        with contextlib.suppress(OSError):
            if logs:
                with open(logs[0], "a") as f:
                    print(line, file=f)
            else:
                print(line, file=sys.__stderr__, flush=True)

    return write


def _run_script(script: str) -> int:
    """Run ``script`` as ``python SCRIPT`` would, as ``__main__``; return its exit status (negative:
    the signal it must die of)."""
    main = types.ModuleType("__main__")
    main.__file__ = script
    main.__builtins__ = builtins
    sys.modules["__main__"] = main  # kept after the script ends: the log line reads its `snakemake`
    try:
        with open(script, "rb") as f:
            code = compile(f.read(), script, "exec")
        exec(code, main.__dict__)
        return 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # SIGINT: print the traceback, then die of the signal, as Python does
        traceback.print_exc()
        return -signal.SIGINT
    except BaseException:  # noqa: BLE001 -- the job's traceback, as its own interpreter prints it
        traceback.print_exc()
        return 1


def _run_child(request: dict, fds: list[int], close: list[int], parent: int) -> None:
    """In the forked child: become the job (streams, directory, environment, argv), run its script and
    end as a fresh job's process ends: :func:`proxy_attention.logs.end_job` (flush logging and the
    streams, ``os._exit`` with the status; ``atexit`` handlers do not run), also where the script
    did not call it."""
    started = time.monotonic()
    code = 1
    try:
        os.setpgid(0, 0)  # its own process group: killing the job kills what it started too
        _die_with_parent(parent)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in close:
            with contextlib.suppress(OSError):
                os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
        sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        sys.path.insert(0, os.path.dirname(request["script"]))  # as `python SCRIPT` sets it
        at_job_end(_log_line(started))  # also when the script ends itself with end_job()
        code = _run_script(request["script"])
    finally:
        if code < 0:  # the log line, then die of the signal as Python does
            _log_line(started)(code)
            logging.shutdown()
            exit_like(code)
        end_job(code)


def _send(conn: socket.socket, message: dict) -> None:
    with contextlib.suppress(OSError):
        conn.send(json.dumps(message).encode())


class Worker:
    def __init__(self, listener: socket.socket, watch_pid: int, idle_s: float, refuse: str | None = None):
        self.listener = listener
        self.refuse = refuse
        self.watch_pid = watch_pid
        self.watch_start = process_start_time(watch_pid)
        self.idle_s = idle_s
        self.jobs: dict[int, Job] = {}
        self.selector = selectors.DefaultSelector()
        self.last_busy = time.monotonic()
        self.stopping = False

    def own_fds(self) -> list[int]:
        fds = [self.listener.fileno(), self.selector.fileno()]
        for job in self.jobs.values():
            fds.append(job.conn.fileno())
            if job.pidfd is not None:
                fds.append(job.pidfd)
        return fds

    def accept(self) -> None:
        conn, _ = self.listener.accept()
        pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        if uid != os.getuid():
            log(f"refused a connection from uid {uid} (pid {pid})")
            conn.close()
            return
        conn.settimeout(10)
        try:
            data, fds, _flags, _addr = socket.recv_fds(conn, MAX_MESSAGE, 3)
            request = json.loads(data)
        except (OSError, ValueError) as e:
            log(f"bad request from pid {pid}: {e!r}")
            conn.close()
            return
        conn.settimeout(None)
        if self.refuse:
            for fd in fds:
                os.close(fd)
            _send(conn, {"refused": self.refuse})
            conn.close()
            self.last_busy = time.monotonic()
            return
        if len(fds) != 3:
            log(f"request from pid {pid} without its three standard streams")
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        child = os.fork()
        if child == 0:
            _run_child(request, fds, [*self.own_fds(), conn.fileno()], parent=os.getppid())
        with contextlib.suppress(OSError):  # as the child does: the group exists before the job hears its pid
            os.setpgid(child, child)
        for fd in fds:
            os.close(fd)
        job = Job(conn, child, time.monotonic())
        with contextlib.suppress(AttributeError, OSError):
            job.pidfd = os.pidfd_open(child)
            self.selector.register(job.pidfd, selectors.EVENT_READ, ("exit", child))
        self.selector.register(conn, selectors.EVENT_READ, ("conn", child))
        self.jobs[child] = job
        _send(conn, {"pid": child})
        log(f"job pid {child} for client {pid}: {request['script']}")

    def reap(self) -> None:
        for pid in list(self.jobs):
            try:
                done, status, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:
                done, status, usage = pid, 0, None
            if done == 0:
                continue
            job = self.jobs.pop(pid)
            code = os.waitstatus_to_exitcode(status) if usage is not None else 1
            wall = time.monotonic() - job.started
            reply = {"status": code, "wall_s": round(wall, 3)}
            if usage is not None:
                reply |= {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "max_rss_mb": round(usage.ru_maxrss / 1024, 1)}
            _send(job.conn, reply)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(job.conn)
            job.conn.close()
            if job.pidfd is not None:
                self.selector.unregister(job.pidfd)
                os.close(job.pidfd)
            log(f"job pid {pid} ended: {json.dumps(reply)}")
            self.last_busy = time.monotonic()

    def kill(self, pid: int, why: str) -> None:
        log(f"killing job pid {pid}: {why}")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    def stop(self, *_args) -> None:
        self.stopping = True

    def serve(self) -> None:
        self.selector.register(self.listener, selectors.EVENT_READ, ("listen", None))
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.stop)
        while not self.stopping:
            for key, _ in self.selector.select(timeout=0.5):
                kind, pid = key.data
                if kind == "listen":
                    self.accept()
                elif kind == "conn" and pid in self.jobs:
                    # the job's process closed its end (it was killed) or broke the protocol
                    self.kill(pid, "its job's process went away")
                    self.selector.unregister(key.fileobj)
            self.reap()
            if self.jobs:
                self.last_busy = time.monotonic()
            if not process_alive(self.watch_pid, self.watch_start):
                log(f"Snakemake (pid {self.watch_pid}) ended")
                break
            if not self.jobs and time.monotonic() - self.last_busy > self.idle_s:
                log(f"no job for {self.idle_s:g} s")
                break
        for pid in list(self.jobs):
            self.kill(pid, "the worker is stopping")
        deadline = time.monotonic() + 5
        while self.jobs and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        log("exit")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="the abstract socket address, hex")
    parser.add_argument("--idle", type=float, default=600.0, help="seconds without a job before it exits")
    args = parser.parse_args(argv)
    address = bytes.fromhex(args.address)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind(address)
    except OSError as e:  # another worker has it already
        log(f"address in use ({e}); exit")
        return 0
    listener.listen(64)
    watch = run_pid()
    started = time.monotonic()
    for name in PRELOAD:
        importlib.import_module(name)
    threads = len(os.listdir("/proc/self/task"))
    log(f"imported {', '.join(PRELOAD)} in {time.monotonic() - started:.2f} s; "
        f"serving Snakemake pid {watch}")
    refuse = None
    if threads > 1:
        refuse = (f"the worker runs {threads} threads after its imports (thread settings "
                  f"{ {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ} }), "
                  "and a process with threads is not safe to fork")
        log(f"takes no job: {refuse}")
    gc.collect()
    gc.freeze()  # the imported objects stay out of the children's garbage collections (fewer copied pages)
    Worker(listener, watch, args.idle, refuse).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
