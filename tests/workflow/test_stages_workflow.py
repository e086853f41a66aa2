"""End to end: screen -> confirm (issue 15) on tests/configs/staged_tiny.yaml.

The screen runs both proxy configurations of the grid on seed 0, the checkpoint chooses one on
validation, the confirm stage runs it and the baselines on seed 1. Checks what each stage ran,
that the choice never reads a test number, that adding a screen value re-plans only the screen
and the selection, that a configuration entering the top runs only its own confirm jobs, that one
fold of either stage can be rerun, and that the report shows both stages.
"""


import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, copy_run
from conftest import run_snakemake as snakemake
from test_workflow import planned_jobs

pytestmark = pytest.mark.slow

STAGED = REPO / "tests" / "configs" / "staged_tiny.yaml"
SELECTION = "results/selection/proxy_configs.csv"
SCREEN_RUN = "results/screen/runs/digits/resnet10t/1p1/honest/seed0"
CONFIRM_RUN = "results/runs/digits/resnet10t/1p1/honest/seed1"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("staged_run")
    snakemake(workdir, config=STAGED)
    return workdir


def variant(tmp_path, change) -> str:
    config = yaml.safe_load(STAGED.read_text())
    change(config)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def final(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["round"] == runs["round"].max()]


def test_screen_then_confirm_runs_the_configuration_best_on_validation(staged):
    screen = pd.read_csv(staged / "results/screen/summary/runs.csv")
    confirm = pd.read_csv(staged / "results/summary/runs.csv")
    selection = pd.read_csv(staged / SELECTION)
    proxies = sorted(screen.loc[screen.method == "proxy", "config"].unique())
    assert len(proxies) == 2 and set(screen.method) == {"baseline", "proxy"}  # matched_baseline: false
    assert set(screen.seed) == {0} and set(confirm.seed) == {1}
    # the selection table: every screened configuration, one chosen
    assert sorted(selection.config) == proxies and selection.chosen.sum() == 1
    assert sorted(selection.selection_rank) == [1, 2]
    # recomputed here from the screen's final validation accuracies: the mean paired difference
    f = final(screen)
    base = f[f.method == "baseline"].set_index("fold")["val_acc"]
    diffs = {c: (f[f.config == c].set_index("fold")["val_acc"] - base).mean() for c in proxies}
    best = max(diffs, key=diffs.get)
    assert selection.loc[selection.chosen, "config"].item() == best
    np.testing.assert_allclose(selection.set_index("config").loc[proxies, "mean_diff"],
                               [diffs[c] for c in proxies], atol=1e-12)
    # the confirm stage ran exactly the chosen configuration and the baselines
    assert set(confirm.method) == {"baseline", "proxy", "baseline_matched", "replay"}  # controls: confirm only
    assert set(confirm.loc[confirm.method != "baseline", "config"]) == {best}
    assert (staged / "results/summary/comparison.csv").exists()
    assert (staged / "results/screen/summary/comparison.csv").exists()


def test_a_finished_staged_grid_is_a_noop(staged):
    out = snakemake(staged, "-n", config=STAGED)
    assert "Nothing to be done" in out.stdout + out.stderr


def test_one_fold_of_either_stage_can_be_rerun(staged):
    out = snakemake(staged, "-n", "--forcerun", "screen_train_round0", "--", f"{SCREEN_RUN}/fold1/summary.csv",
                    config=STAGED).stdout
    assert planned_jobs(out) == {"screen_train_round0": 1, "screen_train_baseline": 1, "screen_train_proxy": 2,
                                 "screen_fold_summary": 1}, planned_jobs(out)
    out = snakemake(staged, "-n", "--forcerun", "train_round0", "--", f"{CONFIRM_RUN}/fold1/summary.csv",
                    config=STAGED).stdout
    assert planned_jobs(out) == {"train_round0": 1, "train_baseline": 1, "train_proxy": 1, "train_matched_first": 1,
                                 "train_replay_first": 1, "explain": 1, "fold_summary": 1}, planned_jobs(out)


