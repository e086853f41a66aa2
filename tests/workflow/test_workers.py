"""The warm worker (proxy_attention.workers): a script job's command runs the launcher, which hands the
script to a fork of the run's worker, with the job's streams, directory, environment and exit status,
and the fork dies with the job's process; or execs the command unchanged where there is no worker.

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
from proxy_attention.workers.launch import shell_prefix, usable_prefix

REPO = Path(__file__).resolve().parents[2]
# what Snakemake puts in the environment of a job with `threads: 1`
ONE_THREAD = {name: "1" for name in THREAD_VARIABLES}
# what a script job's command becomes under the Snakefile's shell.prefix
LAUNCH = [sys.executable, "-P", "-m", "proxy_attention.workers.launch"]

JOB = """
import json, os, sys

print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(),
                  "torch_loaded_before": TORCH_BEFORE, "seaborn_loaded_before": SEABORN_BEFORE,
                  "cwd": os.getcwd(), "argv": sys.argv,
                  "marker": os.environ.get("JOB_MARKER"), "name": __name__}), flush=True)
print("to stderr", file=sys.stderr, flush=True)
ACTION
"""


def write_job(folder: Path, name: str, action: str = "") -> Path:
    # read before the job imports anything heavy: a worker's fork has the libraries already
    source = (JOB.replace("TORCH_BEFORE", "'torch' in sys.modules").replace("SEABORN_BEFORE", "'seaborn' in sys.modules")
              .replace("ACTION", textwrap.dedent(action)))
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


def job(run, script, *args, extra_env=None, command=None, **kw):
    """A script job as Snakemake starts it: ``PYTHON SCRIPT``, through the launcher."""
    work, env, _ = run
    command = command or [*LAUNCH, sys.executable, str(script), *args]
    return subprocess.run(command, cwd=work, env={**env, **(extra_env or {})}, capture_output=True, text=True,
                          timeout=300, **kw)


def worker_log(work: Path) -> str:
    return (work / "results/logs/warm_worker.log").read_text()


def test_a_job_runs_in_a_fork_of_the_worker_with_its_streams_and_settings(run):
    work, _, _ = run
    script = write_job(work, "job.py")
    first = job(run, script, extra_env={"JOB_MARKER": "one"})
    second = job(run, script, extra_env={"JOB_MARKER": "one"})
    other = job(run, script, extra_env={"JOB_MARKER": "two"})  # a job of another environment
    for proc in (first, second, other):
        assert proc.returncode == 0, proc.stderr
        assert "to stderr" in proc.stderr
    a, b, c = (json.loads(p.stdout.splitlines()[-1]) for p in (first, second, other))
    # the script ran in the worker's children, not in the job's own process, and found torch imported
    assert a["torch_loaded_before"] and b["torch_loaded_before"] and a["seaborn_loaded_before"]
    assert a["ppid"] == b["ppid"] != os.getpid()  # one worker for both jobs of the run
    assert a["pid"] != b["pid"]
    # a worker serves one environment: a job with another gets (and starts) its own worker
    assert (a["marker"], c["marker"]) == ("one", "two") and c["torch_loaded_before"] and c["ppid"] != a["ppid"]
    assert a["cwd"] == str(work) and a["argv"] == [str(script)] and a["name"] == "__main__"
    # the fork's figures, on its stderr (the job's log where the script has a snakemake.log)
    assert "warm worker: ran in a fork of the run's worker" in first.stderr and "status 0" in first.stderr
    log = worker_log(work)
    assert "imported snakemake.script, numpy, pandas" in log and log.count("job pid") >= 4  # started and ended, twice


def _own_process(run, command, tmp_path, **kw):
    """Run ``command`` in a Popen (to know its pid) and return what the job printed."""
    work, env, _ = run
    proc = subprocess.Popen(command, cwd=work, env={**env, **kw.pop("extra_env", {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    out = json.loads(stdout.splitlines()[-1])
    return out, out["pid"] == proc.pid, stderr


def test_the_launcher_execs_the_command_where_there_is_no_worker(run, tmp_path):
    """No run (a cluster job), the switch off: the launcher becomes ``PYTHON SCRIPT`` itself (same pid)."""
    script = write_job(tmp_path, "job.py")
    for extra in ({ENV_SWITCH: "0"}, {ENV_RUN: ""}):
        out, same_process, _ = _own_process(run, [*LAUNCH, sys.executable, str(script)], tmp_path, extra_env=extra)
        assert same_process and not out["torch_loaded_before"] and out["argv"] == [str(script)]


def test_the_launcher_execs_any_other_command_unchanged(run, tmp_path):
    """With a worker running, only ``PYTHON SCRIPT.py`` goes to it: an argument more, an option, another
    interpreter run as given, in the launcher's own process."""
    script = write_job(tmp_path, "job.py")
    other = tmp_path / "python-other"
    other.symlink_to("/usr/bin/env")  # another interpreter: `python-other python3 SCRIPT`
    for command, argv in (
        ([sys.executable, str(script), "x"], [str(script), "x"]),
        ([sys.executable, "-u", str(script)], [str(script)]),
        ([str(other), sys.executable, str(script)], [str(script)]),
    ):
        out, same_process, _ = _own_process(run, [*LAUNCH, *command], tmp_path)
        assert same_process and not out["torch_loaded_before"] and out["argv"] == argv, command


