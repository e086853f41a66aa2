"""A report of an out-of-date workflow says so on its first screen.

After a config change, `snakemake --report` showed the old runs.csv's numbers as the answer
while `snakemake -n` listed the jobs still to run.
"""

import jinja2
import pandas as pd
from conftest import REPO

from proxy_attention.report.staleness import RUN_KEY, run_key, stale_runs_message

CONFIG = "cam_method~gradcam/proxy_threshold~0.5"


def runs(models, seeds=(0,), folds=(0, 1), augmentations=("none",)):
    infos = []
    for model in models:
        for aug in augmentations:
            for seed in seeds:
                for fold in folds:
                    for method, config in [("baseline", "none"), ("proxy", CONFIG)]:
                        infos.append({"dataset": "digits", "model": model, "schedule": "3p3", "protocol": "honest",
                                      "augmentation": aug, "seed": seed, "fold": fold, "method": method,
                                      "config": config})
    return infos


def write_runs(tmp_path, infos):
    rows = [{**i, "round": r, "test_acc": 0.9} for i in infos for r in (0, 1)]
    path = tmp_path / "runs.csv"
    pd.DataFrame(rows)[list(RUN_KEY) + ["round", "test_acc"]].to_csv(path, index=False)
    return path


def test_matching_runs_give_no_warning(tmp_path):
    path = write_runs(tmp_path, runs(["resnet18"]))
    assert stale_runs_message(path, {run_key(i) for i in runs(["resnet18"])}) == ""


def test_a_config_change_is_named(tmp_path):
    path = write_runs(tmp_path, runs(["resnet18"]))
    msg = stale_runs_message(path, {run_key(i) for i in runs(["resnet18", "resnet10t"], seeds=(0, 1))})
    assert msg.startswith("OUT OF DATE") and "12 of the 16 runs the current config asks for are not in it" in msg
    assert "resnet10t" in msg and "rebuild the report" in msg
    msg = stale_runs_message(path, {run_key(i) for i in runs(["resnet10t"])})
    assert "4 runs in it are not in the current config" in msg


def test_no_runs_csv_leaves_the_no_comparison_yet_text(tmp_path):
    assert stale_runs_message(tmp_path / "runs.csv", set()) == ""


def render_description(config: dict) -> str:
    class Snakemake:
        pass

    Snakemake.config = config
    text = (REPO / "workflow" / "report" / "workflow.rst").read_text()
    return jinja2.Environment().from_string(text).render(snakemake=Snakemake, files=[], categories={})


def test_the_warning_comes_first_in_the_report():
    import yaml

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update({"pretrained": {}, "model_kwargs": {}, "run_folds": "all"})
    config["training"].setdefault("batch_size", 64)
    config["_report_warning"] = "OUT OF DATE: these results do not match the current config."
    text = render_description(config)
    assert ".. warning::" in text and text.index("OUT OF DATE") < text.index("What the pipeline did")
    del config["_report_warning"]
    assert ".. warning::" not in render_description(config)


def test_the_workflow_checks_when_it_makes_a_report():
    text = (REPO / "workflow" / "rules" / "targets.smk").read_text()
    assert 'config["_report_warning"] = stale_runs_message(' in text
    assert "report_targets()" in (REPO / "Snakefile").read_text()


def test_a_dropped_augmentation_arm_is_named(tmp_path):
    path = write_runs(tmp_path, runs(["resnet18"], augmentations=("none", "cutmix")))
    message = stale_runs_message(path, {run_key(i) for i in runs(["resnet18"])})
    assert "OUT OF DATE" in message and "runs in it are not in the current config" in message
    assert "cutmix" in message