def test_adding_a_screen_value_replans_only_the_screen_and_the_selection(staged, tmp_path):
    path = variant(tmp_path, lambda c: c["proxy"].update(proxy_threshold=[0.5, 0.7]))
    out = snakemake(staged, "-n", config=path).stdout
    # two new configurations x two folds; no round 0, no baseline; the confirm stage waits for the choice
    assert planned_jobs(out) == {"screen_train_proxy": 4, "screen_fold_summary": 2, "screen_aggregate": 1,
                                 "select_configs": 1, "all": 1}, planned_jobs(out)


def test_the_report_shows_both_stages_and_the_selection(staged):
    snakemake(staged, "--report", "results/report.html", config=STAGED)
    html = (staged / "results/report.html").read_text()
    for text in ("Screen, then confirm", "free of selection on test", "8 Screen - 1 Answer",
                 "selection (screen -> confirm)", "proxy_configs.svg", "selection figure"):
        assert text in html, text


def test_changing_the_screens_test_numbers_leaves_the_selection_unchanged(staged):
    runs_csv = staged / "results/screen/summary/runs.csv"
    original, chosen = runs_csv.read_bytes(), (staged / SELECTION).read_bytes()
    runs = pd.read_csv(runs_csv)
    rng = np.random.default_rng(0)
    test_cols = [c for c in runs.columns if c.startswith("test")]
    assert test_cols
    for c in test_cols:  # any test numbers: reversed ranks, noise
        runs[c] = rng.uniform(0, 1, len(runs))
    runs.to_csv(runs_csv, index=False)
    try:
        snakemake(staged, "--forcerun", "select_configs", "--until", "select_configs", config=STAGED)
        assert (staged / SELECTION).read_bytes() == chosen
    finally:
        runs_csv.write_bytes(original)


def test_a_configuration_entering_the_top_runs_only_its_confirm_jobs(staged, tmp_path):
    work = tmp_path / "top2"
    copy_run(staged, work)
    path = variant(tmp_path, lambda c: c["stages"]["screen"].update(select_top=2))
    proc = snakemake(work, config=path)
    ran = {line.split()[-1].rstrip(":") for line in proc.stdout.splitlines() + proc.stderr.splitlines()
           if line.startswith(("rule ", "localrule ", "checkpoint ", "localcheckpoint "))}
    assert not any(r.startswith("screen_train") for r in ran), ran
    assert "train_round0" not in ran and "train_baseline" not in ran, ran
    assert {"select_configs", "train_proxy"} <= ran, ran
    # the matched baseline and replay of a one-step schedule depend on subset_wrong only: trained once already
    assert not {"train_matched_first", "train_replay_first", "train_matched"} & ran, ran
    confirm = pd.read_csv(work / "results/summary/runs.csv")
    assert confirm.loc[confirm.method == "proxy", "config"].nunique() == 2


@pytest.mark.parametrize("change, message", [
    (lambda c: c["stages"]["screen"].update(foldz=2), "'foldz' was unexpected"),
    (lambda c: c["stages"]["screen"].update(folds=1), "['stages']['screen']['folds']"),
    (lambda c: c["stages"]["screen"].update(select_top=5), "stages.screen.select_top"),
    (lambda c: c["stages"]["screen"].update(schedules=[[2]]), "stages.screen.schedules[0]"),
    (lambda c: c["stages"].pop("confirm"), "'confirm' is a required property"),
    (lambda c: c["stages"]["confirm"].update(models=["no_such_model"]), "stages.confirm"),
])
def test_a_bad_stages_config_stops_before_any_job(tmp_path, change, message):
    work = tmp_path / "work"
    proc = snakemake(work, "-n", config=variant(tmp_path, change), check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-2000:]
    assert not (work / "results").exists()
