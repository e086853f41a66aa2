"""Paired comparison of every configuration with a reference method, like with like.

A *pair* is one configuration and the reference (normally ``baseline``) trained on
the same (dataset, model, schedule, seed, fold): same data, same schedule, same
seed. The paired difference of the final test accuracy is what the comparison
is about; its mean gets a t confidence interval and two paired tests:

- paired t-test (``scipy.stats.ttest_rel``), needs at least 2 pairs;
- Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, zero differences dropped),
  reported only with at least 6 non-zero differences: with fewer, its two-sided
  p-value can never fall below 0.05, so printing one would mislead.

When a test cannot be run the row says why in ``note`` and leaves the p-value empty.
``reference`` is a parameter, so comparing against a second baseline
(e.g. ``baseline_matched``) is one more call to :func:`compare`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from proxy_attention.grid import PROXY_GRID_KEYS
from proxy_attention.paths import CONTROL_METHODS

# Columns that define a comparison group, where the table has them (``protocol`` only in some set-ups;
# ``augmentation``: each arm's runs are compared with that arm's baseline, analysis/arms.py across arms).
GROUP_CANDIDATES = ["dataset", "model", "schedule", "protocol", "augmentation"]
GROUP_KEYS = ["dataset", "model", "schedule"]
CONFIDENCE = 0.95
MIN_PAIRS_T = 2
MIN_PAIRS_WILCOXON = 6
POWER = 0.8  # of the smallest detectable difference (column mde)

STAT_COLUMNS = [
    "reference", "method", "config", *PROXY_GRID_KEYS,
    "metric", "round", "epoch", "n_runs", "mean", "std", "ref_mean", "ref_std",
    "n_pairs", "mean_diff", "std_diff", "ci_low", "ci_high", "confidence", "mde",
    "t_statistic", "t_p", "t_p_bh", "wilcoxon_statistic", "wilcoxon_p",
    "verdict", "rank", "note",
]
COMPARISON_COLUMNS = GROUP_KEYS + STAT_COLUMNS


def group_keys(df: pd.DataFrame) -> list[str]:
    """The comparison-group columns present in ``df``: dataset, model, schedule (and protocol)."""
    return [k for k in GROUP_CANDIDATES if k in df.columns]


def pair_keys(df: pd.DataFrame) -> list[str]:
    return group_keys(df) + ["seed", "fold"]


def run_id(df: pd.DataFrame) -> list[str]:
    return pair_keys(df) + ["method", "config"]


def final_rounds(runs: pd.DataFrame) -> pd.DataFrame:
    """The last round of every run (one row per run: dataset, model, schedule, seed, fold, method, config)."""
    last = runs.groupby(run_id(runs), dropna=False)["round"].transform("max")
    return runs[runs["round"] == last].reset_index(drop=True)


def reference_keys(final: pd.DataFrame, reference: str) -> list[str]:
    """How runs pair with the reference: by (group, seed, fold), or also by ``config`` when the reference
    has one run per configuration (a compute-matched baseline trained beside each proxy configuration)."""
    keys = pair_keys(final)
    ref = final[final["method"] == reference]
    if ref.duplicated(keys).any():
        keys = keys + ["config"]
        dup = ref.duplicated(keys)
        if dup.any():
            raise ValueError(f"reference {reference!r} has several runs on the same pair: "
                             f"{ref[dup][keys].to_dict('records')}")
    return keys


def distinct_runs(final: pd.DataFrame) -> pd.DataFrame:
    """Every run once: a control whose final round is shared by several configurations (round 1 of a
    matched baseline or replay, trained once per subset_wrong: proxy/controls.py) is listed in runs.csv
    under each configuration it controls; here it is one run, named by what it depends on
    (``shared/subset_wrong~1.0``), with the other grid keys empty."""
    if "metrics_file" not in final:
        return final
    key = final["metrics_file"].astype(str).str.extract(r"/(shared/subset_wrong~[^/]+(?:/subset_order~[^/]+)?)/")[0]
    shared = key.notna()
    if not shared.any():
        return final
    out = final.copy()
    out.loc[shared, "config"] = key[shared]
    for k in PROXY_GRID_KEYS:
        if k in out and k not in ("subset_wrong", "subset_order"):
            out[k] = out[k].astype(object)
            out.loc[shared, k] = None
    if "subset_order" in out:
        out["subset_order"] = out["subset_order"].astype(object)
        out.loc[shared & ~key.str.contains("subset_order~", na=False), "subset_order"] = None
    return out.drop_duplicates(pair_keys(out) + ["method", "metrics_file"]).reset_index(drop=True)


def paired_differences(final: pd.DataFrame, reference: str = "baseline", metric: str = "test_acc") -> pd.DataFrame:
    """One row per configuration and pair: its ``metric``, the reference's on the same pair, and the difference."""
    if reference not in set(final["method"]):
        raise ValueError(f"no runs of reference method {reference!r} (methods: {sorted(set(final['method']))})")
    final = runs_against(final, reference)
    keys = reference_keys(final, reference)
    ref = final[final["method"] == reference][keys + [metric]].rename(columns={metric: "ref_value"})
    other = final[final["method"] != reference]
    keep = [c for c in run_id(final) + PROXY_GRID_KEYS + ["round", "epoch"] if c in other.columns]
    pairs = other[keep + [metric]].rename(columns={metric: "value"}).merge(ref, on=keys, how="inner")
    pairs.insert(len(group_keys(final)), "reference", reference)
    pairs["metric"] = metric
    pairs["diff"] = pairs["value"] - pairs["ref_value"]
    return pairs.sort_values(run_id(final), kind="stable").reset_index(drop=True)


