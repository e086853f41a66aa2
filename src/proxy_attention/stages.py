"""Screen, then confirm (thesis section 4.7): the two stages' configs, built from the workflow config.

With a ``stages:`` key, ``snakemake`` runs the proxy grid twice. The *screen* stage runs every
configuration of the grid on a cheap set-up (``stages.screen`` overrides some of the config's keys:
fewer folds, a short schedule, one small model) into ``results/screen/``; a checkpoint then chooses
``select_top`` configurations on validation numbers only (``proxy_attention.analysis.selection``)
and writes ``results/selection/proxy_configs.csv``; the *confirm* stage runs only those and the
baselines, with the config's keys overridden by ``stages.confirm``, into ``results/`` as a plain
run does.

A stage's config is the workflow config with the stage's keys replacing the config's (``explain``
is merged key by key), without ``stages`` and ``selection_metric``. Every other key -- the proxy
grid, training, image size -- is the same in both stages.
"""

from __future__ import annotations

import copy

from proxy_attention.errors import ConfigError

STAGES = ("screen", "confirm")
# The keys a stage may set, replacing the config's.
STAGE_KEYS = ("datasets", "models", "folds", "run_folds", "seeds", "schedules", "protocols",
              "matched_baseline", "controls", "explain")
SCREEN_ROOT = "results/screen"
CONFIRM_ROOT = "results"
SELECTION = "results/selection/proxy_configs.csv"
SELECTION_FIGURE = "results/selection/proxy_configs.svg"


def is_staged(config: dict) -> bool:
    return bool(config.get("stages"))


def stage_config(config: dict, stage: str) -> dict:
    """The config one stage runs with: ``config`` with ``stages[stage]``'s keys in place of its own."""
    if stage not in STAGES:
        raise ConfigError(f"config key 'stages.{stage}': unknown stage; the stages are {', '.join(STAGES)}")
    overrides = (config.get("stages") or {}).get(stage) or {}
    out = {k: copy.deepcopy(v) for k, v in config.items() if k not in ("stages", "selection_metric")}
    if stage == "screen":  # the screen ranks configurations on validation: its controls would explain nothing
        out["controls"] = []
    for key, value in overrides.items():
        if key == "select_top":
            continue
        if key not in STAGE_KEYS:
            raise ConfigError(f"config key 'stages.{stage}.{key}': a stage can only set "
                              f"{', '.join(STAGE_KEYS)} (and select_top in the screen)")
        if key == "explain":
            out["explain"] = {**out.get("explain", {}), **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_stages(config: dict, n_proxy_configs: int) -> None:
    """What the schema cannot check of ``stages``: a screen that can choose, datasets that agree.

    ``n_proxy_configs`` is the size of the proxy grid both stages share.
    """
    stages = config.get("stages") or {}
    missing = [s for s in STAGES if s not in stages]
    if missing:
        raise ConfigError(f"config key 'stages': needs both stages, screen and confirm (missing: {', '.join(missing)})")
    screen = stages["screen"] or {}
    if "select_top" not in screen:
        raise ConfigError("config key 'stages.screen.select_top': how many proxy configurations the "
                          "confirm stage runs must be given")
    top = screen["select_top"]
    if top > n_proxy_configs:
        raise ConfigError(f"config key 'stages.screen.select_top': {top}, but the proxy grid has only "
                          f"{n_proxy_configs} configuration(s); a screen that keeps everything chooses nothing")
    if "select_top" in (stages["confirm"] or {}):
        raise ConfigError("config key 'stages.confirm.select_top': only the screen stage selects")
    screen_config = stage_config(config, "screen")
    if "honest" not in screen_config["protocols"]:
        raise ConfigError("config key 'stages.screen.protocols': the screen must run the honest protocol; "
                          "the choice is made on its held-out validation folds")
    confirm_config = stage_config(config, "confirm")
    for name in set(screen_config["datasets"]) & set(confirm_config["datasets"]):
        a, b = screen_config["datasets"][name] or {}, confirm_config["datasets"][name] or {}
        if a != b:
            raise ConfigError(f"config key 'stages.screen.datasets.{name}': the stages share a dataset's "
                              "download, index and image cache, so its options must be the same in both "
                              f"({a} vs {b})")


def check_screen_schedules(screen_config: dict) -> None:
    """Every schedule of the screen has a proxy step: a schedule without one has nothing to choose."""
    from proxy_attention.train.schedule import parse_schedule

    for i, s in enumerate(screen_config["schedules"]):
        if not parse_schedule(s).n_proxy_steps:
            raise ConfigError(f"config key 'stages.screen.schedules[{i}]': {s} has no proxy step (p), so "
                              "the screen could not rank the proxy configurations")


def dataset_options_of_all_stages(config: dict) -> dict:
    """Every dataset of the config and of its stages, with its options (they agree: check_stages)."""
    out = dict(config["datasets"])
    for stage in STAGES if is_staged(config) else ():
        out.update(stage_config(config, stage)["datasets"])
    return out
