"""The disk use of the planned rounds, known before a run (issue 28): sizes from the model and the
optimizer, the plan's kept and let-go rounds, and the warning on a file system too small for them."""

import os
import re
import shutil
from collections import namedtuple

import pytest
import yaml
from conftest import TINY, run_snakemake
from test_train import run, tiny_data

from proxy_attention import footprint
from proxy_attention.footprint import ModelSizes, PlannedRound
from proxy_attention.paths import intermediate_rounds_constraint

RUN = "results/runs/digits/resnet18/3p3p3/honest/seed0/fold0"


def test_sizes_match_the_checkpoints_a_round_writes(tmp_path):
    """The estimate from the model's parameters and the optimizer's state is what torch.save writes."""
    sizes = footprint.measure("resnet10t", 3, {}, "adamw")
    assert footprint.optimizer_state_ratio("adamw") == 2.0
    assert footprint.optimizer_state_ratio("sgd") == 1.0  # timm's sgd: momentum 0.9
    data = tiny_data()
    r0, _ = run(tmp_path, "r0", "1p1", 0, data)
    r1, _ = run(tmp_path, "r1", "1p1", 1, data, init=r0 / "checkpoint.pt")
    continued, last = (r0 / "checkpoint.pt").stat().st_size, (r1 / "checkpoint.pt").stat().st_size
    assert sizes.continued == pytest.approx(continued, rel=0.03)
    assert sizes.weights == pytest.approx(last, rel=0.03)


def test_model_sizes_are_remembered(monkeypatch, tmp_path):
    monkeypatch.setenv("PROXY_ATTENTION_CACHE", str(tmp_path))
    first = footprint.model_sizes("resnet10t", 10, {}, "adamw")
    def measured_again(*args):
        raise RuntimeError("measured again")

    monkeypatch.setattr(footprint, "measure", measured_again)
    assert footprint.model_sizes("resnet10t", 10, {}, "adamw") == first
    with pytest.raises(RuntimeError, match="measured again"):
        footprint.model_sizes("resnet10t", 11, {}, "adamw")  # another head: measured


def rounds(n_configs=2, n_steps=2, fold="fold0"):
    """round 0, then baseline and every proxy run's rounds 1..n_steps."""
    out = [PlannedRound(f"{RUN[:-5]}{fold}/round0/checkpoint.pt", "resnet18", "round0")]
    for method in ["baseline"] + [f"proxy/c{i}" for i in range(n_configs)]:
        for r in range(1, n_steps + 1):
            kind = "last" if r == n_steps else "intermediate"
            out.append(PlannedRound(f"{RUN[:-5]}{fold}/{method}/round{r}/checkpoint.pt", "resnet18", kind))
    return out


SIZES = {"resnet18": ModelSizes(weights=45, optimizer=90)}


def test_plan_keeps_round0_and_last_rounds_and_lets_the_intermediate_ones_go():
    planned = rounds() + rounds()[:1]  # round 0 is shared: counted once
    kept = footprint.plan(planned, SIZES, keep_intermediate=True, exists=lambda p: False)
    assert (kept.rounds, kept.intermediate_rounds, kept.let_go_rounds) == (7, 3, 0)
    assert kept.kept == kept.peak == kept.to_write == 135 + 3 * 135 + 3 * 45
    assert kept.all_kept_full == 7 * 135
    let_go = footprint.plan(planned, SIZES, keep_intermediate=False, exists=lambda p: False)
    assert let_go.let_go_rounds == 3
    assert let_go.kept == let_go.to_write == 135 + 3 * 45
    assert let_go.peak == let_go.kept + let_go.in_flight == let_go.kept + 3 * 135  # one round per run at once
    # a finished run needs nothing more; what exists is not written again
    on_disk = {r.path for r in planned if "baseline" in r.path or "round0" in r.path}
    part = footprint.plan(planned, SIZES, keep_intermediate=False, exists=on_disk.__contains__)
    assert part.to_write == 2 * 45 and part.in_flight == 2 * 135