def runs_against(final: pd.DataFrame, reference: str) -> pd.DataFrame:
    """The runs compared with ``reference``: against a control of the proxy run, the proxy runs only (each
    with its own configuration's control); against anything else, every run once (:func:`distinct_runs`)."""
    if reference in CONTROL_METHODS:
        return final[final["method"].isin(["proxy", reference])]
    return distinct_runs(final)


def smallest_detectable(std_diff: float, n: int, confidence: float = CONFIDENCE, power: float = POWER) -> float:
    """The smallest mean paired difference a two-sided paired t-test at ``confidence`` detects with
    ``power``, for ``n`` pairs whose differences spread like ``std_diff``: (t_(1-a/2) + t_power) sd / sqrt(n)."""
    if n < 2 or not np.isfinite(std_diff):
        return np.nan
    df = n - 1
    return float((stats.t.ppf(1 - (1 - confidence) / 2, df) + stats.t.ppf(power, df)) * std_diff / np.sqrt(n))


def paired_test(diff: np.ndarray, confidence: float = CONFIDENCE) -> dict:
    """Mean, spread, t confidence interval and paired tests of one configuration's differences."""
    diff = np.asarray(diff, dtype=float)
    n = len(diff)
    out = {"n_pairs": n, "mean_diff": diff.mean() if n else np.nan, "std_diff": diff.std(ddof=1) if n > 1 else np.nan,
           "ci_low": np.nan, "ci_high": np.nan, "t_statistic": np.nan, "t_p": np.nan,
           "wilcoxon_statistic": np.nan, "wilcoxon_p": np.nan}
    notes = []
    if n < MIN_PAIRS_T:
        notes.append(f"t-test and confidence interval n/a: needs >= {MIN_PAIRS_T} pairs (have {n})")
    elif np.allclose(diff, diff[0], rtol=0, atol=1e-9):  # equal up to float noise (accuracies are k / n)
        out["ci_low"] = out["ci_high"] = diff[0]
        notes.append(f"t-test n/a: all {n} paired differences are equal ({diff[0]:+.4f}), no spread to test")
    else:
        res = stats.ttest_rel(diff, np.zeros(n))
        ci = res.confidence_interval(confidence)
        out.update(t_statistic=float(res.statistic), t_p=float(res.pvalue), ci_low=float(ci.low), ci_high=float(ci.high))
    nonzero = int(np.count_nonzero(diff))
    if nonzero < MIN_PAIRS_WILCOXON:
        notes.append(f"Wilcoxon n/a: needs >= {MIN_PAIRS_WILCOXON} non-zero differences (have {nonzero})")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # normal-approximation notes with ties
            res = stats.wilcoxon(diff, zero_method="wilcox")
        out.update(wilcoxon_statistic=float(res.statistic), wilcoxon_p=float(res.pvalue))
    out["mde"] = smallest_detectable(out["std_diff"], n, confidence)
    out["note"] = "; ".join(notes)
    return out


