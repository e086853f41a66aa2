import pandas as pd
import pytest

from proxy_attention.analysis.protocols import protocol_comparison


def runs_table():
    rows = []
    for protocol, leak in (("honest", 0.0), ("thesis", 0.10)):
        for fold in (0, 1):
            for method, config, accs in [
                ("baseline", "none", [(0.50, 0.50), (0.70, 0.70), (0.80, 0.80)]),
                ("proxy", "a", [(0.50, 0.50), (0.72, 0.69), (0.82, 0.79)]),
                ("proxy", "b", [(0.50, 0.50), (0.74, 0.68), (0.84, 0.81)]),
            ]:
                for r, (val, test) in enumerate(accs):
                    rows.append(dict(dataset="d", model="m", schedule="1p1p1", protocol=protocol, seed=0, fold=fold,
                                     method=method, config=config, round=r,
                                     val_acc=val + (leak if method == "proxy" and r else 0), test_acc=test))
    return pd.DataFrame(rows)


def test_protocol_comparison_by_hand():
    table = protocol_comparison(runs_table()).iloc[0]
    # thesis-style: mean val over rounds 1..2 of both configs (0.72, 0.82, 0.74, 0.84 -> 0.78) minus baseline final 0.80
    assert table.thesis_score_on_honest_runs == pytest.approx(0.78 - 0.80)
    assert table.thesis_reported_gain == pytest.approx(0.88 - 0.80)
    # honest: final test of each config minus the baseline's on the same fold: (0.79 - 0.80 + 0.81 - 0.80) / 2
    assert table.honest_gain == pytest.approx(0.0)
    assert table.thesis_runs_test_gain == pytest.approx(0.0)
    assert table.n_folds == 2
