"""End to end: Snakemake runs the whole chain on a tiny config in a temporary directory.

Checks the artifacts and the summary, that a finished grid is a no-op, that a new grid
value runs only the new jobs, that one fold can be rerun alone, that a killed run
finishes with the same numbers, and that bad configs stop before any job.
"""

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import SNAKEMAKE, TINY
from conftest import run_snakemake as snakemake

from proxy_attention.train.predictions import KEY as SEARCH_KEY

RUN = "results/runs/digits/resnet10t/1p1/honest/seed0"
PROXY = ("proxy/cam_method~gradcampp/proxy_threshold~0.5/proxy_image_weight~0.5/subset_wrong~1.0/clear_every_step~False/"
         "subset_order~random/replacement~multiply/cam_target~predicted")

pytestmark = pytest.mark.slow

# Rules that build the summary tables, figures and report items from all runs.
SUMMARY_RULES = {
    "all", "aggregate", "compare", "leakage_audit", "protocol_comparison", "tensorboard", "plot_paired_differences",
    "plot_heatmap", "plot_confusion", "plot_learning_curves", "plot_test_accuracy", "plot_proxy_counts",
    "plot_gallery", "plot_classes", "plot_runtime", "plot_explain_vs_accuracy",
}


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    jobs, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if not parts or parts[0] == "total":
                break
            if len(parts) == 2 and parts[1].isdigit():
                jobs[parts[0]] = int(parts[1])
    return jobs


def untimed(metrics: dict) -> dict:
    """A round's metrics.json without its times (``*_s``), which differ between runs."""
    return {k: v for k, v in metrics.items() if not k.endswith("_s")}


@pytest.fixture
def finished(tiny_run):
    return tiny_run


