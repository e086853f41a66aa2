"""Paired comparison against hand-computed numbers.

With 3 pairs the t distribution has 2 degrees of freedom, whose CDF has a closed
form: F(t) = 1/2 + t / (2 sqrt(t^2 + 2)). So the two-sided p-value is
1 - |t| / sqrt(t^2 + 2) and the 97.5% quantile solves t / sqrt(t^2 + 2) = 0.95,
t = sqrt(2 * 0.9025 / 0.0975) = 4.302653. Every expected number below is derived
from these by hand, not by scipy.
"""

import math

import numpy as np
import pandas as pd
import pytest

from proxy_attention.analysis.stats import (
    compare,
    final_rounds,
    paired_differences,
    paired_test,
)

T_CRIT_2DF = math.sqrt(2 * 0.9025 / 0.0975)  # 4.302653


def p_2df(t):
    return 1 - abs(t) / math.sqrt(t * t + 2)


def runs_table(accs: dict[str, list[float]], seeds=(0,)) -> pd.DataFrame:
    """runs.csv-like rows: round 0 (shared, 0.5) and round 1 (the given final accuracy) per fold and seed."""
    rows = []
    for config, values in accs.items():
        method = "baseline" if config == "baseline" else "proxy"
        for i, acc in enumerate(values):
            seed, fold = seeds[i % len(seeds)], i // len(seeds)
            ident = dict(dataset="digits", model="resnet18", schedule="1p1", seed=seed, fold=fold, method=method,
                         config=config, cam_method=None if method == "baseline" else config.split("/")[0])
            rows.append({**ident, "round": 0, "epoch": 1, "test_acc": 0.5})
            rows.append({**ident, "round": 1, "epoch": 2, "test_acc": acc})
    return pd.DataFrame(rows)


def test_final_rounds_keeps_last_round_of_each_run():
    final = final_rounds(runs_table({"baseline": [0.8, 0.85, 0.9], "a": [0.82, 0.88, 0.91]}))
    assert len(final) == 6
    assert set(final["round"]) == {1}
    assert final.loc[final["config"] == "a", "test_acc"].tolist() == [0.82, 0.88, 0.91]


def test_compare_matches_hand_computed_t_interval_and_p():
    runs = runs_table({
        "baseline": [0.80, 0.85, 0.90],
        "a/better?": [0.82, 0.88, 0.91],  # diffs +0.02 +0.03 +0.01: mean 0.02, sd 0.01
        "b/worse": [0.75, 0.79, 0.86],  # diffs -0.05 -0.06 -0.04: mean -0.05, sd 0.01
    })
    table = compare(final_rounds(runs)).set_index("config")
    se = 0.01 / math.sqrt(3)

    a = table.loc["a/better?"]
    assert a["n_pairs"] == 3 and a["n_runs"] == 3
    assert a["mean"] == pytest.approx((0.82 + 0.88 + 0.91) / 3)
    assert a["std"] == pytest.approx(np.std([0.82, 0.88, 0.91], ddof=1))
    assert a["ref_mean"] == pytest.approx(0.85)
    assert a["ref_std"] == pytest.approx(0.05)
    assert a["mean_diff"] == pytest.approx(0.02)
    assert a["std_diff"] == pytest.approx(0.01)
    assert a["t_statistic"] == pytest.approx(0.02 / se)  # 3.4641
    assert a["t_p"] == pytest.approx(p_2df(0.02 / se), abs=1e-9)  # 0.07418
    assert a["ci_low"] == pytest.approx(0.02 - T_CRIT_2DF * se)  # -0.00484
    assert a["ci_high"] == pytest.approx(0.02 + T_CRIT_2DF * se)  # 0.04484
    assert a["verdict"] == "no clear difference"  # p 0.074 and the interval spans 0
    assert np.isnan(a["wilcoxon_p"]) and "Wilcoxon n/a: needs >= 6" in a["note"]

    b = table.loc["b/worse"]
    assert b["mean_diff"] == pytest.approx(-0.05)
    assert b["t_p"] == pytest.approx(p_2df(-0.05 / se), abs=1e-9)  # 0.01307
    assert b["ci_high"] == pytest.approx(-0.05 + T_CRIT_2DF * se)  # -0.02516 < 0
    assert b["verdict"] == "worse"

    base = table.loc["baseline"]
    assert base["verdict"] == "reference" and base["mean_diff"] == 0 and base["mean"] == pytest.approx(0.85)
    # rank by mean difference: a (+0.02), baseline (0), b (-0.05)
    assert table["rank"].to_dict() == {"a/better?": 1, "baseline": 2, "b/worse": 3}
    # Benjamini-Hochberg over the two tested configurations: q = p * m / rank, made monotone
    pa, pb = p_2df(0.02 / se), p_2df(-0.05 / se)
    assert b["t_p_bh"] == pytest.approx(pb * 2 / 1)
    assert a["t_p_bh"] == pytest.approx(pa * 2 / 2)


