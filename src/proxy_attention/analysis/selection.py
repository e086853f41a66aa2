"""Choose the proxy configurations of a screening stage for the confirm stage, on validation only.

Thesis section 4.7 screens the grid on a cheap set-up and runs the rest of the trials for the
configurations that were not eliminated. Choosing them by the test accuracy that is then reported
makes results look better than they are, so the choice here never sees a test number: every
column computed on the test split (``test_*``, and ``explain_*``, scores of test images) is
dropped before anything is computed, and a ``selection_metric`` that names one is refused.

Per comparison group (dataset, model, schedule, protocol, augmentation), every proxy
configuration is scored by its mean paired difference to ``reference`` on ``metric`` (pairs: same
seed and fold; :func:`proxy_attention.analysis.stats.compare`), with its t interval, and ranked in
its group (``group_rank``). A configuration's ``score`` is the mean of its groups' mean paired
differences (every group weighs the same; negated for a loss, so that larger is better), its
``bound`` the mean of its groups' lower confidence bounds (upper for a loss, negated). All
configurations are ranked by score, larger first; ties broken by the larger bound, then by the
configuration's name (so that the same runs always give the same choice). The first ``top`` are
chosen. Runs of the thesis protocol, whose validation numbers are not held out, never vote when the
screen also ran the honest one.
"""

from __future__ import annotations

import pandas as pd

from proxy_attention.analysis.stats import compare, final_rounds, group_keys
from proxy_attention.grid import PROXY_GRID_KEYS

SELECTION_COLUMNS = ["reference", "metric", "config", "n_pairs", "mean", "mean_diff", "ci_low", "ci_high",
                     "group_rank", "score", "bound", "selection_rank", "chosen"]


# Columns computed on the test split: its accuracy and loss, and the explanation scores of the
# final models (CAMs of test images, proxy_attention.analysis.explain).
TEST_PREFIXES = ("test", "explain")


def validation_only(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` without any column computed on the test split (``test_acc``, ``explain_*``, ...)."""
    return runs.drop(columns=[c for c in runs.columns if c.startswith(TEST_PREFIXES)])


def select_configs(runs: pd.DataFrame, top: int, metric: str = "val_acc",
                   reference: str = "baseline") -> pd.DataFrame:
    """Every screened proxy configuration of every group, its score and rank, and whether it is chosen.

    ``runs`` is the screen stage's ``runs.csv`` (one row per run and round). Returns one row per
    (group, configuration): the group's columns, ``SELECTION_COLUMNS`` and the grid's columns.
    """
    if metric.startswith(TEST_PREFIXES):
        raise ValueError(f"selection_metric {metric!r} is a test number: the choice must be made on "
                         "validation (val_acc or val_loss)")
    if top < 1:
        raise ValueError(f"select_top must be at least 1 (got {top})")
    runs = validation_only(runs)
    if metric not in runs.columns:
        raise ValueError(f"selection_metric {metric!r} is not a column of the runs table")
    if "protocol" in runs.columns and (runs["protocol"] == "honest").any():
        runs = runs[runs["protocol"] == "honest"]
    table = compare(final_rounds(runs), reference=reference, metric=metric)
    table = table[table["method"] == "proxy"].copy()
    if table.empty:
        raise ValueError("the screen has no proxy runs to choose from")
    if metric.endswith("loss"):  # lower is better: rank by the negated difference
        table["_score"], table["_bound"] = -table["mean_diff"], -table["ci_high"]
    else:
        table["_score"], table["_bound"] = table["mean_diff"], table["ci_low"]
    groups = group_keys(table)
    table = table.sort_values(groups + ["_score", "_bound", "config"],
                              ascending=[True] * len(groups) + [False, False, True],
                              kind="stable", na_position="last")
    table["group_rank"] = table.groupby(groups, sort=False).cumcount() + 1 if groups else range(1, len(table) + 1)
    overall = table.groupby("config")[["_score", "_bound"]].mean()
    overall = overall.rename(columns={"_score": "score", "_bound": "bound"}).reset_index()
    overall = overall.sort_values(["score", "bound", "config"], ascending=[False, False, True],
                                  kind="stable", na_position="last")
    overall["selection_rank"] = range(1, len(overall) + 1)
    overall["chosen"] = overall["selection_rank"] <= top
    table = table.merge(overall, on="config", how="left")
    table = table.sort_values(["selection_rank", *groups], kind="stable")
    hyper = [k for k in PROXY_GRID_KEYS if k in runs.columns]  # as stats.compare carries them
    return table[groups + SELECTION_COLUMNS + hyper].reset_index(drop=True)


