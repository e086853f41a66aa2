# What several rules files share: the stage's grid (proxy_attention.grid: the runs the config asks
# for and their files), its path templates (proxy_attention.paths), the wildcard constraints and
# the input functions of more than one rules file. The config is validated in config.smk, included
# before this file; each rules file keeps the input functions of its own rules beside them, as
# thin wrappers that adapt `wildcards` to a call of the grid.

import os
import sys

from proxy_attention import paths
from proxy_attention.config import canonical
from proxy_attention.grid import PROXY_GRID_KEYS, Grid
from proxy_attention.grid import selected_names as chosen_in
from proxy_attention.paths import (
    CONTROL_METHODS,
    DATA,
    proxy_step_outputs,
    round_outputs,
)
from proxy_attention.report import categories as report_categories
from proxy_attention.stages import dataset_options_of_all_stages

# The stage's own tree (config.smk): its runs, fold split, tables and figures under ROOT
# (results/screen for the screen stage); the dataset's index and image cache are shared.
GRID = Grid(config, ROOT)
LAYOUT = GRID.layout
SCHEDULES = GRID.schedules
FOLDS = GRID.folds
RUN = LAYOUT.run
PROXY_RUN = LAYOUT.proxy_run
SPLIT = LAYOUT.split
SUMMARY = LAYOUT.summary
# Every dataset of every stage: the stages share the data rules, which are this workflow's.
DATASET_OPTIONS = dataset_options_of_all_stages(config)
ENV = "../../envs/proxy-attention.yaml"
# Methods every configuration is compared with, where runs.csv has them: plain training, then each
# control of the proxy run (the same compute, the same images unmodified, the same edit elsewhere).
REFERENCE_METHODS = ["baseline", *CONTROL_METHODS]
# torch.set_num_threads of every job that computes: a param (a change reruns them), never
# snakemake.threads, which Snakemake scales down to --cores (and the numbers with it).
TORCH_THREADS = config["torch_threads"]
# The cores the scheduler reserves for such a job: at least its torch threads.
COMPUTE_THREADS = max(config["threads"], TORCH_THREADS)
# Every heavy job (training, proxy step, explanations, batch size finder) asks for these.
HEAVY = dict(
    mem_mb=config["resources"]["mem_mb"],
    runtime=config["resources"]["runtime"],
    gpu=config["resources"]["gpu"],
)


wildcard_constraints:
    **{key: r"[^/]+" for key in PROXY_GRID_KEYS},
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    model=r"[A-Za-z0-9_.-]+",
    schedule=r"\d+(p\d+)*",
    protocol=r"honest|thesis",
    aug=r"(/aug~[a-z_]+)?",
    seed=r"\d+",
    fold=r"\d+",
    round=r"\d+",
    size=r"\d+",
    device=r"auto|cpu|cuda\d*",


def log_path(step: str, path: str) -> str:
    return LAYOUT.log_path(step, path)


def benchmark_path(step: str, path: str) -> str:
    return LAYOUT.benchmark_path(step, path)


def category(name: str) -> str:
    """A report category by its bare name, numbered where the categories are defined
    (proxy_attention.report.categories); the screen stage's items follow under their own heading.
    """
    return report_categories.numbered(name, screen=STAGE == "screen")


# `snakemake --report` (also `--report=...`): the report is built from the results that exist.
# Not with --report-after-run, which first runs the jobs (present() would hide their targets).
REPORTING = any(
    a == "--report" or a.startswith("--report=") for a in sys.argv
) and not any(a.startswith("--report-after-run") for a in sys.argv)


def present(files: list[str]) -> list[str]:
    """``files`` as they are; in `snakemake --report` only those that exist.

    Snakemake's report stops at the first file marked for it that does not exist, anywhere in the
    DAG of its targets: after a grid value, fold or dataset is added, or a fold deleted, no report
    at all. The report's targets (Snakefile, rule all) and the grid-wide inputs through which a new
    dataset's data rules would enter its DAG go through this; what the config asks for and does not
    exist yet is named on the report's first screen (OUT OF DATE, report/staleness.py).
    """
    if not REPORTING:
        return files
    return [f for f in files if os.path.exists(f)]


def dataset_options(dataset) -> dict:
    return DATASET_OPTIONS.get(dataset) or {}


def fold_inputs(wildcards) -> dict:
    return GRID.fold_inputs(wildcards)


def round_settings(wildcards) -> dict:
    """TrainSettings keys of a round (train.smk; the report's staleness check, targets.smk)."""
    return canonical(GRID.round_settings(wildcards))


def run_dir(wildcards) -> str:
    return GRID.run_dir(wildcards)


def proxy_params(wildcards) -> dict:
    return GRID.proxy_params(wildcards)


def selected_names(at_parse_time: bool = False) -> list[str]:
    """The confirm stage's proxy configurations: the chosen rows of the selection checkpoint's table."""
    if (
        at_parse_time or REPORTING
    ):  # a report shows what exists: never the checkpoint's job
        return chosen_in(SELECTION) if os.path.exists(SELECTION) else []
    return chosen_in(checkpoints.select_configs.get().output.table)


def run_configs(at_parse_time: bool = False) -> list[dict]:
    """The proxy configurations this stage runs: the grid's, or in the confirm stage of a screened
    grid only the chosen ones (known once the selection checkpoint has run)."""
    if not STAGED:
        return GRID.proxy_configs
    return GRID.configs_named(selected_names(at_parse_time))


def run_rounds(wildcards, at_parse_time: bool = False) -> list[dict]:
    """The runs of one fold with their per-round files (grid.Grid.run_rounds)."""
    return GRID.run_rounds(wildcards, run_configs(at_parse_time))
