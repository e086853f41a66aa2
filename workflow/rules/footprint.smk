# The disk use of the planned training rounds (code: proxy_attention.footprint), printed by every
# run and dry run before any job, with a warning when it exceeds the free space of results/'s file
# system. Not in a cluster job's own Snakemake process, nor for --report. A screened grid prints
# one line per stage (the confirm stage's runs are counted once its selection exists).

from proxy_attention import footprint


def planned_rounds() -> list:
    return [
        footprint.PlannedRound(*r)
        for r in GRID.planned_rounds(run_configs(at_parse_time=True))
    ]


def report_footprint() -> None:
    optimizer = config["training"]["optimizer"]
    classes = {
        d: footprint.class_count(d, dataset_options(d)) for d in config["datasets"]
    }
    n_classes = max(n for n, _ in classes.values())  # the largest head: an upper bound
    sizes = {
        m: footprint.model_sizes(
            m, n_classes, (config.get("model_kwargs") or {}).get(m), optimizer
        )
        for m in config["models"]
    }
    keep = config["keep_intermediate_rounds"]
    fp = footprint.plan(planned_rounds(), sizes, keep)
    message, warning = footprint.describe(
        fp, sizes, optimizer, keep, classes, footprint.free_space(ROOT), ROOT
    )
    if STAGED and not os.path.exists(SELECTION):
        message += " (The proxy runs count once the screen stage's selection exists.)"
    logger.info(f"{f'{STAGE} stage: ' if STAGE else ''}{message}")
    if warning:
        logger.warning(f"WARNING: {warning}")


if workflow.is_main_process and not REPORTING:
    report_footprint()
