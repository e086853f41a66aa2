"""The warm worker (proxy_attention.workers): a job's script runs in a fork of the run's worker, with
the job's streams, directory, environment and exit status, and dies with the job's process.

The "Snakemake run" here is a sleeping process whose pid the jobs carry in PROXY_ATTENTION_WARM_RUN;
the end-to-end check that a workflow gives the same numbers with and without the worker is in
test_workflow.py."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from proxy_attention.workers.address import ENV_RUN, ENV_SWITCH, THREAD_VARIABLES, worker_address

REPO = Path(__file__).resolve().parents[2]
# what Snakemake puts in the environment of a job with `threads: 1`
ONE_THREAD = {name: "1" for name in THREAD_VARIABLES}

JOB = """
from proxy_attention.workers.client import run_in_worker

run_in_worker(KIND)
import json, os, sys

from proxy_attention.workers import client

print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "in_worker": client.IN_WORKER,
                  "torch_loaded_before": TORCH_BEFORE, "seaborn_loaded_before": SEABORN_BEFORE,
                  "cwd": os.getcwd(), "argv": sys.argv,
                  "marker": os.environ.get("JOB_MARKER"), "name": __name__}), flush=True)
print("to stderr", file=sys.stderr, flush=True)
ACTION
"""


def write_job(folder: Path, name: str, action: str = "", kind: str = "torch") -> Path:
    # read before the job imports anything heavy: a worker's fork has its kind's libraries already
    source = (JOB.replace("TORCH_BEFORE", "'torch' in sys.modules").replace("SEABORN_BEFORE", "'seaborn' in sys.modules")
              .replace("KIND", repr(kind)).replace("ACTION", textwrap.dedent(action)))
    script = folder / name
    script.write_text(source)
    return script


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A stand-in Snakemake run: its pid, its working directory, the environment its jobs get."""
    work = tmp_path_factory.mktemp("warm")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    env = {**os.environ, **ONE_THREAD, ENV_RUN: str(sleeper.pid), "PYTHONPATH": str(REPO / "src")}
    env.pop(ENV_SWITCH, None)
    yield work, env, sleeper
    sleeper.kill()
    sleeper.wait()


def job(run, script, *args, extra_env=None, **kw):
    work, env, _ = run
    return subprocess.run([sys.executable, str(script), *args], cwd=work, env={**env, **(extra_env or {})},
                          capture_output=True, text=True, timeout=300, **kw)


def worker_log(work: Path) -> str:
    return (work / "results/logs/warm_worker.log").read_text()


def test_a_job_runs_in_a_fork_of_the_worker_with_its_streams_and_settings(run):
    work, _, _ = run
    script = write_job(work, "job.py")
    first = job(run, script, "a", "b", extra_env={"JOB_MARKER": "one"})
    second = job(run, script, extra_env={"JOB_MARKER": "one"})
    other = job(run, script, extra_env={"JOB_MARKER": "two"})  # a job of another environment
    for proc in (first, second, other):
        assert proc.returncode == 0, proc.stderr
        assert "to stderr" in proc.stderr
    a, b, c = (json.loads(p.stdout.splitlines()[-1]) for p in (first, second, other))
    # the script ran in the worker's children, not in the job's own process, and found torch imported
    assert a["in_worker"] and b["in_worker"] and a["torch_loaded_before"] and b["torch_loaded_before"]
    assert a["ppid"] == b["ppid"] != os.getpid()  # one worker for both jobs of the run
    assert a["pid"] != b["pid"]
    # a worker serves one environment: a job with another gets (and starts) its own worker
    assert (a["marker"], c["marker"]) == ("one", "two") and c["in_worker"] and c["ppid"] != a["ppid"]
    assert a["cwd"] == str(work) and a["argv"] == [str(script), "a", "b"] and a["name"] == "__main__"
    log = worker_log(work)
    assert "torch: imported numpy, pandas, torch" in log and log.count("job pid") >= 4  # started and ended, twice


