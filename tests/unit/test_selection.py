"""Choosing the screen stage's configurations for the confirm stage, on validation only (issue 15).

Hand-computed: baseline val_acc 0.80, 0.82, 0.84 on folds 0-2; the configurations' paired
differences are A (+.05, +.03, +.01: mean .030), B (+.01, +.02, +.02: .0167), C (+.03, +.01, -.01:
.010) and D (+.01 three times: .010, no spread, so its lower bound .010 is above C's).
"""

import numpy as np
import pandas as pd
import pytest

from proxy_attention.analysis.selection import select_configs, validation_only
from proxy_attention.grid import chosen_configs

BASE = [0.80, 0.82, 0.84]
DIFFS = {"A": [0.05, 0.03, 0.01], "B": [0.01, 0.02, 0.02], "C": [0.03, 0.01, -0.01], "D": [0.01, 0.01, 0.01]}
# test accuracy that would choose the opposite: C and D best on test
TEST = {"A": 0.70, "B": 0.71, "C": 0.90, "D": 0.89}


def screen_runs(test=TEST, base_test=0.75) -> pd.DataFrame:
    rows = []
    for fold, b in enumerate(BASE):
        common = {"dataset": "digits", "model": "resnet18", "schedule": "1p1", "seed": 0, "fold": fold}
        for cfg in ["baseline", *DIFFS]:
            method = "baseline" if cfg == "baseline" else "proxy"
            rows.append({**common, "method": method, "config": cfg, "round": 0, "epoch": 1,
                         "val_acc": 0.5, "val_loss": 1.0, "test_acc": 0.5, "test_loss": 1.0})
            val = b if cfg == "baseline" else b + DIFFS[cfg][fold]
            t = base_test if cfg == "baseline" else test[cfg]
            rows.append({**common, "method": method, "config": cfg, "round": 1, "epoch": 2,
                         "val_acc": val, "val_loss": 1 - val, "test_acc": t, "test_loss": 1 - t})
    return pd.DataFrame(rows)


def test_ranks_by_the_mean_paired_validation_difference_and_marks_the_top():
    sel = select_configs(screen_runs(), top=2)
    assert sel["config"].tolist() == ["A", "B", "D", "C"]
    assert sel["selection_rank"].tolist() == [1, 2, 3, 4]
    assert sel["chosen"].tolist() == [True, True, False, False]
    np.testing.assert_allclose(sel["mean_diff"], [0.03, 0.05 / 3, 0.01, 0.01], atol=1e-12)
    assert sel.loc[sel.config == "D", "ci_low"].item() == pytest.approx(0.01)
    assert sel.loc[sel.config == "C", "ci_low"].item() < 0.01  # the tie: D's bound is higher
    assert (sel["n_pairs"] == 3).all() and (sel["metric"] == "val_acc").all()
    assert chosen_configs(sel) == ["A", "B"]


def test_changing_the_test_numbers_never_changes_the_choice():
    before = select_configs(screen_runs(), top=2)
    rng = np.random.default_rng(0)
    scrambled = {k: float(v) for k, v in zip(TEST, rng.uniform(0, 1, len(TEST)))}
    after = select_configs(screen_runs(test=scrambled, base_test=0.99), top=2)
    pd.testing.assert_frame_equal(before, after)
    assert not any(c.startswith("test") for c in after.columns)


def test_explanation_scores_of_test_images_are_dropped_too():
    runs = screen_runs().assign(explain_road_combined=0.3, val_extra=1.0)
    kept = validation_only(runs)
    assert "explain_road_combined" not in kept and "test_acc" not in kept and "val_extra" in kept
    with pytest.raises(ValueError, match="validation"):
        select_configs(runs, top=1, metric="explain_road_combined")


def test_a_loss_is_ranked_lower_first():
    sel = select_configs(screen_runs(), top=1, metric="val_loss")
    assert sel["config"].tolist() == ["A", "B", "D", "C"] and chosen_configs(sel) == ["A"]


@pytest.mark.parametrize("metric", ["test_acc", "test_loss"])
def test_a_test_metric_is_refused(metric):
    with pytest.raises(ValueError, match="validation"):
        select_configs(screen_runs(), top=2, metric=metric)


def test_top_must_be_positive_and_the_metric_must_exist():
    with pytest.raises(ValueError, match="select_top"):
        select_configs(screen_runs(), top=0)
    with pytest.raises(ValueError, match="not a column"):
        select_configs(screen_runs(), top=1, metric="val_f1")
