"""Choose the proxy configurations of a screening stage for the confirm stage, on validation only.

Thesis section 4.7 screens the grid on a cheap set-up and runs the rest of the trials for the
configurations that were not eliminated. Choosing them by the test accuracy that is then reported
makes results look better than they are, so the choice here never sees a test number: every
column whose name starts with ``test`` is dropped before anything is computed, and a
``selection_metric`` that names one is refused.

Per comparison group (dataset, model, schedule, protocol, augmentation), every proxy
configuration is scored by its mean paired difference to ``reference`` on ``metric`` (pairs: same
seed and fold; :func:`proxy_attention.analysis.stats.compare`), with its t interval. Ranked by
mean paired difference, larger first; ties broken by the larger lower confidence bound, then by
the configuration's name (so that the same runs always give the same choice). The first ``top``
of each group are chosen.
"""

from __future__ import annotations

import pandas as pd

from proxy_attention.analysis.stats import compare, final_rounds, group_keys
from proxy_attention.config import PROXY_GRID_KEYS

SELECTION_COLUMNS = ["reference", "metric", "config", "n_pairs", "mean", "mean_diff", "ci_low", "ci_high",
                     "selection_rank", "chosen"]


def validation_only(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` without any column about the test split (``test_acc``, ``test_loss``, ...)."""
    return runs.drop(columns=[c for c in runs.columns if c.startswith("test")])


def select_configs(runs: pd.DataFrame, top: int, metric: str = "val_acc",
                   reference: str = "baseline") -> pd.DataFrame:
    """Every screened proxy configuration of every group, its score and rank, and whether it is chosen.

    ``runs`` is the screen stage's ``runs.csv`` (one row per run and round). Returns one row per
    (group, configuration): the group's columns, ``SELECTION_COLUMNS`` and the grid's columns.
    """
    if metric.startswith("test"):
        raise ValueError(f"selection_metric {metric!r} is a test number: the choice must be made on "
                         "validation (val_acc or val_loss)")
    if top < 1:
        raise ValueError(f"select_top must be at least 1 (got {top})")
    runs = validation_only(runs)
    if metric not in runs.columns:
        raise ValueError(f"selection_metric {metric!r} is not a column of the runs table")
    table = compare(final_rounds(runs), reference=reference, metric=metric)
    table = table[table["method"] == "proxy"].copy()
    if metric.endswith("loss"):  # lower is better: rank by the negated difference
        table["_score"], table["_bound"] = -table["mean_diff"], -table["ci_high"]
    else:
        table["_score"], table["_bound"] = table["mean_diff"], table["ci_low"]
    groups = group_keys(table)
    table = table.sort_values(groups + ["_score", "_bound", "config"],
                              ascending=[True] * len(groups) + [False, False, True],
                              kind="stable", na_position="last")
    table["selection_rank"] = table.groupby(groups, sort=False).cumcount() + 1
    table["chosen"] = table["selection_rank"] <= top
    hyper = [k for k in PROXY_GRID_KEYS if k in runs.columns]  # as stats.compare carries them
    return table[groups + SELECTION_COLUMNS + hyper].reset_index(drop=True)


def chosen_configs(selection: pd.DataFrame) -> list[str]:
    """The names of the chosen configurations (any group), in the order of the selection table."""
    return list(dict.fromkeys(selection.loc[selection["chosen"], "config"]))
