"""benchmarks/gpu_check.sh: its --device cpu mode runs every stage at tiny sizes, so the GPU check cannot rot.

The figures are not checked against targets (no timed tests): only that each stage ran and printed
its lines in the shape a user reads, and that a stage's failure is reported and fails the script.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from proxy_attention.augment.table import names

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
NUM = r"[\d,]+\.\d"  # bench.py's fmt(): 1,234.5


def gpu_check(*args, python=sys.executable, timeout=1800):
    env = dict(os.environ, PYTHON=python)
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def cpu_check():
    proc = gpu_check("--device", "cpu")
    assert proc.returncode == 0, (f"gpu_check.sh --device cpu failed ({proc.returncode}):\n"
                                  f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc.stdout


def line(out: str, pattern: str) -> re.Match:
    m = re.search(pattern, out, re.M)
    assert m, f"no line matching {pattern!r} in:\n{out}"
    return m


@pytest.mark.slow
def test_every_stage_runs_and_is_reported(cpu_check):
    for name in ("train", "proxy", "augment", "e2e"):
        line(cpu_check, rf"^   {name}\s+ok\s+\d+ s$")
    line(cpu_check, r"^   compile\s+skipped")
    assert "FAILED" not in cpu_check


@pytest.mark.slow
def test_training_line_with_the_cuda_paths_and_anchors(cpu_check):
    m = line(cpu_check, rf"^1\. training resnet18 32px bs16 1 threads on cpu \(CPU with the CUDA paths: bfloat16, "
                        rf"channels_last\), 32 images: project ({NUM}) img/s, bare loop ({NUM}) img/s, ratio (\d+\.\d\d)")
    assert all(float(g.replace(",", "")) > 0 for g in m.groups())
    line(cpu_check, r"^   published anchors, resnet18 224 px training \(NOTES\.md §5, §7\): "
                    r"timm, RTX 3090, AMP, channels_last 3,482 img/s \(at 224 px; this run 32 px: no ratio\)$")


@pytest.mark.slow
def test_proxy_step_lines(cpu_check):
    line(cpu_check, rf"^2\. proxy step resnet18 32px GradCAM\+\+ at 'layer3', 32 wrong images .*bare batched CAM, "
                    rf"pytorch-grad-cam's GradCAMPlusPlus, {NUM} img/s")
    line(cpu_check, rf"^   proxy step as the pipeline runs it .* {NUM} img/s, ratio \d+\.\d\d")
    line(cpu_check, rf"^   counting the search where it now runs .* {NUM} img/s, ratio \d+\.\d\d")
    line(cpu_check, rf"^   a proxy step that searches itself .* {NUM} img/s, ratio \d+\.\d\d")
    line(cpu_check, rf"^   the same batched CAM with the pipeline's device classes .* {NUM} img/s, ratio \d+\.\d\d to the "
                    rf"library's; the step against it \d+\.\d\d, with the search \d+\.\d\d$")
    line(cpu_check, r"^   published anchor: the thesis's proxy step, .* about 133\.3 img/s .*; this run \d+\.\d\d x$")


@pytest.mark.slow
def test_every_augmentation_arm_has_its_line(cpu_check):
    line(cpu_check, r"^5\. training throughput by augmentation, resnet18 32px bs16 1 threads on cpu \(CPU with the CUDA paths: "
                    r"fp32, channels_last\), 32 images")
    extra = r"  -?\d+\.\d\d ms/img above none = -?\d+\.\d\d x the extra pass \(target <= 1\)"
    for name in names():  # an arm that needs a CAM is also set against the extra pass it pays for
        line(cpu_check, rf"^   {re.escape(name)}\s+{NUM} img/s  ratio to none \d+\.\d\d  cost [+-]\d+ %({extra})?$")
    for name in ("saliencymix", "attentive_cutmix", "keepaugment"):
        line(cpu_check, rf"^   {name}\s+{NUM} img/s  ratio to none \d+\.\d\d  cost [+-]\d+ %{extra}$")
    line(cpu_check, rf"^   the extra pass alone \(Trainer\._cam: .*\) {NUM} img/s = \d+\.\d\d ms/img$")


@pytest.mark.slow
def test_end_to_end_runs_compared_row_by_row(cpu_check):
    m = line(cpu_check, r"^8\. end to end, tiny\.yaml \(small: datasets, explain, run_folds overridden\), snakemake --cores \d+: "
                        r"cpu [\d.]+ s \(rounds [\d.]+ s\), cpu [\d.]+ s \(rounds [\d.]+ s\); (\d+) and (\d+) rows of "
                        r"runs\.csv, 0 in one run only$")
    assert int(m.group(1)) == int(m.group(2)) > 0
    rows = re.findall(r"^   +\d+ \S+ +\d+ +\S+ / \S+ .* / .* / .* / .*  \S+$", cpu_check, re.M)
    assert len(rows) == int(m.group(1))
    # the CPU twice: the same numbers (the runs are deterministic), so every difference is 0
    line(cpu_check, r"^   cpu against cpu: max \|Δ test_acc\| 0, max \|Δ val_acc\| 0, max \|Δ test_loss\| 0, "
                    r"max \|Δ n_proxies\| 0 ")


def test_a_failing_stage_fails_the_script_and_the_others_still_run():
    proc = gpu_check("--device", "cpu", python="false")  # every bench.py call exits 1
    assert proc.returncode == 1
    for name in ("train", "proxy", "augment", "e2e"):
        assert re.search(rf"^   {name}\s+FAILED\s+\d+ s  \(exit 1\)$", proc.stdout, re.M), proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine this would run the whole check")
def test_no_gpu_and_bad_arguments_are_refused_at_once():
    proc = gpu_check()
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr
    proc = gpu_check("--device", "tpu")
    assert proc.returncode == 2 and "--device must be" in proc.stderr
