"""The two stages' configs of a screened grid (proxy_attention.stages) and the pooled ranking of
the screen's configurations (proxy_attention.analysis.selection), on hand-computed cases."""

import numpy as np
import pandas as pd
import pytest
from test_selection import BASE, screen_runs

from proxy_attention.analysis.selection import select_configs
from proxy_attention.errors import ConfigError
from proxy_attention.grid import chosen_configs
from proxy_attention.stages import check_screen_schedules, check_stages, dataset_options_of_all_stages, stage_config

BASE_CONFIG = {
    "datasets": {"digits": {}},
    "models": ["resnet18"],
    "folds": 3,
    "seeds": [0],
    "schedules": [[3, "p", 3]],
    "protocols": ["honest"],
    "matched_baseline": True,
    "explain": {"enabled": True, "n_images": 16},
    "proxy": {"cam_method": ["gradcam", "gradcampp"]},
    "stages": {
        "screen": {"folds": 2, "schedules": [[1, "p", 1]], "explain": {"enabled": False}, "select_top": 1},
        "confirm": {"folds": 5, "seeds": [0, 1, 2]},
    },
    "selection_metric": "val_acc",
}


def test_a_stage_replaces_only_its_keys_and_merges_explain():
    screen = stage_config(BASE_CONFIG, "screen")
    assert screen["folds"] == 2 and screen["schedules"] == [[1, "p", 1]] and screen["seeds"] == [0]
    assert screen["explain"] == {"enabled": False, "n_images": 16}  # merged, not replaced
    assert "stages" not in screen and "selection_metric" not in screen and "select_top" not in screen
    assert screen["proxy"] == BASE_CONFIG["proxy"]  # the grid is the same in both stages
    confirm = stage_config(BASE_CONFIG, "confirm")
    assert confirm["folds"] == 5 and confirm["seeds"] == [0, 1, 2] and confirm["schedules"] == [[3, "p", 3]]
    assert BASE_CONFIG["stages"]["screen"]["folds"] == 2 and BASE_CONFIG["folds"] == 3  # not modified


def with_stages(screen=None, confirm=None, **top):
    cfg = {**BASE_CONFIG, **top}
    cfg["stages"] = {"screen": {**BASE_CONFIG["stages"]["screen"], **(screen or {})},
                     "confirm": {**BASE_CONFIG["stages"]["confirm"], **(confirm or {})}}
    return cfg


@pytest.mark.parametrize("cfg, key", [
    (with_stages(screen={"lr": 0.1}), "stages.screen.lr"),
    (with_stages(screen={"select_top": 3}), "stages.screen.select_top"),
    (with_stages(confirm={"select_top": 1}), "stages.confirm.select_top"),
    (with_stages(screen={"protocols": ["thesis"]}), "stages.screen.protocols"),
    (with_stages(screen={"datasets": {"digits": {"max_per_class": 5}}}), "stages.screen.datasets.digits"),
])
def test_a_bad_stage_is_refused_naming_the_key(cfg, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_stages(cfg, n_proxy_configs=2)
        for stage in ("screen", "confirm"):
            stage_config(cfg, stage)


def test_the_screen_needs_select_top_and_both_stages():
    cfg = with_stages()
    del cfg["stages"]["screen"]["select_top"]
    with pytest.raises(ConfigError, match=r"stages\.screen\.select_top"):
        check_stages(cfg, n_proxy_configs=2)
    with pytest.raises(ConfigError, match="missing: confirm"):
        check_stages({**BASE_CONFIG, "stages": {"screen": {"select_top": 1}}}, n_proxy_configs=2)


def test_a_screen_schedule_without_a_proxy_step_is_refused():
    with pytest.raises(ConfigError, match=r"stages\.screen\.schedules\[1\]"):
        check_screen_schedules({"schedules": [[1, "p", 1], [2]]})
    check_screen_schedules({"schedules": [[1, "p", 1]]})


def test_datasets_of_both_stages_are_known_to_the_shared_data_rules():
    cfg = with_stages(screen={"datasets": {"small": {"type": "folder", "path": "/x"}}})
    assert dataset_options_of_all_stages(cfg) == {"digits": {}, "small": {"type": "folder", "path": "/x"}}
    assert dataset_options_of_all_stages({"datasets": {"digits": {}}}) == {"digits": {}}


def two_groups() -> pd.DataFrame:
    """The test_selection screen (A .030, B .0167, C .010, D .010) on model resnet18, and on a second
    model where the paired differences are A -.02, B +.04, C +.01, D +.01 (each fold the same)."""
    other = {"A": -0.02, "B": 0.04, "C": 0.01, "D": 0.01}
    second = screen_runs().assign(model="resnet34")
    for cfg, d in other.items():
        rows = (second["config"] == cfg) & (second["round"] == 1)
        second.loc[rows, "val_acc"] = np.array(BASE) + d
    return pd.concat([screen_runs(), second], ignore_index=True)


def test_configurations_are_ranked_by_their_mean_over_the_screen_groups():
    sel = select_configs(two_groups(), top=1)
    # B: (.0167 + .04) / 2 = .0283; A: (.03 - .02) / 2 = .005; C and D: .01, D's bound higher
    per_config = sel.drop_duplicates("config").set_index("config")
    np.testing.assert_allclose(per_config.loc[["B", "D", "C", "A"], "score"],
                               [(0.05 / 3 + 0.04) / 2, 0.01, 0.01, 0.005], atol=1e-12)
    assert per_config["selection_rank"].to_dict() == {"B": 1, "D": 2, "C": 3, "A": 4}
    assert chosen_configs(sel) == ["B"]
    assert len(sel) == 8 and sel.groupby("config")["chosen"].nunique().eq(1).all()
    # within its group, A is still first on resnet18
    assert sel.set_index(["model", "config"]).loc[("resnet18", "A"), "group_rank"] == 1


def test_thesis_protocol_runs_never_vote():
    honest = screen_runs().assign(protocol="honest")
    thesis = screen_runs().assign(protocol="thesis")
    rows = (thesis["config"] == "C") & (thesis["round"] == 1)
    thesis.loc[rows, "val_acc"] = 1.0  # C would win on the thesis protocol
    sel = select_configs(pd.concat([honest, thesis], ignore_index=True), top=1)
    assert chosen_configs(sel) == ["A"] and set(sel["protocol"]) == {"honest"}