def test_without_a_run_or_with_the_switch_off_the_job_runs_in_its_own_process(run, tmp_path):
    script = write_job(tmp_path, "job.py")
    for extra in ({ENV_SWITCH: "0"}, {ENV_RUN: ""}):
        proc = job(run, script, extra_env=extra)
        out = json.loads(proc.stdout.splitlines()[-1])
        assert proc.returncode == 0 and not out["in_worker"] and not out["torch_loaded_before"], proc.stderr


@pytest.mark.parametrize(
    "action, code, stderr",
    [
        ("sys.exit(3)", 3, ""),
        ("raise ValueError('bad data in job')", 1, "ValueError: bad data in job"),
        ("os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL, ""),
    ],
)
def test_the_job_ends_as_its_script_does(run, tmp_path, action, code, stderr):
    script = write_job(tmp_path, "job.py", "import signal\n" + action)
    proc = job(run, script)
    assert proc.returncode == code, proc.stderr
    assert stderr in proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["in_worker"]


def _gone(pid: int, within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killing_the_job_kills_its_fork(run, tmp_path, sig):
    work, env, _ = run
    script = write_job(tmp_path, "job.py", "import time\ntime.sleep(120)")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=work, env=env, stdout=subprocess.PIPE, text=True)
    child = json.loads(proc.stdout.readline())["pid"]
    assert child != proc.pid
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert _gone(child, within=5), f"the job's fork {child} outlived the job killed by {sig!r}"
    if sig != signal.SIGKILL:  # the signal reached the fork, which died of it, and the job reports that
        assert proc.returncode == -sig, proc.returncode


def test_the_worker_ends_with_its_run(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    env = {**os.environ, **ONE_THREAD, ENV_RUN: str(sleeper.pid), "PYTHONPATH": str(REPO / "src")}
    script = write_job(tmp_path, "job.py")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    worker = json.loads(proc.stdout.splitlines()[-1])["ppid"]
    assert not _gone(worker, within=1)  # still there between the jobs of a run
    sleeper.kill()
    sleeper.wait()
    assert _gone(worker, within=5)
    assert "Snakemake (pid" in worker_log(tmp_path) and worker_log(tmp_path).rstrip().endswith("exit")


def test_the_address_covers_the_run_the_environment_the_kind_and_the_switch(run):
    _, _, sleeper = run
    env = {ENV_RUN: str(sleeper.pid), "PATH": "/bin"}
    assert worker_address("torch", env) == worker_address("torch", dict(env))
    assert worker_address("torch", env) != worker_address("torch", {**env, ENV_RUN: str(os.getpid())})  # another run
    assert worker_address("torch", env) != worker_address("torch", {**env, "OMP_NUM_THREADS": "4"})  # read by imports
    assert worker_address("torch", env) != worker_address("pandas", env)
    assert worker_address("torch", {**env, ENV_SWITCH: "0"}) is None
    assert worker_address("torch", {"PATH": "/bin"}) is None
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert worker_address("torch", {**env, ENV_RUN: ended.stdout.strip()}) is None  # left over from an ended run
    assert worker_address("pandas", env).startswith(b"\0proxy-attention-pandas-worker-")


def test_a_figure_job_gets_the_pandas_worker_without_torch(run, tmp_path):
    proc = job(run, write_job(tmp_path, "plot.py", kind="pandas"))
    out = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 0 and out["in_worker"], proc.stderr
    assert out["seaborn_loaded_before"] and not out["torch_loaded_before"]


def test_a_worker_with_threads_takes_no_job(run, tmp_path):
    """With BLAS asked for 2 threads, importing numpy starts one: that worker refuses to fork, and the
    job runs in its own interpreter, with the reason in its log (stderr here)."""
    proc = job(run, write_job(tmp_path, "job.py"), extra_env={"OPENBLAS_NUM_THREADS": "2"})
    out = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == 0 and not out["in_worker"] and not out["torch_loaded_before"], proc.stderr
    assert "threads after its imports" in proc.stderr and "not safe to fork" in proc.stderr


def test_the_job_process_imports_nothing_heavy():
    """The hand-over runs in every job's own process: it must not load what the worker is there for."""
    probe = ("import sys\nfrom proxy_attention.workers.client import run_in_worker\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'numpy', 'pandas', 'timm', 'matplotlib'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert out.stdout.strip() == "[]"