NO_PIXEL_NOTE = "proxy step(s) that changed no pixel"


def verdict(row) -> str:
    if row["n_pairs"] < MIN_PAIRS_T or pd.isna(row["ci_low"]):
        return "too few pairs"
    if row["ci_low"] > 0:
        return "better"
    if row["ci_high"] < 0:
        return "worse"
    return "no clear difference"


def compare(final: pd.DataFrame, reference: str = "baseline", metric: str = "test_acc",
            confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per (dataset, model, schedule, method, config) against ``reference`` on the same pairs.

    ``final`` holds one row per run (see :func:`final_rounds`). The reference itself
    gets a row too (difference 0, verdict ``reference``) so its mean and rank are in the table;
    methods with no run paired to the reference are left out. ``rank`` orders the rows of a
    (dataset, model, schedule, reference) by mean paired difference, 1 = largest; ``t_p_bh`` is
    the paired t-test p-value adjusted for the number of configurations compared (Benjamini-Hochberg).
    """
    pairs = paired_differences(final, reference, metric)
    final = runs_against(final, reference)
    groups = group_keys(final)
    per_config_ref = "config" in reference_keys(final, reference)
    keys = groups + ["method", "config"]
    hyper = [k for k in PROXY_GRID_KEYS if k in final.columns]
    rows = []
    for ident, runs in final.groupby(keys, sort=False):
        ident = dict(zip(keys, ident))
        same = np.logical_and.reduce([final[k] == ident[k] for k in groups + (["config"] if per_config_ref else [])])
        ref = final[same & (final["method"] == reference)]
        row = {**ident, **runs.iloc[0][hyper].to_dict(), "reference": reference, "metric": metric,
               "round": runs["round"].max(), "epoch": runs["epoch"].max() if "epoch" in runs else np.nan,
               "n_runs": len(runs), "mean": runs[metric].mean(), "std": runs[metric].std(ddof=1),
               "ref_mean": ref[metric].mean(), "ref_std": ref[metric].std(ddof=1), "confidence": confidence}
        if "cum_job_s" in runs:  # what a run of this configuration cost, all its jobs from round 0 on
            row["job_s"] = runs["cum_job_s"].mean()
        if ident["method"] == reference:
            row.update(n_pairs=len(runs), mean_diff=0.0, std_diff=0.0, verdict="reference", note="the reference")
        else:
            mine = pairs[np.logical_and.reduce([pairs[k] == ident[k] for k in keys])]
            if mine.empty:
                continue
            row.update(paired_test(mine["diff"].to_numpy(), confidence))
            row["verdict"] = verdict(row)
            idle = int(runs["steps_changed_no_pixel"].sum()) if "steps_changed_no_pixel" in runs else 0
            if idle:  # its "proxies" were unmodified copies: say so wherever the configuration is shown
                row["note"] = "; ".join(x for x in (row["note"], f"{idle} {NO_PIXEL_NOTE} in its {len(runs)} run(s): "
                                                    "their proxies are unmodified copies (see proxy_threshold)") if x)
        rows.append(row)
    table = pd.DataFrame(rows)
    columns = groups + STAT_COLUMNS
    for col in columns:
        if col not in table:
            table[col] = np.nan
    by = groups + ["reference"]
    table["rank"] = table.groupby(by)["mean_diff"].rank(ascending=False, method="min")
    table["t_p_bh"] = np.nan
    for _, idx in table.groupby(by).groups.items():
        tested = table.loc[idx, "t_p"].dropna()
        if len(tested):
            table.loc[tested.index, "t_p_bh"] = stats.false_discovery_control(tested.to_numpy())
    table = table[columns + [c for c in table.columns if c not in columns]]
    return table.sort_values(by + ["rank", "method", "config"], kind="stable").reset_index(drop=True)