def test_the_warning_fires_on_a_small_file_system(monkeypatch, tmp_path):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 200, 200))
    monkeypatch.chdir(tmp_path)
    free = footprint.free_space("results")  # results/ does not exist yet: its parent's file system
    assert free == 200
    planned = rounds()
    for keep, expect in ((True, "lets the intermediate rounds go"), (False, "No space left on device")):
        fp = footprint.plan(planned, SIZES, keep_intermediate=keep, exists=lambda p: False)
        message, warning = footprint.describe(fp, SIZES, "adamw", keep, {"digits": (10, True)}, free)
        assert "7 round checkpoints" in message and warning and expect in warning, (message, warning)
    # only the worst case of the let-go rounds exceeds it: a milder warning
    fp = footprint.plan(planned, SIZES, keep_intermediate=False, exists=lambda p: False)
    message, warning = footprint.describe(fp, SIZES, "adamw", False, {"digits": (10, True)}, fp.kept + 1)
    assert "may hold up to" in warning
    message, warning = footprint.describe(fp, SIZES, "adamw", False, {"digits": (10, True)}, fp.peak)
    assert warning is None


def test_the_dry_run_prints_the_footprint_and_warns_on_a_small_file_system(tmp_path):
    """`snakemake -n` itself, with shutil.disk_usage reporting 1 MB free (a sitecustomize on its path)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import shutil, collections\n"
        "_U = collections.namedtuple('Usage', 'total used free')\n"
        "shutil.disk_usage = lambda path: _U(10**9, 10**9 - 10**6, 10**6)\n")
    cfg = yaml.safe_load(TINY.read_text())
    cfg["schedules"] = [[1, "p", 1, "p", 1]]
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = run_snakemake(tmp_path / "work", "-n", config=path, env=env)
    text = out.stdout + out.stderr
    line = next(ln for ln in text.splitlines() if "Disk use of the planned training rounds" in ln)
    assert re.search(r"14 round checkpoints \(resnet10t: 20 MB weights \+ 39 MB adamw state\)", line), line
    assert "6 intermediate rounds let go" in line and "1 MB free" in line, line
    assert "No space left on device" in text, text[-3000:]


def test_the_intermediate_rounds_constraint():
    constraint = intermediate_rounds_constraint({"3p3": 1, "3p3p3": 2, "1p1p1p1": 3})
    pattern = re.compile(rf"results/runs/d/m/(?P<schedule>{constraint})/honest/seed0/fold0/(?P<rest>.+)")
    bench = re.compile(rf"results/benchmarks/train/d/m/(?P<schedule>{constraint})/honest/seed0/fold0/(?P<rest>.+)")

    def intermediate(schedule, rest, regex=pattern):
        path = (regex.pattern.split("(?P<schedule>")[0] + schedule + "/honest/seed0/fold0/" + rest)
        return bool(regex.fullmatch(path))

    for schedule, r, expected in (("3p3", 1, False), ("3p3p3", 1, True), ("3p3p3", 2, False),
                                  ("1p1p1p1", 1, True), ("1p1p1p1", 2, True), ("1p1p1p1", 3, False)):
        assert intermediate(schedule, f"baseline/round{r}/checkpoint.pt") is expected, (schedule, r)
        assert intermediate(schedule, f"proxy/cam_method~gradcam/round{r}/metrics.json") is expected
        assert intermediate(schedule, f"proxy/cam_method~gradcam/matched/round{r}/train_set.npz") is expected
        assert intermediate(schedule, f"proxy/cam_method~gradcam/proxy{r}/images") is expected
        assert intermediate(schedule, f"baseline/round{r}.tsv", bench) is expected
    assert not intermediate("3p3p3", "round0/checkpoint.pt")
    assert intermediate_rounds_constraint({"3p3": 1, "3": 0}) is None
