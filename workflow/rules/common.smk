# Helpers, target lists and wildcard constraints shared by every rule.

import importlib.util

import pandas as pd
from snakemake.logging import logger
from snakemake.utils import Paramspace, validate

from proxy_attention.config import (
    PROXY_GRID_KEYS,
    ConfigError,
    check_config,
    folds_to_run,
    proxy_grid,
    short_config,
)
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
# Grid keys that vary: the ones report labels and legends name (besides the CAM method).
GRID_LABEL_KEYS = [k for k in PROXY_GRID_KEYS if PROXY_GRID[k].nunique() > 1]

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


def train_benchmark(path: str) -> str:
    """The benchmark file of the training job writing ``<round dir>/metrics.json``."""
    return f"{BENCH}/train/{path.removeprefix('results/runs/')}.tsv"


def run_rounds(wildcards) -> list[dict]:
    """The runs of one fold (baseline and every proxy configuration) with their per-round files.

    Per round (round 0 first): ``metrics``, ``epochs``, ``train_benchmark``; proxy runs also
    ``proxy_steps`` (the directory of the proxy step before each round; None for round 0) and
    ``proxy_benchmark``.
    """
    base = run_dir(wildcards)
    n = SCHEDULES[wildcards.schedule].n_proxy_steps
    round0 = f"{base}/round0"

    def files(dirs):
        return {
            "metrics": [f"{d}/metrics.json" for d in dirs],
            "epochs": [f"{d}/epochs.csv" for d in dirs],
            "train_benchmark": [train_benchmark(d) for d in dirs],
        }

    runs = [
        {**run_info(wildcards, "baseline"), **files([round0] + [f"{base}/baseline/round{r}" for r in range(1, n + 1)])}
    ]
    for params in PROXY_CONFIGS:
        run = f"{base}/proxy/{proxy_config_name(params)}"
        steps = [f"{run}/proxy{r}" for r in range(1, n + 1)]
        runs.append(
            {
                **run_info(wildcards, "proxy", params),
                **files([round0] + [f"{run}/round{r}" for r in range(1, n + 1)]),
                "proxy_steps": [None] + steps,
                "proxy_benchmark": [None] + [f"{BENCH}/proxy/{s.removeprefix('results/runs/')}.tsv" for s in steps],
            }
        )
    return runs


def fold_summary_inputs(wildcards) -> list[str]:
    files = set()
    for run in run_rounds(wildcards):
        for key in ("metrics", "epochs", "train_benchmark", "proxy_benchmark"):
            files.update(p for p in run.get(key, []) if p)
        for step in run.get("proxy_steps", []):
            if step:
                files.update([f"{step}/manifest.csv", f"{step}/stats.json"])
    return sorted(files)


def fold_summaries() -> list[str]:
    return [
        f"results/runs/{d}/{m}/{s}/seed{seed}/fold{f}/summary.csv"
        for d in config["datasets"]
        for m in config["models"]
        for s in SCHEDULES
        for seed in config["seeds"]
        for f in FOLDS
    ]


# ---------------------------------------------------------------------------
# Summary tables, figures and the report
# ---------------------------------------------------------------------------

# Methods every configuration is compared with, where runs.csv has them (issue 7 adds baseline_matched).
REFERENCE_METHODS = ["baseline", "baseline_matched"]
FIGURES = "results/summary/figures/{dataset}/{model}/{schedule}"
GALLERY = f"{FIGURES}/gallery/{paramspace.wildcard_pattern}.png"
TENSORBOARD = config["tensorboard"] and importlib.util.find_spec("tensorboard") is not None
if config["tensorboard"] and not TENSORBOARD:
    logger.warning("config 'tensorboard: true' but the tensorboard package is not installed: "
                   "no event files are written (pip install tensorboard to get them)")


def figure_labels(item: str):
    """Report labels of a figure of one (dataset, model, schedule); every value a string."""
    return lambda w: {"dataset": w.dataset, "model": w.model, "schedule": w.schedule, "item": item}


