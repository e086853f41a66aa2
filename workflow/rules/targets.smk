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


def groups() -> list[dict]:
    """Every (dataset, model, schedule, protocol) of the grid: one comparison each."""
    return [
        {"dataset": d, "model": m, "schedule": s, "protocol": p}
        for d in config["datasets"]
        for m in config["models"]
        for s in SCHEDULES
        for p in config["protocols"]
    ]


def fold_keys() -> list[Wildcards]:
    """The wildcards of every fold the config asks for."""
    return [
        fold_wildcards(group, seed, fold, augmentation)
        for group in groups()
        for augmentation in config["augmentations"]
        for seed in config["seeds"]
        for fold in FOLDS
    ]


def fold_summaries() -> list[str]:
    return [f"{run_dir(w)}/summary.csv" for w in fold_keys()]


def train_sets() -> list[str]:
    """Every round's record of the images it trained and validated on, for the leakage audit."""
    paths = {
        m.replace("metrics.json", "train_set.npz")
        for w in fold_keys()
        for run in run_rounds(w)
        for m in run["metrics"]
    }
    return sorted(paths)


def proxy_manifests_all() -> list[str]:
    """Every proxy step's manifest of every run, for the leakage audit."""
    return sorted(
        f"{step}/manifest.csv"
        for w in fold_keys()
        for run in run_rounds(w)
        for step in run.get("proxy_steps", [])
        if step
    )


def figure_targets() -> list[str]:
    targets = [f"{SUMMARY}/runtime.svg"]
    targets += [f"{SUMMARY}/figures/{d}/classes.svg" for d in config["datasets"]]
    for g in groups():
        base = FIGURES.format(**g)
        targets += [
            f"{base}/{name}"
            for name in (
                "learning_curves.svg",
                "heatmap.svg",
                "paired_differences.svg",
                "proxy_counts.svg",
                "confusion.svg",
            )
        ]
        if SCHEDULES[g["schedule"]].n_proxy_steps:
            targets += [GALLERY.format(**g, **params) for params in run_configs()]
        if len(config["augmentations"]) > 1:
            targets.append(f"{base}/augmentations.svg")
    if len(config["augmentations"]) > 1:
        targets += [
            f"{SUMMARY}/figures/{d}/augmentations.png" for d in config["datasets"]
        ]
    return targets


def explain_targets() -> list[str]:
    if not config["explain"]["enabled"]:
        return []
    return [
        p.replace("summary.csv", "explain_gallery.png") for p in fold_summaries()
    ] + [f"{SUMMARY}/explain_vs_accuracy.svg"]


def all_targets() -> list[str]:
    """Everything `snakemake` builds. In the confirm stage of a screened grid (config.smk) also the
    screen stage's targets and the selection, and the confirm stage's runs are known only once the
    selection checkpoint has run: call it from an input function."""
    return [
        *(rules.screen_all.input if STAGED else []),
        *([SELECTION, SELECTION_FIGURE] if STAGED else []),
        f"{SUMMARY}/leakage_audit.csv",
        f"{SUMMARY}/runs.csv",
        f"{SUMMARY}/epochs.csv",
        f"{SUMMARY}/comparison.csv",
        f"{SUMMARY}/test_accuracy.svg",
        *figure_targets(),
        *([f"{SUMMARY}/tensorboard"] if TENSORBOARD else []),
        *explain_targets(),
        *(
            [f"{SUMMARY}/protocol_comparison.csv"]
            if "thesis" in config["protocols"]
            else []
        ),
    ]


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
    for w in fold_keys():
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
