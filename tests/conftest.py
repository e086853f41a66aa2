import atexit
import io
import os
import shutil
import subprocess
import sys
import tempfile
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


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Everything under tests/workflow/ (Snakemake runs, long end-to-end scripts) is marked ``workflow``:
    ``pytest tests/unit`` or ``pytest -m "not workflow"`` runs the fast part alone.

    Under ``-n 2 --dist loadfile`` (pyproject.toml) a file's tests run one after the other on one worker,
    so a module fixture's run is built once (under ``loadgroup`` four module fixtures were built twice,
    by ``--durations``); the session's ``tiny_run`` is built at most once per worker.

    The SLURM test last: it installs slurm-wlm, and once its cluster is stopped every later
    Snakemake start waits 9 s for the SLURM plugin's `scontrol show config` to time out."""
    for item in items:
        if WORKFLOW_TESTS in item.path.parents:
            item.add_marker(pytest.mark.workflow)
    items.sort(key=lambda item: item.path.name == "test_slurm.py")


SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
TINY = REPO / "tests" / "configs" / "tiny.yaml"


def run_snakemake(workdir, *args, config=TINY, check=True, **kw):
    """Run the workflow in ``workdir`` with ``config``; raise with its output when it fails and ``check``."""
    cmd = SNAKEMAKE + ["--directory", str(workdir), "--configfile", str(config), "--cores", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One finished local run of tests/configs/tiny.yaml, shared by the tests that read it."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    run_snakemake(workdir)
    return workdir


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
