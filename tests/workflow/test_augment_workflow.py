"""End to end: the tiny config with an augmentation arm beside the plain one.

Adding `augmentations: [none, cutmix]` to a finished grid runs only the cutmix arm's jobs (the
plain arm's results are kept, byte for byte), and the report gets the arms' table and figures.
"""

import hashlib

import pandas as pd
import pytest
import yaml
from conftest import TINY, copy_run
from conftest import run_snakemake as snakemake
from test_workflow import SUMMARY_RULES, planned_jobs

pytestmark = pytest.mark.slow

PER_FOLD_RULES = {"train_round0", "train_baseline", "train_proxy", "train_matched", "train_matched_first",
                  "explain", "explain_gallery", "fold_summary"}


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "aug~" not in p.as_posix()}


@pytest.fixture(scope="module")
def with_cutmix(tiny_run_built, tmp_path_factory):
    work = copy_run(tiny_run_built, tmp_path_factory.mktemp("cutmix") / "work")  # the session's finished tiny run
    cfg = yaml.safe_load(TINY.read_text())
    cfg["augmentations"] = ["none", "cutmix"]
    cfg["augmentation_options"] = {"cutmix": {"alpha": 1.0}}
    path = work.parent / "cutmix.yaml"
    path.write_text(yaml.safe_dump(cfg))
    before = digest(work / "results/runs")
    plan = snakemake(work, "-n", config=path).stdout
    snakemake(work, config=path)
    snakemake(work, "--report", str(work / "report.html"), config=path)
    return work, before, planned_jobs(plan), plan


def test_a_new_arm_runs_only_its_own_jobs(with_cutmix):
    work, before, jobs, plan = with_cutmix
    per_fold = {rule: n for rule, n in jobs.items() if rule in PER_FOLD_RULES}
    # 2 folds: the cutmix arm's round 0, baseline, proxy step + round (one job), matched baseline, explanations
    assert per_fold == {"train_round0": 2, "train_baseline": 2, "train_proxy": 2,
                        "train_matched_first": 2, "explain": 2, "explain_gallery": 2, "fold_summary": 2}, jobs
    outputs = [line for line in plan.splitlines() if line.strip().startswith("output: results/runs/")]
    assert outputs and all("/aug~cutmix/" in line for line in outputs), outputs[:5]
    assert set(jobs) - PER_FOLD_RULES <= SUMMARY_RULES | {"plot_augmentations", "augmentation_gallery"}, jobs
    # the plain arm's files are untouched, byte for byte
    assert digest(work / "results/runs") == before


def test_runs_record_the_arm_and_its_compute(with_cutmix):
    work = with_cutmix[0]
    runs = pd.read_csv(work / "results/summary/runs.csv")
    assert set(runs["augmentation"]) == {"none", "cutmix"}
    final = runs[runs["round"] == runs["round"].max()]
    for _, arm in final.groupby("augmentation"):
        assert (arm["images_seen"] > 0).all() and (arm["optimizer_steps"] > 0).all() and arm["job_s"].notna().all()
    # the same epochs, folds and seeds in every arm
    counts = final.groupby(["augmentation", "method"]).agg(folds=("fold", "nunique"), epoch=("epoch", "max"))
    assert counts["folds"].eq(2).all() and counts["epoch"].nunique() == 1, counts
    # mixed labels: no training accuracy for the cutmix arm; the plain arm keeps it
    epochs = pd.read_csv(work / "results/summary/epochs.csv")
    assert epochs.loc[epochs["augmentation"] == "cutmix", "train_acc"].isna().all()
    assert epochs.loc[epochs["augmentation"] == "none", "train_acc"].notna().all()


def test_report_has_the_arms_table_and_figures(with_cutmix):
    work = with_cutmix[0]
    arms = pd.read_csv(work / "results/summary/augmentations.csv")
    assert set(arms["question"]) == {"vs_plain", "adds_to_x", "pa_vs_x"}
    adds = arms[arms["question"] == "adds_to_x"]
    assert (adds["augmentation"] == "cutmix").all() and (adds["ref_method"] == "baseline").all()
    assert (adds["ref_augmentation"] == "cutmix").all()
    vs_plain = arms[arms["question"] == "vs_plain"]
    assert {"baseline", "proxy", "baseline_matched"} <= set(vs_plain["method"])
    assert (vs_plain["ref_augmentation"] == "none").all()
    assert arms[["images_seen", "optimizer_steps", "job_s"]].notna().all().all()
    answer = (work / "results/summary/answer.rst").read_text()
    assert "Augmentation arms" in answer and "cutmix alone" in answer
    figures = work / "results/summary/figures/digits"
    assert (figures / "augmentations.png").stat().st_size > 0
    assert (figures / "resnet10t/1p1/honest/augmentations.svg").stat().st_size > 0
    html = (work / "report.html").read_text(errors="replace")
    assert "augmentations.csv" in html and "Augmentation arms" in html
