# Wildcard constraints, path templates and the input functions of the rules (the config is
# validated in config.smk, included before this file). Target lists: targets.smk. Path
# arithmetic: proxy_attention.paths; the settings a job gets from the config:
# proxy_attention.train.settings and proxy_attention.config.

import os
import sys

from snakemake.iocontainers import Wildcards
from snakemake.utils import Paramspace

from proxy_attention.config import (
    PROXY_GRID_KEYS,
    canonical,
    explain_settings,
    folds_to_run,
    proxy_config_name,
    proxy_grid,
)
from proxy_attention.labels import short_config
from proxy_attention.augment.names import arm_dir, arm_name, needs_cam
from proxy_attention.data.datasets import archive_paths, conversion_options
from proxy_attention.data.datasets.registry import remote_files
from proxy_attention.errors import ConfigError
from proxy_attention import paths
from proxy_attention.report import categories as report_categories
from proxy_attention.paths import (
    CONTROL_METHODS,
    DATA,
    ROUND_KINDS,
    RUN,
    control_checkpoint,
    control_round_files,
    round_rule,
    shared_config,
    previous_checkpoint,
    proxy_manifests,
    proxy_step_dirs,
    proxy_step_outputs,
    round_files,
    round_outputs,
)
from proxy_attention.stages import dataset_options_of_all_stages
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import finder_settings, train_settings

