import pandas as pd
import pytest

from proxy_attention.analysis.protocols import protocol_comparison

# (val, test) accuracy per round; the folds differ, so a fold dropped or paired with the wrong
# baseline changes every number below
ACCS = {
    0: [("baseline", "none", [(0.50, 0.50), (0.70, 0.70), (0.80, 0.80)]),
        ("proxy", "a", [(0.50, 0.50), (0.72, 0.69), (0.82, 0.79)]),
        ("proxy", "b", [(0.50, 0.50), (0.74, 0.68), (0.84, 0.81)])],
    1: [("baseline", "none", [(0.40, 0.40), (0.60, 0.60), (0.70, 0.66)]),
        ("proxy", "a", [(0.40, 0.40), (0.64, 0.63), (0.76, 0.70)]),
        ("proxy", "b", [(0.40, 0.40), (0.62, 0.61), (0.72, 0.72)])],
}


def runs_table():
    rows = []
    for protocol, leak in (("honest", 0.0), ("thesis", 0.10)):
        for fold, runs in ACCS.items():
            for method, config, accs in runs:
                for r, (val, test) in enumerate(accs):
                    rows.append(dict(dataset="d", model="m", schedule="1p1p1", protocol=protocol, seed=0, fold=fold,
                                     method=method, config=config, round=r,
                                     val_acc=val + (leak if method == "proxy" and r else 0), test_acc=test))
    return pd.DataFrame(rows)


def test_protocol_comparison_by_hand():
    table = protocol_comparison(runs_table()).iloc[0]
    # thesis-style: mean val over rounds 1..2 of both configs and folds
    # (fold 0: 0.72, 0.82, 0.74, 0.84; fold 1: 0.64, 0.76, 0.62, 0.72 -> 0.7325) minus the baseline's final (0.80, 0.70)
    assert table.thesis_score_on_honest_runs == pytest.approx(0.7325 - 0.75)
    assert table.thesis_reported_gain == pytest.approx(0.8325 - 0.75)
    # honest: final test of each config minus the baseline's on the same fold:
    # fold 0: 0.79 - 0.80, 0.81 - 0.80; fold 1: 0.70 - 0.66, 0.72 - 0.66 -> (-0.01 + 0.01 + 0.04 + 0.06) / 4
    assert table.honest_gain == pytest.approx(0.025)
    assert table.thesis_runs_test_gain == pytest.approx(0.025)
    assert table.n_folds == 2
