"""A job imports only what its step needs: the heavy libraries each workflow script's imports load.

Without a warm worker (a cluster, PROXY_ATTENTION_WARM=0, threads above 1) every job is a fresh
interpreter, so a library a script's imports pull in for nothing is paid once per job (issue 14: a
training job paid 2.4 s for scikit-learn and SciPy it never used). In a local run the job's command
hands it to the run's warm worker (the Snakefile's shell.prefix, tests/workflow/test_workers.py), whose
imports no job pays for.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# script -> libraries its job must not load
MUST_NOT_LOAD = {
    "train_round": ["pytorch_grad_cam", "cv2", "matplotlib", "seaborn", "sklearn", "scipy"],
    "fold_summary": ["torch", "matplotlib", "sklearn"],
    "aggregate": ["torch", "matplotlib", "sklearn"],
    "leakage_audit": ["torch", "matplotlib", "sklearn"],
    "index_dataset": ["torch", "matplotlib", "sklearn"],
    "split_dataset": ["torch", "matplotlib"],
    "plot_test_accuracy": ["torch", "timm", "pytorch_grad_cam"],
    "plot_learning_curves": ["torch", "timm", "pytorch_grad_cam"],
    "select_configs": ["torch", "matplotlib", "sklearn"],
    "plot_selection": ["torch", "timm", "pytorch_grad_cam"],
    "explain_gallery": ["torch", "timm", "pytorch_grad_cam", "cv2", "seaborn", "scipy"],
    "plot_gallery": ["torch", "timm", "pytorch_grad_cam", "seaborn", "scipy"],
}


def loaded_by(script: str, modules: list[str]) -> list[str]:
    tree = ast.parse((REPO / "workflow" / "scripts" / f"{script}.py").read_text())
    imports = "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    assert imports, f"{script}.py has no top-level imports to check"
    probe = f"import sys\n{imports}\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("script", sorted(MUST_NOT_LOAD))
def test_job_does_not_import_what_it_does_not_use(script):
    assert loaded_by(script, MUST_NOT_LOAD[script]) == []


@pytest.mark.parametrize("module", ["proxy_attention.proxy.job", "proxy_attention.cams"])
def test_making_cams_imports_no_pytorch_grad_cam(module):
    """The proxy step (train_proxy's fresh interpreter) and the CAM arms' training jobs make their CAMs with
    proxy_attention.cams, whose classes do not import the library's package: it pulls in OpenCV, Matplotlib,
    SciPy and scikit-learn (2.5 s, ~120 MB per job; benchmarks/README.md section 7)."""
    heavy = ["pytorch_grad_cam", "cv2", "matplotlib", "sklearn", "scipy", "ttach"]
    probe = f"import sys, {module}\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == []


def test_the_probe_sees_a_heavy_import():
    # the check can fail: the explain job does use pytorch-grad-cam, and the probe must see it
    assert "pytorch_grad_cam" in loaded_by("explain", ["pytorch_grad_cam"])


def test_cam_gallery_draws_without_torch(tmp_path):
    # a lazy import inside a plotting function is paid by the job too: the CAM gallery used
    # pytorch-grad-cam's overlay, which loaded torch, torchvision and OpenCV into a figure job (3 s)
    out = tmp_path / "gallery.png"
    probe = f"""
import sys
import numpy as np
from proxy_attention.report.plots import plot_cam_gallery
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
column = {{"title": "baseline", "cams": rng.random((2, 8, 8)), "preds": ["1", "2"], "scores": [0.1, -0.2]}}
plot_cam_gallery(images, ["1", "3"], [column, dict(column, title="proxy")], {str(out)!r})
print(' '.join(m for m in ("torch", "timm", "pytorch_grad_cam", "cv2") if m in sys.modules))
"""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == []
    assert out.stat().st_size > 1000


def test_end_job_exits_zero_with_the_log_written(tmp_path):
    # torch jobs end with os._exit to skip the interpreter's teardown; what they logged and
    # printed must still reach the log file and stdout, and the exit status must be 0
    log = tmp_path / "job.log"
    probe = f"""
import logging
from proxy_attention.logs import end_job, setup_logging
setup_logging({str(log)!r})
logging.getLogger("proxy_attention").info("last line of the job")
print("to stdout", end="")
end_job()
raise SystemExit(3)  # never reached
"""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "to stdout"
    assert log.read_text().rstrip().endswith("last line of the job")