def groups() -> list[dict]:
    return [
        {"dataset": d, "model": m, "schedule": s}
        for d in config["datasets"]
        for m in config["models"]
        for s in SCHEDULES
    ]


class AttrDict(dict):
    """Wildcards-like: keys readable as attributes and usable as ``**`` mapping."""

    __getattr__ = dict.__getitem__


def fold_wildcards(group: dict, seed, fold) -> AttrDict:
    return AttrDict(group, seed=str(seed), fold=str(fold))


def final_metrics(wildcards) -> dict[str, dict[str, list[str]]]:
    """By method and configuration: the last round's metrics.json (with test predictions) of each run."""
    group = {"dataset": wildcards.dataset, "model": wildcards.model, "schedule": wildcards.schedule}
    out = {}
    for seed in config["seeds"]:
        for fold in FOLDS:
            for run in run_rounds(fold_wildcards(group, seed, fold)):
                out.setdefault(run["method"], {}).setdefault(run["config"], []).append(run["metrics"][-1])
    return out


def gallery_steps(wildcards) -> list[str]:
    """The proxy-step directories of one configuration on the first seed and fold."""
    w = {**dict(wildcards.items()), "seed": config["seeds"][0], "fold": FOLDS[0]}
    base = PROXY_RUN.format(**w)
    return [f"{base}/proxy{r}" for r in range(1, SCHEDULES[wildcards.schedule].n_proxy_steps + 1)]


def gallery_inputs(wildcards) -> dict:
    steps = gallery_steps(wildcards)
    return {
        "cache": cache_file(wildcards),
        "manifests": [f"{s}/manifest.csv" for s in steps],
        "cams": [f"{s}/cams.npz" for s in steps],
        "images": [f"{s}/images" for s in steps],
    }


def benchmark_inputs(wildcards) -> dict:
    """Every benchmark file of the workflow's heavy jobs, by rule."""
    bench = {rule: set() for rule in ("prepare_dataset", "index_dataset", "split_dataset", "cache_images",
                                      "train_round0", "train_baseline", "proxy_step", "train_proxy")}
    for d in config["datasets"]:
        for rule in ("prepare_dataset", "index_dataset", "split_dataset"):
            bench[rule].add(f"{BENCH}/{rule}/{d}.tsv")
        bench["cache_images"].add(f"{BENCH}/cache_images/{d}_{config['img_size']}px.tsv")
    for group in groups():
        for seed in config["seeds"]:
            for fold in FOLDS:
                for run in run_rounds(fold_wildcards(group, seed, fold)):
                    train = run["train_benchmark"]
                    bench["train_round0"].add(train[0])
                    bench["train_baseline" if run["method"] == "baseline" else "train_proxy"].update(train[1:])
                    bench["proxy_step"].update(p for p in run.get("proxy_benchmark", []) if p)
    return {rule: sorted(files) for rule, files in bench.items() if files}


def figure_targets() -> list[str]:
    targets = ["results/summary/runtime.svg"]
    targets += [f"results/summary/figures/{d}/classes.svg" for d in config["datasets"]]
    for g in groups():
        base = FIGURES.format(**g)
        targets += [f"{base}/{name}" for name in ("learning_curves.svg", "heatmap.svg", "paired_differences.svg",
                                                  "proxy_counts.svg", "confusion.svg")]
        if SCHEDULES[g["schedule"]].n_proxy_steps:
            targets += [GALLERY.format(**g, **params) for params in PROXY_CONFIGS]
    return targets


def all_targets() -> list[str]:
    return [
        "results/summary/runs.csv",
        "results/summary/epochs.csv",
        "results/summary/comparison.csv",
        "results/summary/test_accuracy.svg",
        *figure_targets(),
        *(["results/summary/tensorboard"] if TENSORBOARD else []),
    ]
