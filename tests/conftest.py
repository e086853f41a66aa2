import atexit
import fcntl
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
# tools/report_check.py (the report checker is a dev tool, not part of the runtime package)
sys.path.insert(0, str(REPO / "tools"))

# Keep torch to the cores CI has, and never reach a model hub from a test.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Every Snakemake start loads the SLURM executor plugin, which runs `scontrol show config`; where
# slurm-wlm is installed but no controller answers (a machine after test_slurm.py stopped its
# cluster, or while another worker has not started it yet) that call waits 9 s for its timeout, on
# every start (benchmarks/README.md, section 6). The tests that do not use SLURM see no SLURM
# configuration, as on a machine without SLURM: scontrol then fails at once. test_slurm.py gives its
# commands the real one (slurm_env()).
# The machine's SLURM_CONF ("" for none), kept in the environment: this file is imported more than once
# (by pytest, and as `conftest` by the test modules), and xdist's workers inherit the first setting.
if "PROXY_ATTENTION_TESTS_SLURM_CONF" not in os.environ:
    os.environ["PROXY_ATTENTION_TESTS_SLURM_CONF"] = os.environ.get("SLURM_CONF", "")
os.environ["SLURM_CONF"] = os.devnull


def slurm_env(**extra) -> dict:
    """The environment with the machine's SLURM configuration, for the commands of the SLURM test."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    if os.environ["PROXY_ATTENTION_TESTS_SLURM_CONF"]:
        env["SLURM_CONF"] = os.environ["PROXY_ATTENTION_TESTS_SLURM_CONF"]
    return {**env, **extra}


# The config's model check remembers what passed (proxy_attention.modelcheck): in a folder of this
# test session, shared by its Snakemake runs, never the user's ~/.cache.
os.environ["PROXY_ATTENTION_CACHE"] = tempfile.mkdtemp(prefix="proxy-attention-tests-")
atexit.register(shutil.rmtree, os.environ["PROXY_ATTENTION_CACHE"], ignore_errors=True)  # nothing left in $TMPDIR


def write_colour_classes(folder, per_class: int, noise: float, strength: float) -> None:
    """``folder/class{0,1,2}/img{i}.png``: 8x8 RGB images, red, green or blue at ``strength`` plus seeded noise."""
    rng = np.random.default_rng(0)
    for c, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        d = folder / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            arr = (rng.random((8, 8, 3)) * noise + np.array(colour) * strength).clip(0, 255).astype(np.uint8)
            Image.fromarray(arr).save(d / f"img{i}.png")


@pytest.fixture
def image_folder(tmp_path):
    """A small class-folder dataset: 3 classes x 12 RGB images of 8x8 with class-specific colours."""
    root = tmp_path / "ds"
    write_colour_classes(root / "train", per_class=12, noise=60, strength=0.7)
    return root


WORKFLOW_TESTS = Path(__file__).resolve().parent / "workflow"
# The files that take longest, longest first (pytest --durations, summed per file): under
# ``--dist loadfile --no-loadscope-reorder`` (pyproject.toml) a worker takes the next file in this
# order whenever it runs short of work, so the long files start at once on both workers and the short
# ones fill the end, instead of one long file starting last and running alone. The SLURM test first:
# its cluster is up while it runs, and the other tests' Snakemake starts do not ask SLURM (SLURM_CONF).
LONGEST_FIRST = (
    "test_slurm.py", "test_workflow.py", "test_let_go_workflow.py", "test_stages_workflow.py",
    "test_gpu_check.py", "test_workflow_datasets.py", "test_workflow_folder.py", "test_controls.py",
    "test_augment_workflow.py", "test_report.py", "test_params_canonical.py", "test_report_stale_workflow.py",
)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Everything under tests/workflow/ (Snakemake runs, long end-to-end scripts) is marked ``workflow``:
    ``pytest tests/unit`` or ``pytest -m "not workflow"`` runs the fast part alone.

    Under ``-n 2 --dist loadfile`` (pyproject.toml) a file's tests run one after the other on one worker,
    so a module fixture's run is built once (under ``loadgroup`` four module fixtures were built twice,
    by ``--durations``); the session's finished tiny run is built once for all workers (``built_once``).
    The files of ``LONGEST_FIRST`` go first, in its order; the rest keep their order."""
    for item in items:
        if WORKFLOW_TESTS in item.path.parents:
            item.add_marker(pytest.mark.workflow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def run_snakemake(workdir, *args, config=TINY, check=True, **kw):
    """Run the workflow in ``workdir`` with ``config``; raise with its output when it fails and ``check``."""
    cmd = SNAKEMAKE + ["--directory", str(workdir), "--configfile", str(config), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` run once per test session, by the first xdist worker that asks; the others wait
    for it and get the same finished folder, to read or copy, never to change (session fixtures run once
    per worker, so without this each worker built its own). A file lock in the session's temporary root,
    shared by its workers, serialises them; a failed build fails its caller, and every later caller at
    once with the same error, rather than running it again."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common folder
    folder, failed = root / "built_once" / name, root / "built_once" / f"{name}.failed"
    folder.parent.mkdir(exist_ok=True)
    with open(root / "built_once" / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if failed.exists():
            raise AssertionError(f"the shared {name} failed in another worker:\n{failed.read_text()}")
        if not (folder.parent / f"{name}.done").exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
            folder.mkdir()
            try:
                build(folder)
            except BaseException as error:
                failed.write_text(str(error)[-8000:])
                raise
            (folder.parent / f"{name}.done").touch()
    return folder


def copy_run(finished: Path, workdir: Path) -> Path:
    """A copy of a finished run that Snakemake sees as finished: its links as links, its files' times kept."""
    shutil.copytree(finished, workdir, symlinks=True, copy_function=shutil.copy2)
    return workdir


@pytest.fixture(scope="session")
def tiny_run_built(tmp_path_factory):
    """One finished local run of tests/configs/tiny.yaml for the whole session (all workers): never
    written to; ``tiny_run`` hands out copies, and runs that extend the tiny grid start from one."""
    return built_once(tmp_path_factory, "tiny_run", run_and_let_the_worker_end)


def run_and_let_the_worker_end(workdir: Path, timeout_s: float = 60) -> None:
    """The tiny run, then up to ``timeout_s`` for its warm worker to see the run end and log its last
    line (``exit``), which it does just after Snakemake returns: a copy taken at once would have the log
    without it. A worker that never ends is not waited for past that: the test that reads its log fails."""
    run_snakemake(workdir)
    log = workdir / "results" / "logs" / "warm_worker.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and log.exists() and not log.read_text().rstrip().endswith("exit"):
        time.sleep(0.2)


@pytest.fixture(scope="session")
def tiny_run(tiny_run_built, tmp_path_factory):
    """This worker's copy of the session's finished tiny run, shared by the tests that read it (a test
    that changes a file puts it back)."""
    return copy_run(tiny_run_built, tmp_path_factory.mktemp("tiny_run") / "work")


# pictures for the near-duplicate tests (test_duplicates, test_index, test_split)
def scene(seed: int = 1, side: int = 66) -> Image.Image:
    """A photo-like picture: smooth random colours (10x10 upsampled)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((10, 10, 3)) * 255).astype(np.uint8)).resize((side, side),
                                                                                 Image.Resampling.BICUBIC)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def lookalike(img: Image.Image) -> Image.Image:
    """The same background with something else in it: a small bright disc (another bird on the same sky)."""
    out = img.copy()
    ImageDraw.Draw(out).ellipse((24, 20, 34, 30), fill=(250, 250, 250))
    return out


def phash_distance(a: Image.Image, b: Image.Image) -> int:
    return int(imagehash.phash(a) - imagehash.phash(b))