def test_artifacts_and_summary(finished):
    runs = pd.read_csv(finished / "results/summary/runs.csv")
    # 2 folds x (baseline, proxy, compute-matched baseline) x rounds 0..1
    assert len(runs) == 12
    assert set(runs.method) == {"baseline", "proxy", "baseline_matched"}
    assert runs.groupby(["method", "fold"])["round"].apply(sorted).map(tuple).unique().tolist() == [(0, 1)]
    assert runs.test_acc.between(0, 1).all() and runs.val_acc.between(0, 1).all()
    # round 0 is shared: identical numbers for baseline and proxy
    r0 = runs[runs["round"] == 0].pivot(index="fold", columns="method", values="test_acc")
    assert (r0.baseline == r0.proxy).all() and (r0.baseline == r0.baseline_matched).all()
    # proxies exist only in proxy rounds, and the proxy run trained on more images
    r1 = runs[runs["round"] == 1].set_index(["fold", "method"])
    for fold in (0, 1):
        assert r1.loc[(fold, "baseline"), "n_proxies"] == 0
        assert r1.loc[(fold, "proxy"), "n_proxies"] > 0
        assert r1.loc[(fold, "proxy"), "images_seen"] > r1.loc[(fold, "baseline"), "images_seen"]
        # the compute-matched baseline sees as many images and takes as many steps as the proxy run, with no proxy
        for key in ("images_seen", "optimizer_steps", "n_train_images"):
            assert r1.loc[(fold, "baseline_matched"), key] == r1.loc[(fold, "proxy"), key], key
        assert r1.loc[(fold, "baseline_matched"), "n_proxies"] == 0
    epochs = pd.read_csv(finished / "results/summary/epochs.csv")
    assert len(epochs) == 2 * 3 * 2  # folds x methods x epochs
    audit = pd.read_csv(finished / "results/summary/leakage_audit.csv")
    # per fold: round0 + round1 of baseline, proxy and matched runs, and the proxy step manifest
    assert (audit.status == "ok").all() and len(audit) == 2 * (4 + 1)
    assert (finished / "results/summary/test_accuracy.svg").stat().st_size > 1000

    split = pd.read_csv(finished / "results/data/digits/split.csv")
    for fold in (0, 1):
        step = finished / RUN / f"fold{fold}" / PROXY / "proxy1"
        manifest = pd.read_csv(step / "manifest.csv")
        assert len(manifest) == r1.loc[(fold, "proxy"), "n_proxies"]
        assert sorted(p.name for p in (step / "images").glob("*.png")) == sorted(Path(p).name for p in manifest.proxy_file)
        # proxies come only from the fold's training part
        rows = split.loc[manifest.index_row]
        assert (rows.split == "trainval").all() and (rows.fold != fold).all()
        assert (manifest.pred_idx != manifest.label_idx).all()
        assert manifest.frac_changed.mean() > 0
        assert np.load(step / "cams.npz")["cam"].shape[0] == len(manifest)
        # the search was recorded by round 0's training job; rounds that feed no proxy step record none
        stats = json.loads((step / "stats.json").read_text())
        assert stats["search"] == "recorded by the training job"
        assert stats["n_searched"] == ((split.split == "trainval") & (split.fold != fold)).sum()
        run = finished / RUN / f"fold{fold}"
        assert SEARCH_KEY in torch.load(run / "round0/checkpoint.pt", weights_only=False)
        for last in (run / PROXY / "round1", run / "baseline/round1", run / "shared/subset_wrong~1.0/matched/round1"):
            assert SEARCH_KEY not in torch.load(last / "checkpoint.pt", weights_only=False), last
    # the source dataset is untouched: only the exported digits live there
    files = [p for p in (finished / "resources/datasets/digits").rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"]
    assert len(files) == 1797 and all(p.suffix == ".png" for p in files)
    # every rule wrote its log
    log = finished / "results/logs/train" / RUN.removeprefix("results/runs/") / "fold0/round0.log"
    assert log.read_text().count("epoch 1/2") == 1


def test_finished_grid_is_a_noop(finished):
    out = snakemake(finished, "-n").stdout
    assert "Nothing to be done" in out, out[-2000:]


def test_new_grid_value_runs_only_new_jobs(finished, tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    cfg["proxy"]["proxy_threshold"] = [0.5, 0.8]
    wider = tmp_path / "wider.yaml"
    wider.write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs(snakemake(finished, "-n", config=wider).stdout)
    # per fold: only the new configuration's jobs; nothing of round 0, the baseline or the old configuration
    # (the fold's explain job, one per fold, scores the new final models beside the old ones)
    per_fold = {rule: n for rule, n in jobs.items() if rule not in SUMMARY_RULES}
    # (the matched baseline of a one-step schedule depends on subset_wrong only: the new threshold shares it)
    assert per_fold == {"train_proxy": 2, "explain": 2,
                        "explain_gallery": 2, "fold_summary": 2}, jobs
    # and the tables and figures built from them, once each (one new gallery)
    assert all(n == 1 for rule, n in jobs.items() if rule not in per_fold), jobs
    assert {"aggregate", "compare", "leakage_audit", "plot_gallery"} <= set(jobs), jobs


def test_rerun_one_fold_touches_only_that_fold(finished):
    target = f"{RUN}/fold1/summary.csv"
    out = snakemake(finished, "-n", "--forcerun", "train_round0", "--", target).stdout
    jobs = planned_jobs(out)
    assert jobs == {"train_round0": 1, "train_baseline": 1, "train_proxy": 1, "train_matched_first": 1,
                    "explain": 1, "fold_summary": 1}, jobs
    assert "fold0" not in "".join(ln for ln in out.splitlines() if ln.strip().startswith("output:"))


def test_killed_run_resumes_to_the_same_numbers(tmp_path):
    """SIGKILL inside a round, after its first epoch wrote resume.pt: the rerun restarts from that epoch
    (its log says so) and ends with the weights and numbers of a run that was never killed. The cheapest
    run that has such a moment: one fold, one round of 3 epochs, no proxy step and no explanations."""
    cfg = yaml.safe_load(TINY.read_text())
    cfg.update(schedules=[[3]], run_folds=[0], explain={"enabled": False})
    config = tmp_path / "three_epochs.yaml"
    config.write_text(yaml.safe_dump(cfg))
    workdir = tmp_path / "killed"
    workdir.mkdir()
    round0 = workdir / "results/runs/digits/resnet10t/3/honest/seed0/fold0/round0"
    target = str(round0.relative_to(workdir) / "metrics.json")
    log = workdir / "results/logs/train/digits/resnet10t/3/honest/seed0/fold0/round0.log"
    cmd = SNAKEMAKE + ["--directory", str(workdir), "--configfile", str(config), "--cores", "2", "--", target]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not (round0 / "resume.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):  # (a run that ended by itself is caught below)
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and everything it started, at once
    proc.wait()
    # the kill landed inside the round: after an epoch, before the round's end
    files = sorted(p.name for p in round0.glob("*"))
    assert "resume.pt" in files and "checkpoint.pt" not in files, files
    killed = re.findall(r"epoch (\d+)/3 ", log.read_text())  # (Snakemake removes this log before the rerun)
    # the same command finishes it (the default profile sets rerun-incomplete)
    snakemake(workdir, "--", target, config=config)
    text = log.read_text()
    done = len(killed)
    assert killed == [str(e) for e in range(1, done + 1)] and done in (1, 2), killed  # epochs 1..k ran before the kill
    assert re.findall(r"resuming round 0 from \S+ at epoch (\d+)", text) == [str(done)], text
    assert re.findall(r"epoch (\d+)/3 ", text) == [str(e) for e in range(done + 1, 4)], text  # none trained twice
    assert not (round0 / "resume.pt").exists()
    assert not list((workdir / "results").rglob("*.tmp"))
    resumed = {name: (round0 / name).read_bytes() for name in ("metrics.json", "epochs.csv")}
    weights = torch.load(round0 / "checkpoint.pt", weights_only=False, map_location="cpu")["model"]

    # the uninterrupted run: the same round trained again in one go
    snakemake(workdir, "--forcerun", "train_round0", "--", target, config=config)
    text = log.read_text()
    assert "resuming" not in text and re.findall(r"epoch (\d+)/3 ", text) == ["1", "2", "3"], text  # from scratch
    clean = torch.load(round0 / "checkpoint.pt", weights_only=False, map_location="cpu")["model"]
    assert weights.keys() == clean.keys() and all(torch.equal(weights[k], clean[k]) for k in weights)
    assert untimed(json.loads(resumed["metrics.json"])) == untimed(json.loads((round0 / "metrics.json").read_text()))
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(resumed["epochs.csv"])).drop(columns="wall_s"),
                                  pd.read_csv(round0 / "epochs.csv").drop(columns="wall_s"))


def test_the_warm_worker_gives_the_numbers_of_fresh_interpreters(finished, tmp_path):
    """The default local run forks its torch jobs from one warm worker (proxy_attention.workers); with
    PROXY_ATTENTION_WARM=0 every job is its own interpreter. Same weights, same numbers."""
    cold = tmp_path / "cold"
    cold.mkdir()
    snakemake(cold, env={**os.environ, "PROXY_ATTENTION_WARM": "0"})
    train_logs = sorted((finished / "results/logs/train").rglob("*.log"))
    assert train_logs and all("ran in a fork of the run's worker" in p.read_text() for p in train_logs)
    assert not any("ran in a fork" in p.read_text() for p in (cold / "results/logs/train").rglob("*.log"))
    assert not (cold / "results/logs/warm_worker.log").exists()
    # the worker of the finished run ended with its Snakemake process
    assert (finished / "results/logs/warm_worker.log").read_text().rstrip().endswith("exit")
    cols = ["fold", "method", "config", "round", "test_acc", "val_acc", "test_loss", "val_loss", "images_seen",
            "n_proxies", "explain_road_combined", "explain_cam_conf_change", "explain_n_images"]
    warm_runs = pd.read_csv(finished / "results/summary/runs.csv")
    cold_runs = pd.read_csv(cold / "results/summary/runs.csv")
    for name, runs in (("warm", warm_runs), ("cold", cold_runs)):
        assert not (missing := [c for c in cols if c not in runs.columns]), f"the {name} run's runs.csv lacks {missing}"
    # the explanation scores are there to compare: each fold's final models were explained
    explained = warm_runs.explain_road_combined.notna() & warm_runs.explain_cam_conf_change.notna()
    assert explained.sum() >= 2 and (warm_runs.explain_n_images[explained] > 0).all(), warm_runs[cols]
    pd.testing.assert_frame_equal(warm_runs[cols], cold_runs[cols], check_exact=True)  # the same numbers, not close ones
    checkpoints = sorted(p.relative_to(finished) for p in (finished / "results/runs").rglob("checkpoint.pt"))
    assert len(checkpoints) >= 6
    for rel in checkpoints:
        a = torch.load(finished / rel, weights_only=False, map_location="cpu")["model"]
        b = torch.load(cold / rel, weights_only=False, map_location="cpu")["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), rel
    for proxies in sorted((finished / "results/runs").rglob("proxy1/images")):
        rel = proxies.relative_to(finished)
        files = sorted(p.name for p in proxies.iterdir())
        assert files and files == sorted(p.name for p in (cold / rel).iterdir())
        assert all((proxies / f).read_bytes() == (cold / rel / f).read_bytes() for f in files), rel


@pytest.mark.parametrize(
    "change, message",
    [
        ({"models": ["resnet18x"]}, "'resnet18x' is not a timm model"),
        ({"proxy": {"proxy_threshold": [1.5]}}, "proxy_threshold"),
        ({"schedules": [[2, "p", "p", 2]]}, "schedules[0]"),
        ({"folds": 1}, "folds"),
        ({"run_folds": [5]}, "run_folds"),
        ({"training": {"optimiser": "adamw"}}, "optimiser"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, change, message):
    cfg = yaml.safe_load(TINY.read_text())
    for key, value in change.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", config=bad, check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    assert not (tmp_path / "results").exists()
