# What `snakemake` builds: every fold the config asks for, the tables, figures and audits.

import importlib.util

from snakemake.logging import logger

TENSORBOARD = (
    config["tensorboard"] and importlib.util.find_spec("tensorboard") is not None
)
if config["tensorboard"] and not TENSORBOARD:
    logger.warning(
        "config 'tensorboard: true' but the tensorboard package is not installed: "
        "no event files are written (pip install tensorboard to get them)"
    )


def all_targets() -> list[str]:
    """Everything `snakemake` builds (grid.Grid.summary_targets). In the confirm stage of a screened
    grid (config.smk) also the screen stage's targets and the selection, and the confirm stage's runs
    are known only once the selection checkpoint has run: call it from an input function.
    """
    return [
        *(rules.screen_all.input if STAGED else []),
        *([SELECTION, SELECTION_FIGURE] if STAGED else []),
        *GRID.summary_targets(TENSORBOARD, run_configs()),
    ]


def trained_with_now(wildcards) -> dict[str, dict]:
    """For the report's staleness check: the training settings every round of the fold's runs would
    be given now, by its metrics.json (which records those it was trained with)."""
    settings = round_settings(wildcards)
    return {
        metrics: settings
        for run in run_rounds(wildcards, at_parse_time=True)
        for metrics in run["metrics"]
    }


def report_targets() -> list[str]:
    """all_targets(); in `snakemake --report` those that exist (common.smk: present), and the
    report's first screen says when runs.csv holds other runs than the current config asks for,
    runs trained with other settings, or when report files the config asks for are left out
    because they do not exist yet (workflow/report/workflow.rst)."""
    targets = all_targets()
    if not REPORTING:
        return targets
    from proxy_attention.report.staleness import run_key, stale_runs_message

    expected, asked = set(), {}
    for w in GRID.fold_keys():
        expected |= {run_key(run) for run in run_rounds(w, at_parse_time=True)}
        asked.update(trained_with_now(w))
    made = present(targets)
    runs_csv = f"{SUMMARY}/runs.csv"
    config["_report_warning"] = stale_runs_message(
        runs_csv,
        expected,
        asked=asked,
        left_out=(
            [t for t in targets if t not in made] if os.path.exists(runs_csv) else []
        ),
    )
    return made