def test_a_deleted_fold_is_out_of_date(tmp_path, monkeypatch):
    """`rm -rf .../fold1` after a finished run: runs.csv still holds fold 1's numbers (issue 25, item 7)."""
    monkeypatch.chdir(tmp_path)
    infos = runs(["resnet18"])
    rows = []
    for i in infos:
        for r in (0, 1):
            metrics = f"results/runs/fold{i['fold']}/{i['method']}/round{r}/metrics.json"
            (tmp_path / metrics).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / metrics).write_text("{}")
            rows.append({**i, "round": r, "test_acc": 0.9, "metrics_file": metrics})
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    expected = {run_key(i) for i in infos}
    assert stale_runs_message(tmp_path / "runs.csv", expected) == ""
    import shutil

    shutil.rmtree(tmp_path / "results/runs/fold1")
    msg = stale_runs_message(tmp_path / "runs.csv", expected)
    assert msg.startswith("OUT OF DATE") and "the result files of 2 runs in it no longer exist" in msg
    assert "results/runs/fold1/" in msg and "rebuild the report" in msg


def write_trained(tmp_path, settings_by_fold: dict, record: bool = True):
    """runs.csv of runs(["resnet18"]) whose metrics.json record ``settings_by_fold[fold]``; returns
    (runs.csv, {metrics path: settings}) of every round."""
    import json

    rows, paths = [], {}
    for i in runs(["resnet18"]):
        for r in (0, 1):
            metrics = tmp_path / f"fold{i['fold']}/{i['method']}/round{r}/metrics.json"
            metrics.parent.mkdir(parents=True, exist_ok=True)
            recorded = {"trained_with": settings_by_fold[i["fold"]]} if record else {}
            metrics.write_text(json.dumps({"test_acc": 0.9, **recorded}))
            rows.append({**i, "round": r, "test_acc": 0.9, "metrics_file": str(metrics)})
            paths[str(metrics)] = settings_by_fold[i["fold"]]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    return tmp_path / "runs.csv", paths


SETTINGS = {"model": "resnet18", "lr": 0.001, "label_smoothing": 0.0, "batch_size": 64, "fp32_models": ["vit*"]}


def test_runs_trained_with_other_settings_are_named(tmp_path):
    """Issue 25 item 6: each round's metrics.json records what it was trained with."""
    expected = {run_key(i) for i in runs(["resnet18"])}
    path, asked = write_trained(tmp_path, {0: SETTINGS, 1: SETTINGS})
    assert stale_runs_message(path, expected, asked=asked) == ""
    # the config now asks another label smoothing of fold 1's runs (the JSON list and a tuple are equal)
    asked = {p: {**s, "fp32_models": ("vit*",), **({"label_smoothing": 0.1} if "fold1" in p else {})}
             for p, s in asked.items()}
    msg = stale_runs_message(path, expected, asked=asked)
    assert msg.startswith("OUT OF DATE") and "2 runs in it were trained with other settings" in msg, msg
    assert "label_smoothing 0.0 -> 0.1" in msg and "rebuild the report" in msg and "fp32" not in msg, msg
    # batch_size: auto is the finder's number in the job
    auto = {p: {**s, "batch_size": "auto"} for p, s in write_trained(tmp_path, {0: SETTINGS, 1: SETTINGS})[1].items()}
    assert stale_runs_message(path, expected, asked=auto) == ""
    # a key the round did not record is a change; results from before the record are not compared
    more = {p: {**s, "amp": "bf16"} for p, s in auto.items()}
    assert "amp (not recorded) -> bf16" in stale_runs_message(path, expected, asked=more)
    path, _ = write_trained(tmp_path, {0: SETTINGS, 1: SETTINGS}, record=False)
    assert stale_runs_message(path, expected, asked=more) == ""


def test_report_files_not_made_yet_are_named(tmp_path):
    """Issue 25 item 5: the report leaves out the files the config asks for that do not exist."""
    path = write_runs(tmp_path, runs(["resnet18"]))
    expected = {run_key(i) for i in runs(["resnet18"])}
    gallery = "results/summary/figures/digits/resnet18/3p3/honest/gallery/proxy_threshold~0.7.png"
    msg = stale_runs_message(path, expected, left_out=[gallery])
    assert msg.startswith("OUT OF DATE") and "1 of the report's files the current config asks for do not exist yet" in msg
    assert gallery in msg and "left out of this report" in msg