def test_the_shell_prefix_sends_script_jobs_to_the_worker_and_leaves_shell_commands_alone(run, tmp_path):
    """The Snakefile's shell.prefix, in bash as Snakemake runs it: ``PYTHON SCRIPT`` reaches the worker;
    a shell rule's compound command (cd, if, ;, a builtin) runs to its end; a bare ``python`` is not redirected."""
    work, env, _ = run
    assert usable_prefix(sys.executable, "/bin/bash") and not usable_prefix(sys.executable, "/bin/sh")
    prefix = shell_prefix(sys.executable).format()  # Snakemake formats it (braces doubled)
    script = write_job(tmp_path, "job.py")
    proc = subprocess.run(["bash", "-c", f"{prefix} {sys.executable} {script}"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and json.loads(proc.stdout.splitlines()[-1])["torch_loaded_before"], proc.stderr
    shell_rule = (f"cd {tmp_path} && if true; then echo one > a.txt; fi; export X=2; echo $X >> a.txt; "
                  f"{sys.executable} -c 'print(3)' >> a.txt; false || echo four >> a.txt")
    proc = subprocess.run(["bash", "-c", f"{prefix} {shell_rule}"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and (tmp_path / "a.txt").read_text().split() == ["one", "2", "3", "four"], proc.stderr
    failing = subprocess.run(["bash", "-c", f"{prefix} {sys.executable} -c 'import sys; sys.exit(4)'; echo not-reached"],
                             cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert failing.returncode == 4 and "not-reached" not in failing.stdout  # set -e kept


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
    assert json.loads(proc.stdout.splitlines()[-1])["torch_loaded_before"]


def test_a_job_that_ends_itself_gets_its_log_line(run, tmp_path):
    """A script that ends with end_job() (os._exit) still gets the fork's line, with its status."""
    script = write_job(tmp_path, "job.py", "from proxy_attention.logs import end_job\nend_job(5)")
    proc = job(run, script)
    assert proc.returncode == 5, proc.stderr
    assert "warm worker: ran in a fork of the run's worker" in proc.stderr and "status 5" in proc.stderr


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
    proc = subprocess.Popen([*LAUNCH, sys.executable, str(script)], cwd=work, env=env, stdout=subprocess.PIPE, text=True)
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
    proc = subprocess.run([*LAUNCH, sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    worker = json.loads(proc.stdout.splitlines()[-1])["ppid"]
    assert not _gone(worker, within=1)  # still there between the jobs of a run
    sleeper.kill()
    sleeper.wait()
    assert _gone(worker, within=5)
    assert "Snakemake (pid" in worker_log(tmp_path) and worker_log(tmp_path).rstrip().endswith("exit")


def test_the_address_covers_the_run_the_environment_and_the_switch(run):
    _, _, sleeper = run
    env = {ENV_RUN: str(sleeper.pid), "PATH": "/bin"}
    assert worker_address(env) == worker_address(dict(env))
    assert worker_address(env) != worker_address({**env, ENV_RUN: str(os.getpid())})  # another run
    assert worker_address(env) != worker_address({**env, "OMP_NUM_THREADS": "4"})  # read by imports
    assert worker_address({**env, ENV_SWITCH: "0"}) is None
    assert worker_address({"PATH": "/bin"}) is None
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert worker_address({**env, ENV_RUN: ended.stdout.strip()}) is None  # left over from an ended run
    assert worker_address(env).startswith(b"\0proxy-attention-worker-")


def test_a_worker_with_threads_takes_no_job(run, tmp_path):
    """With BLAS asked for 2 threads, importing numpy starts one: that worker refuses to fork, and the
    job runs in its own interpreter, with the reason on its stderr."""
    out, same_process, stderr = _own_process(run, [*LAUNCH, sys.executable, str(write_job(tmp_path, "job.py"))],
                                             tmp_path, extra_env={"OPENBLAS_NUM_THREADS": "2"})
    assert same_process and not out["torch_loaded_before"]
    assert "threads after its imports" in stderr and "not safe to fork" in stderr



def test_the_launcher_imports_nothing_heavy():
    """The launcher runs before every script job: it must not load what the worker is there for."""
    probe = ("import sys\nimport proxy_attention.workers.launch\n"
             "heavy = {'torch', 'numpy', 'pandas', 'timm', 'matplotlib', 'snakemake'}\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert out.stdout.strip() == "[]"