def test_wilcoxon_exact_p_with_six_pairs():
    # |d| ranks 1..6, the negative one has rank 3: W = 3. Exact null: subsets of {1..6} with
    # sum <= 3 are {}, {1}, {2}, {3}, {1,2}: 5 of 64, two-sided p = 10/64.
    out = paired_test(np.array([0.01, 0.02, -0.03, 0.04, 0.05, 0.06]))
    assert out["wilcoxon_statistic"] == 3
    assert out["wilcoxon_p"] == pytest.approx(10 / 64)
    assert out["note"] == ""
    # all positive: W = 0, p = 2/64
    assert paired_test(np.arange(1, 7) / 100)["wilcoxon_p"] == pytest.approx(2 / 64)


def test_too_few_pairs_says_so_instead_of_p_values():
    out = paired_test(np.array([0.03]))
    assert np.isnan(out["t_p"]) and np.isnan(out["ci_low"]) and np.isnan(out["wilcoxon_p"])
    assert "needs >= 2 pairs (have 1)" in out["note"]
    table = compare(final_rounds(runs_table({"baseline": [0.8], "a": [0.83]}))).set_index("config")
    assert table.loc["a", "verdict"] == "too few pairs"
    assert table.loc["a", "mean_diff"] == pytest.approx(0.03)


def test_equal_differences_have_no_t_test():
    out = paired_test(np.array([0.01, 0.01, 0.01]))
    assert np.isnan(out["t_p"])
    assert out["ci_low"] == out["ci_high"] == pytest.approx(0.01)
    assert "all 3 paired differences are equal" in out["note"]


def test_pairs_are_matched_by_seed_and_fold():
    # two seeds x two folds; the proxy config lacks (seed 1, fold 1): 3 pairs, each against its own baseline
    runs = runs_table({"baseline": [0.80, 0.70, 0.90, 0.60], "a": [0.81, 0.72, 0.93]}, seeds=(0, 1))
    pairs = paired_differences(final_rounds(runs))
    got = {(r.seed, r.fold): round(r.diff, 6) for r in pairs.itertuples()}
    assert got == {(0, 0): 0.01, (1, 0): 0.02, (0, 1): 0.03}
    row = compare(final_rounds(runs)).set_index("config").loc["a"]
    assert row["n_pairs"] == 3 and row["n_runs"] == 3
    assert row["mean_diff"] == pytest.approx(0.02)


def test_reference_is_a_parameter():
    runs = runs_table({"baseline": [0.80, 0.85, 0.90], "a": [0.82, 0.88, 0.91]})
    runs.loc[runs["config"] == "a", "method"] = "other_reference"
    table = compare(final_rounds(runs), reference="other_reference").set_index("config")
    assert table.loc["baseline", "mean_diff"] == pytest.approx(-0.02)
    assert (table["reference"] == "other_reference").all()


def test_against_a_control_only_the_proxy_runs_are_compared():
    runs = runs_table({"baseline": [0.80, 0.85, 0.90], "a": [0.82, 0.88, 0.91]})
    runs.loc[runs["config"] == "a", "method"] = "replay"
    runs.loc[runs["config"] == "a", "config"] = "baseline"
    table = compare(final_rounds(runs), reference="replay")
    assert set(table["method"]) == {"replay"}  # the plain baseline is not a proxy run: not compared with a control
    with pytest.raises(ValueError, match="no runs of reference method 'nope'"):
        compare(final_rounds(runs), reference="nope")


def test_per_configuration_reference_pairs_by_config_and_protocol_is_a_group():
    # a compute-matched baseline trained beside each proxy configuration (same config name, its own method)
    runs = runs_table({"baseline": [0.80, 0.85, 0.90], "a": [0.82, 0.88, 0.91], "b": [0.70, 0.75, 0.80]})
    matched = runs[runs["config"] != "baseline"].copy()
    matched["method"] = "baseline_matched"
    matched["test_acc"] = np.where(matched["round"] == 1, matched["test_acc"] - 0.01, 0.5)
    both = pd.concat([runs, matched], ignore_index=True)
    both["protocol"] = "honest"
    other = both.copy()
    other["protocol"] = "leaky"
    other["test_acc"] = other["test_acc"] + 0.1
    final = final_rounds(pd.concat([both, other], ignore_index=True))

    table = compare(final, reference="baseline_matched")
    proxy = table[table["method"] == "proxy"].set_index(["protocol", "config"])
    # each proxy configuration against its own matched baseline: +0.01 on every fold, in both protocols
    assert proxy["mean_diff"].to_numpy() == pytest.approx([0.01] * 4)
    assert (proxy["n_pairs"] == 3).all()
    # the plain baseline has no matched run of its own configuration: left out, not a zero-pair row
    assert "baseline" not in set(table["method"])
    assert (table[table["method"] == "baseline_matched"]["verdict"] == "reference").all()
    # protocol groups are compared separately: the +0.1 shift of 'leaky' cancels in the pairs
    plain = compare(final)
    plain = plain[plain["method"] == "proxy"].set_index(["protocol", "config"])
    assert plain.loc[("leaky", "a"), "mean_diff"] == pytest.approx(plain.loc[("honest", "a"), "mean_diff"])
    assert plain.loc[("leaky", "a"), "mean"] == pytest.approx(plain.loc[("honest", "a"), "mean"] + 0.1)
