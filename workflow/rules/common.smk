# Helpers, target lists and wildcard constraints shared by every rule.

import pandas as pd
from snakemake.utils import Paramspace, validate

from proxy_attention.config import (
    PROXY_GRID_KEYS,
    ConfigError,
    check_config,
    folds_to_run,
    proxy_grid,
)
from proxy_attention.datasets import archive_paths
from proxy_attention.datasets.registry import remote_files
from proxy_attention.schedule import parse_schedule

validate(config, schema="../schemas/config.schema.yaml")
try:
    check_config(config)
except ConfigError as e:
    raise WorkflowError(f"Invalid configuration: {e}")

SCHEDULES = {parse_schedule(s).tag: parse_schedule(s) for s in config["schedules"]}
PROXY_GRID = proxy_grid(config["proxy"])
paramspace = Paramspace(PROXY_GRID, param_sep="~")
PROXY_CONFIGS = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in PROXY_GRID.to_dict("records")]
FOLDS = folds_to_run(config)

DATA = "results/data/{dataset}"
RUN = "results/runs/{dataset}/{model}/{schedule}/seed{seed}/fold{fold}"
PROXY_RUN = RUN + "/proxy/" + paramspace.wildcard_pattern
LOGS = "results/logs"
BENCH = "results/benchmarks"


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    model=r"[A-Za-z0-9_.-]+",
    schedule=r"\d+(p\d+)*",
    seed=r"\d+",
    fold=r"\d+",
    round=r"\d+",
    size=r"\d+",
    **{key: r"[^/]+" for key in PROXY_GRID_KEYS},


def dataset_options(dataset) -> dict:
    return config["datasets"].get(dataset) or {}


def dataset_archives(wildcards) -> list[str]:
    """The verified archives a published dataset is converted from (none for built-ins and folders)."""
    return archive_paths(wildcards.dataset, dataset_options(wildcards.dataset))


def conversion_options(dataset) -> dict:
    """Options that change the converted folder; a new mirror or subset size does not re-extract."""
    ignored = {"source", "max_per_class", "official_test"}
    return {k: v for k, v in dataset_options(dataset).items() if k not in ignored}


def download_checksum(wildcards):
    files = {f.filename: f for f in remote_files(wildcards.dataset, dataset_options(wildcards.dataset))}
    return files[wildcards.filename].checksum if wildcards.filename in files else None


def cache_file(wildcards):
    return f"results/data/{wildcards.dataset}/images_{config['img_size']}px.npy"


def fold_inputs(wildcards):
    return {
        "split": f"results/data/{wildcards.dataset}/split.csv",
        "cache": cache_file(wildcards),
    }


def run_dir(wildcards):
    return RUN.format(**wildcards)


def proxy_params(wildcards) -> dict:
    """The proxy configuration of a job, typed (floats, bools) as in the grid."""
    row = paramspace.instance(wildcards)
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def proxy_config_name(params: dict) -> str:
    return "/".join(f"{k}~{params[k]}" for k in PROXY_GRID_KEYS)


def train_settings(wildcards) -> dict:
    t = config["training"]
    return {
        "model": wildcards.model,
        "img_size": config["img_size"],
        "seed": int(wildcards.seed),
        "batch_size": t["batch_size"],
        "eval_batch_size": t["eval_batch_size"],
        "opt": t["optimizer"],
        "lr": t["lr"],
        "weight_decay": t["weight_decay"],
        "sched": t["scheduler"],
        "warmup_epochs": t["warmup_epochs"],
        "min_lr": t["min_lr"],
        "hflip": t["hflip"],
        "crop_pad": t["crop_pad"],
        "device": t["device"],
        "amp": t["amp"],
        "channels_last": t["channels_last"],
        "deterministic": t["deterministic"],
        "pretrained": config["pretrained"].get(wildcards.model),
    }


def run_info(wildcards, method: str, params: dict | None = None) -> dict:
    info = {
        "dataset": wildcards.dataset,
        "model": wildcards.model,
        "schedule": wildcards.schedule,
        "seed": int(wildcards.seed),
        "fold": int(wildcards.fold),
        "method": method,
        "config": proxy_config_name(params) if params else method,
    }
    for key in PROXY_GRID_KEYS:
        info[key] = params[key] if params else None
    return info


def previous_checkpoint(wildcards, method_dir: str) -> str:
    r = int(wildcards.round)
    if r == 1:
        return f"{run_dir(wildcards)}/round0/checkpoint.pt"
    return f"{method_dir}/round{r - 1}/checkpoint.pt"


def proxy_manifests(wildcards) -> list[str]:
    """Proxy steps whose images train round r: only step r with clear_every_step, else steps 1..r."""
    base = PROXY_RUN.format(**wildcards)
    r = int(wildcards.round)
    steps = [r] if proxy_params(wildcards)["clear_every_step"] else range(1, r + 1)
    return [f"{base}/proxy{s}/manifest.csv" for s in steps]


def run_rounds(wildcards) -> list[dict]:
    """The runs of one fold (baseline and every proxy configuration) with their per-round files."""
    base = run_dir(wildcards)
    n = SCHEDULES[wildcards.schedule].n_proxy_steps
    round0 = f"{base}/round0"

    def files(dirs):
        return {
            "metrics": [f"{d}/metrics.json" for d in dirs],
            "epochs": [f"{d}/epochs.csv" for d in dirs],
        }

    runs = [
        {**run_info(wildcards, "baseline"), **files([round0] + [f"{base}/baseline/round{r}" for r in range(1, n + 1)])}
    ]
    for params in PROXY_CONFIGS:
        pattern = proxy_config_name(params)
        runs.append(
            {
                **run_info(wildcards, "proxy", params),
                **files([round0] + [f"{base}/proxy/{pattern}/round{r}" for r in range(1, n + 1)]),
            }
        )
    return runs


def fold_summary_inputs(wildcards) -> list[str]:
    return sorted({p for run in run_rounds(wildcards) for key in ("metrics", "epochs") for p in run[key]})


def fold_summaries() -> list[str]:
    return [
        f"results/runs/{d}/{m}/{s}/seed{seed}/fold{f}/summary.csv"
        for d in config["datasets"]
        for m in config["models"]
        for s in SCHEDULES
        for seed in config["seeds"]
        for f in FOLDS
    ]


def all_targets() -> list[str]:
    return [
        "results/summary/runs.csv",
        "results/summary/epochs.csv",
        "results/summary/test_accuracy.svg",
    ]