SCHEDULES = {parse_schedule(s).tag: parse_schedule(s) for s in config["schedules"]}
PROXY_GRID = proxy_grid(config["proxy"])
paramspace = Paramspace(PROXY_GRID, param_sep="~")
PROXY_CONFIGS = [
    {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    for row in PROXY_GRID.to_dict("records")
]
PROXY_CONFIG_BY_NAME = {proxy_config_name(params): params for params in PROXY_CONFIGS}
FOLDS = folds_to_run(config)
# Every dataset of every stage: the stages share the data rules, which are this workflow's.
DATASET_OPTIONS = dataset_options_of_all_stages(config)
# Grid keys that vary: the ones report labels and legends name (besides the CAM method).
GRID_LABEL_KEYS = [k for k in PROXY_GRID_KEYS if PROXY_GRID[k].nunique() > 1]
ENV = "../../envs/proxy-attention.yaml"

# A stage's own tree (config.smk): its runs, fold split, tables and figures under ROOT
# (results/screen for the screen stage); the dataset's index and image cache are shared.
if ROOT != CONFIRM_ROOT:
    RUN = RUN.replace("results/", f"{ROOT}/", 1)
SPLIT = f"{ROOT}/data/{{dataset}}/split.csv"
SUMMARY = f"{ROOT}/summary"
PROXY_RUN = f"{RUN}/proxy/{paramspace.wildcard_pattern}"
PROXY_STEP = f"{PROXY_RUN}/proxy{{round}}"  # written by the train_proxy job of round r
# The controls (proxy/controls.py): round 1 of the matched baseline and of the replay is shared by
# every configuration with the same first-step selection; the random-location control's own steps.
SHARED_MATCHED = f"{RUN}/shared/subset_wrong~{{subset_wrong}}/matched"
SHARED_REPLAY = (
    f"{RUN}/shared/subset_wrong~{{subset_wrong}}/subset_order~{{subset_order}}/replay"
)
RANDOM_LOCATION_STEP = f"{PROXY_RUN}/random_location/proxy{{round}}"
LATER_ROUND = (
    r"[2-9]|[1-9]\d+"  # rounds from 2 on (round 1 of a shared control is its own rule)
)
FIGURES = f"{SUMMARY}/figures/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}"
GROUP = "{dataset}/{model}/{schedule}/{protocol}"  # the stem of a figure's log
GALLERY = f"{FIGURES}/gallery/{paramspace.wildcard_pattern}.png"
# Methods every configuration is compared with, where runs.csv has them: plain training, then each
# control of the proxy run (the same compute, the same images unmodified, the same edit elsewhere).
REFERENCE_METHODS = ["baseline", *CONTROL_METHODS]
# The data steps whose benchmark files the runtime figure shows, besides every round kind.
DATA_STEPS = ("prepare_dataset", "index_dataset", "split_dataset", "cache_images")
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


def stage_path(path: str) -> str:
    """``path`` in the stage's tree: the screen's logs and benchmarks of a table or split live under
    results/logs/<step>/screen/..., beside the confirm stage's (paths.log_path)."""
    if ROOT == CONFIRM_ROOT or path.startswith(f"{ROOT}/"):
        return path
    return f"{ROOT}/{path}"


def log_path(step: str, path: str) -> str:
    return paths.log_path(step, stage_path(path))


def benchmark_path(step: str, path: str) -> str:
    return paths.benchmark_path(step, stage_path(path))


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


def cache_file(wildcards):
    return f"results/data/{wildcards.dataset}/images_{config['img_size']}px.npy"


def fold_inputs(wildcards):
    return {
        "split": SPLIT.format(dataset=wildcards.dataset),
        "cache": cache_file(wildcards),
    }


def run_dir(wildcards):
    return RUN.format(**wildcards)


def proxy_dir(wildcards):
    return PROXY_RUN.format(**wildcards)


def n_proxy_steps(wildcards) -> int:
    return SCHEDULES[wildcards.schedule].n_proxy_steps


def init_checkpoint(method_dir):
    """Input function: the checkpoint a round of the method in ``method_dir(w)`` starts from."""
    return lambda w: previous_checkpoint(run_dir(w), method_dir(w), int(w.round))


def proxy_params(wildcards) -> dict:
    """The proxy configuration of a job, typed (floats, bools) as in the grid.

    A dict lookup by the Paramspace path: Paramspace.instance() converts every column
    through pandas and dominated DAG building of thesis-scale grids (15 of 38 s).
    """
    return PROXY_CONFIG_BY_NAME[proxy_config_name(wildcards)]


def run_info(wildcards, method: str, params: dict | None = None) -> dict:
    info = {
        "dataset": wildcards.dataset,
        "model": wildcards.model,
        "schedule": wildcards.schedule,
        "protocol": wildcards.protocol,
        "seed": int(wildcards.seed),
        "fold": int(wildcards.fold),
        "method": method,
        "config": proxy_config_name(params) if params else "none",
    }
    for key in PROXY_GRID_KEYS:
        info[key] = params[key] if params else None
    info["augmentation"] = arm_name(wildcards.aug)
    return info


def control_methods(wildcards) -> list[str]:
    """The controls trained beside every proxy configuration (honest protocol only): the
    compute-matched baseline (matched_baseline) and the config's ``controls``."""
    if wildcards.protocol != "honest":
        return []
    matched = ["baseline_matched"] if config["matched_baseline"] else []
    return matched + [c for c in CONTROL_METHODS if c in config["controls"]]


def shared_run_info(wildcards, method: str) -> dict:
    """run_info of a shared first control round: the grid keys it depends on, no configuration."""
    info = run_info(wildcards, method)
    info["subset_wrong"] = float(wildcards.subset_wrong)
    order = wildcards.subset_order if method == "replay" else None
    if order is not None:
        info["subset_order"] = order
    info["config"] = shared_config(wildcards.subset_wrong, order)
    return info


def first_step_params(wildcards, method: str) -> dict:
    """What a shared first control round needs to recompute the first proxy step's selection."""
    return {
        "kind": method,
        "subset_wrong": float(wildcards.subset_wrong),
        "subset_order": wildcards.get("subset_order", "random"),
        "batch_size": config["training"]["eval_batch_size"],
        "device": config["training"]["device"],
    }


def control_init(method: str):
    """Input function: the checkpoint a control's round r starts from (round 1 of a shared one, r = 2)."""
    return lambda w: control_checkpoint(
        run_dir(w), proxy_dir(w), method, proxy_params(w), int(w.round) - 1
    )


def explain_file(base: str, name: str) -> dict:
    """The explanation scores of a run's final model, in its fold's explain/ folder (explain.smk)."""
    if not config["explain"]["enabled"]:
        return {}
    return {"explain": f"{base}/explain/{name}.csv"}


def selected_names(at_parse_time: bool = False) -> list[str]:
    """The confirm stage's proxy configurations: the chosen rows of the selection checkpoint's table."""
    import pandas as pd

    # imported here: only a screened grid needs it (pandas and scipy at every parse otherwise)
    from proxy_attention.analysis.selection import chosen_configs

    # a report shows what exists: never the checkpoint's job
    if at_parse_time or REPORTING:
        if not os.path.exists(SELECTION):
            return []
        path = SELECTION
    else:
        path = checkpoints.select_configs.get().output.table
    return chosen_configs(pd.read_csv(path))


def run_configs(at_parse_time: bool = False) -> list[dict]:
    """The proxy configurations this stage runs: the grid's, or in the confirm stage of a screened
    grid only the chosen ones (known once the selection checkpoint has run)."""
    if not STAGED:
        return PROXY_CONFIGS
    return [PROXY_CONFIG_BY_NAME[n] for n in selected_names(at_parse_time)]


def run_rounds(wildcards, at_parse_time: bool = False) -> list[dict]:
    """The runs of one fold (baseline and every proxy configuration) with their per-round files.

    Per round (round 0 first): ``metrics``, ``epochs``, ``train_benchmark``; proxy runs also
    ``proxy_steps`` (the directory of the proxy step before each round; None for round 0), which
    the round's own training job writes.
    """
    base = run_dir(wildcards)
    n = n_proxy_steps(wildcards)
    runs = [
        {
            **run_info(wildcards, "baseline"),
            **round_files(base, f"{base}/baseline", n),
            **explain_file(base, "baseline"),
        }
    ]
    for params in run_configs(at_parse_time):
        proxy = f"{base}/proxy/{proxy_config_name(params)}"
        steps = proxy_step_dirs(proxy, n)
        runs.append(
            {
                **run_info(wildcards, "proxy", params),
                **round_files(base, proxy, n),
                **explain_file(base, f"proxy/{proxy_config_name(params)}"),
                "proxy_steps": [None] + steps,
            }
        )
        for method in control_methods(wildcards):
            control = {
                **run_info(wildcards, method, params),
                **control_round_files(base, proxy, method, params, n),
            }
            if method == "random_location":
                control["proxy_steps"] = [None] + proxy_step_dirs(
                    f"{proxy}/random_location", n
                )
            runs.append(control)
    return runs


def fold_wildcards(group: dict, seed, fold, augmentation: str = "none") -> Wildcards:
    return Wildcards(
        fromdict={
            **group,
            "aug": arm_dir(augmentation),
            "seed": str(seed),
            "fold": str(fold),
        }
    )


# --- Data (data.smk, download.smk) ---


def dataset_archives(wildcards) -> list[str]:
    """The verified archives a published dataset is converted from (none for built-ins and folders)."""
    return archive_paths(wildcards.dataset, dataset_options(wildcards.dataset))


def download_checksum(wildcards):
    files = {
        f.filename: f
        for f in remote_files(wildcards.dataset, dataset_options(wildcards.dataset))
    }
    return files[wildcards.filename].checksum if wildcards.filename in files else None


# --- Training and proxy steps (train.smk) ---


def round_settings(wildcards) -> dict:
    """TrainSettings keys of a round; `batch_size: auto` is replaced in the job by the finder's file."""
    return canonical(
        train_settings(
            config, wildcards.model, int(wildcards.seed), arm_name(wildcards.aug)
        )
    )


def batch_size_settings(wildcards) -> dict:
    return canonical(finder_settings(config, wildcards.model, int(wildcards.size)))


def batch_size_input(wildcards) -> dict:
    """With training.batch_size: auto, the finder's file for this model, image size and device."""
    if config["training"]["batch_size"] != "auto":
        return {}
    device = config["training"]["device"].replace(":", "")
    return {
        "batch_size": f"results/batch_size/{wildcards.model}_{config['img_size']}px_{device}.json"
    }


def feeds_proxy_step(wildcards) -> bool:
    """Whether a proxy step follows this training round (rounds before the schedule's last proxy
    step): its job then records the step's misclassified search in the checkpoint. A function of
    the schedule and round only, so adding proxy configurations to a grid never reruns round 0.
    """
    return int(wildcards.get("round", 0)) < n_proxy_steps(wildcards)


def round_proxy_manifests(wildcards) -> list[str]:
    """The proxy steps whose images train (or, for the matched baseline, are matched by) round r."""
    clear = proxy_params(wildcards)["clear_every_step"]
    return proxy_manifests(proxy_dir(wildcards), int(wildcards.round), clear)


def earlier_random_location_manifests(wildcards) -> list[str]:
    """The random-location control's own earlier steps whose images train its round r too."""
    clear = proxy_params(wildcards)["clear_every_step"]
    own = f"{RANDOM_LOCATION_STEP.format(**wildcards)}/manifest.csv"
    steps = proxy_manifests(
        f"{proxy_dir(wildcards)}/random_location", int(wildcards.round), clear
    )
    return [m for m in steps if m != own]


def earlier_proxy_manifests(wildcards) -> list[str]:
    """round_proxy_manifests without step r's, which the train_proxy job of round r writes itself."""
    own = f"{PROXY_STEP.format(**wildcards)}/manifest.csv"
    return [m for m in round_proxy_manifests(wildcards) if m != own]


def proxy_step_params(wildcards) -> dict:
    """What the proxy step before round r needs besides the fold's data (proxy_attention.proxy.step)."""
    return canonical(
        {
            "proxy": proxy_params(wildcards),
            "cam_target_layer": config["cam_target_layer"].get(wildcards.model),
            "batch_size": config["proxy"]["batch_size"],
            "device": config["training"]["device"],
        }
    )


def trained_with_now(wildcards) -> dict[str, dict]:
    """For the report's staleness check: the training settings every round of the fold's runs would
    be given now, by its metrics.json (which records those it was trained with)."""
    settings = round_settings(wildcards)
    return {
        metrics: settings
        for run in run_rounds(wildcards, at_parse_time=True)
        for metrics in run["metrics"]
    }


def let_go(outputs: dict) -> dict:
    """A round's outputs with its checkpoint temp() (keep_intermediate_rounds: false, train.smk)."""
    return {**outputs, "checkpoint": temp(outputs["checkpoint"])}


# --- Tables (aggregate.smk) ---


def fold_summary_inputs(wildcards) -> list[str]:
    files = set()
    for run in run_rounds(wildcards):
        for key in ("metrics", "epochs", "train_benchmark"):
            files.update(p for p in run.get(key, []) if p)
        for step in run.get("proxy_steps", []):
            if step:
                files.update([f"{step}/manifest.csv", f"{step}/stats.json"])
        if "explain" in run:
            files.add(f"{run_dir(wildcards)}/explain")
    return sorted(files)


# --- Figures (plots.smk) ---


def figure_labels(item: str):
    """Report labels of a figure of one (dataset, model, schedule); every value a string."""
    return lambda w: {
        "dataset": w.dataset,
        "model": w.model,
        "schedule": w.schedule,
        "protocol": w.protocol,
        "item": item,
    }


def final_metrics(wildcards) -> dict[str, dict[str, list[str]]]:
    """By method and configuration: the last round's metrics.json (with test predictions) of each run."""
    group = {k: wildcards[k] for k in ("dataset", "model", "schedule", "protocol")}
    out = {}
    for seed in config["seeds"]:
        for fold in FOLDS:
            for run in run_rounds(fold_wildcards(group, seed, fold)):
                by_config = out.setdefault(run["method"], {})
                by_config.setdefault(run["config"], []).append(run["metrics"][-1])
    return out


def gallery_steps(wildcards) -> list[str]:
    """The proxy-step directories of one configuration on the first seed and fold."""
    w = {
        **dict(wildcards.items()),
        "aug": "",
        "seed": config["seeds"][0],
        "fold": FOLDS[0],
    }
    return proxy_step_dirs(PROXY_RUN.format(**w), n_proxy_steps(wildcards))


def gallery_inputs(wildcards) -> dict:
    steps = gallery_steps(wildcards)
    return {
        "cache": cache_file(wildcards),
        "manifests": [f"{s}/manifest.csv" for s in steps],
        "cams": [f"{s}/cams.npz" for s in steps],
        "images": [f"{s}/images" for s in steps],
    }


def augmentation_gallery_inputs(wildcards) -> dict:
    """The image cache and split, and for the saliency-guided methods the model that gives their CAM:
    round 0 of the plain arm, first model, schedule, protocol, seed and fold."""
    inputs = fold_inputs(wildcards)
    if any(needs_cam(a) for a in config["augmentations"]):
        group = {
            "dataset": wildcards.dataset,
            "model": config["models"][0],
            "schedule": next(iter(SCHEDULES)),
            "protocol": config["protocols"][0],
        }
        w = fold_wildcards(group, config["seeds"][0], FOLDS[0])
        inputs["checkpoint"] = f"{run_dir(w)}/round0/checkpoint.pt"
    return inputs


def benchmark_inputs(wildcards) -> dict:
    """Every benchmark file of the workflow's heavy jobs, by rule."""
    bench = {name: set() for name in DATA_STEPS}
    bench.update({kind.rule: set() for kind in ROUND_KINDS})
    for d in config[
        "datasets"
    ]:  # the shared data steps write the confirm stage's benchmarks
        for name in ("prepare_dataset", "index_dataset"):
            bench[name].add(paths.benchmark_path(name, d))
        bench["split_dataset"].add(benchmark_path("split_dataset", d))
        bench["cache_images"].add(
            paths.benchmark_path("cache_images", f"{d}_{config['img_size']}px")
        )
    for w in fold_keys():
        for run in run_rounds(w):
            train = run["train_benchmark"]
            for path in train:  # results/benchmarks/train/<round dir>.tsv
                bench[round_rule(path.removesuffix(".tsv"))].add(path)
    bench = {name: present(sorted(files)) for name, files in bench.items()}
    return {name: files for name, files in bench.items() if files}


# --- Explanations (explain.smk) ---


def explain_params(wildcards) -> dict:
    return canonical(explain_settings(config, wildcards.model))


def explained_runs(wildcards) -> list[dict]:
    """The runs of a fold whose final model the explain job scores: the baseline, then every proxy
    configuration (the order of run_rounds)."""
    return [r for r in run_rounds(wildcards) if "explain" in r]


def explain_checkpoints(wildcards) -> list[str]:
    """The last round's checkpoint of every run of explained_runs, in that order."""
    return [
        r["metrics"][-1].replace("metrics.json", "checkpoint.pt")
        for r in explained_runs(wildcards)
    ]
