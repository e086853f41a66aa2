"""runs.csv rows: metrics, what each proxy step found, and the wall time of the jobs behind each round."""

import json

import numpy as np
import pandas as pd
import pytest

from proxy_attention.analysis.aggregate import benchmark_seconds, run_tables


def write_round(d, round_, acc, run_info):
    d.mkdir(parents=True, exist_ok=True)
    (d / "metrics.json").write_text(json.dumps({**run_info, "round": round_, "epoch": round_ + 1, "test_acc": acc,
                                                "val_acc": acc, "test_pred": [0, 1]}))
    pd.DataFrame({"epoch": [round_ + 1], "round": [round_], "val_acc": [acc]}).to_csv(d / "epochs.csv", index=False)


def write_bench(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("s\th:m:s\tmax_rss\n" + "".join(f"{s}\t0:00:00\t1\n" for s in seconds))


def test_run_tables_adds_proxy_step_counts_and_job_times(tmp_path):
    info = {"dataset": "d", "model": "m", "schedule": "1p1", "seed": 0, "fold": 0}
    write_round(tmp_path / "round0", 0, 0.5, {**info, "method": "round0"})
    write_round(tmp_path / "p" / "round1", 1, 0.7, {})
    step = tmp_path / "p" / "proxy1"
    step.mkdir(parents=True)
    pd.DataFrame({"frac_changed": [0.2, 0.4, 0.9]}).to_csv(step / "manifest.csv", index=False)
    (step / "stats.json").write_text(json.dumps({"n_wrong": 7, "n_written": 3, "scores": {"road": 0.25}}))
    write_bench(tmp_path / "b" / "round0.tsv", [10.0])
    write_bench(tmp_path / "b" / "round1.tsv", [4.0, 6.0])  # --benchmark-repeats: the mean
    write_bench(tmp_path / "b" / "proxy1.tsv", [2.5])

    runs = [{**info, "method": "proxy", "config": "cam_method~gradcam", "cam_method": "gradcam",
             "metrics": [tmp_path / "round0" / "metrics.json", tmp_path / "p" / "round1" / "metrics.json"],
             "epochs": [tmp_path / "round0" / "epochs.csv", tmp_path / "p" / "round1" / "epochs.csv"],
             "train_benchmark": [tmp_path / "b" / "round0.tsv", tmp_path / "b" / "round1.tsv"],
             "proxy_steps": [None, step],
             "proxy_benchmark": [None, tmp_path / "b" / "proxy1.tsv"]}]
    metrics, epochs = run_tables(runs)

    assert metrics["method"].tolist() == ["proxy", "proxy"]  # round 0 takes the run's identity
    assert "test_pred" not in metrics
    r0, r1 = metrics.iloc[0], metrics.iloc[1]
    assert np.isnan(r0["wrong_found"]) and np.isnan(r0["proxies_written"])
    assert r1["wrong_found"] == 7 and r1["proxies_written"] == 3
    assert r1["frac_pixels_changed"] == pytest.approx(0.5)
    assert r1["cam_road"] == 0.25
    assert (r0["train_job_s"], r0["proxy_job_s"], r0["job_s"], r0["cum_job_s"]) == (10.0, 0.0, 10.0, 10.0)
    assert (r1["train_job_s"], r1["proxy_job_s"], r1["job_s"], r1["cum_job_s"]) == (5.0, 2.5, 7.5, 17.5)
    assert epochs["val_acc"].tolist() == [0.5, 0.7] and set(epochs["config"]) == {"cam_method~gradcam"}


def test_a_step_run_by_its_rounds_job_is_split_out_of_the_jobs_time(tmp_path):
    # the workflow's train_proxy job runs proxy step 1 and then round 1: one benchmark file of 9 s,
    # of which the step's stats.json says 2 s
    info = {"dataset": "d", "model": "m", "schedule": "1p1", "seed": 0, "fold": 0}
    write_round(tmp_path / "round0", 0, 0.5, {})
    write_round(tmp_path / "p" / "round1", 1, 0.6, {})
    step = tmp_path / "p" / "proxy1"
    step.mkdir()
    pd.DataFrame({"frac_changed": [0.5]}).to_csv(step / "manifest.csv", index=False)
    (step / "stats.json").write_text(json.dumps({"n_wrong": 1, "wall_s": 2.0}))
    write_bench(tmp_path / "b" / "round0.tsv", [10.0])
    write_bench(tmp_path / "b" / "round1.tsv", [9.0])
    runs = [{**info, "method": "proxy", "config": "c",
             "metrics": [tmp_path / "round0" / "metrics.json", tmp_path / "p" / "round1" / "metrics.json"],
             "epochs": [tmp_path / "round0" / "epochs.csv", tmp_path / "p" / "round1" / "epochs.csv"],
             "train_benchmark": [tmp_path / "b" / "round0.tsv", tmp_path / "b" / "round1.tsv"],
             "proxy_steps": [None, step]}]
    metrics, _ = run_tables(runs)
    r0, r1 = metrics.iloc[0], metrics.iloc[1]
    assert (r0["train_job_s"], r0["proxy_job_s"], r0["job_s"]) == (10.0, 0.0, 10.0)
    assert (r1["train_job_s"], r1["proxy_job_s"], r1["job_s"], r1["cum_job_s"]) == (7.0, 2.0, 9.0, 19.0)


def test_baseline_rows_have_no_proxy_counts_and_missing_benchmarks_are_nan(tmp_path):
    info = {"dataset": "d", "model": "m", "schedule": "1", "seed": 0, "fold": 0}
    write_round(tmp_path / "round0", 0, 0.5, {})
    metrics, _ = run_tables([{**info, "method": "baseline", "config": "baseline",
                              "metrics": [tmp_path / "round0" / "metrics.json"],
                              "epochs": [tmp_path / "round0" / "epochs.csv"]}])
    assert "wrong_found" not in metrics
    assert np.isnan(metrics.loc[0, "train_job_s"])
    assert np.isnan(benchmark_seconds(tmp_path / "nope.tsv"))


def test_a_proxy_step_that_changed_no_pixel_is_counted(tmp_path):
    info = {"dataset": "d", "model": "m", "schedule": "1p1p1", "seed": 0, "fold": 0}
    metrics, steps = [], []
    for r in range(3):
        write_round(tmp_path / f"round{r}", r, 0.5, {})
        metrics.append(tmp_path / f"round{r}" / "metrics.json")
        if r:
            step = tmp_path / f"proxy{r}"
            step.mkdir()
            pd.DataFrame({"frac_changed": [0.0, 0.0] if r == 1 else [0.0, 0.3]}).to_csv(step / "manifest.csv",
                                                                                      index=False)
            steps.append(step)
    runs = [{**info, "method": "proxy", "config": "c", "metrics": metrics, "epochs": [], "proxy_steps": [None] + steps}]
    table, _ = run_tables(runs)
    assert table["proxies_unchanged"].fillna(-1).tolist() == [-1, 2, 1]
    assert table["steps_changed_no_pixel"].tolist() == [0, 1, 1]  # step 1 changed nothing, step 2 did
