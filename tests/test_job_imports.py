"""A job imports only what its step needs: the heavy libraries each workflow script's imports load.

Every job is a fresh interpreter, so a library a script's imports pull in for nothing is paid
once per job (issue 14: a training job paid 2.4 s for scikit-learn and SciPy it never used).
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

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


def test_the_probe_sees_a_heavy_import():
    # the check can fail: the explain job does use pytorch-grad-cam, and the probe must see it
    assert "pytorch_grad_cam" in loaded_by("explain", ["pytorch_grad_cam"])
