# Helpers, target lists and wildcard constraints shared by every rule.

import importlib.util

from snakemake.iocontainers import Wildcards
from snakemake.logging import logger
from snakemake.utils import Paramspace, validate

from proxy_attention.config import (
    PROXY_GRID_KEYS,
    ConfigError,
    proxy_config_name,
    check_config,
    folds_to_run,
    proxy_grid,
    short_config,
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
PROXY_CONFIG_BY_NAME = {proxy_config_name(params): params for params in PROXY_CONFIGS}
FOLDS = folds_to_run(config)
# Grid keys that vary: the ones report labels and legends name (besides the CAM method).
GRID_LABEL_KEYS = [k for k in PROXY_GRID_KEYS if PROXY_GRID[k].nunique() > 1]

DATA = "results/data/{dataset}"
RUN = "results/runs/{dataset}/{model}/{schedule}/{protocol}/seed{seed}/fold{fold}"
PROXY_RUN = f"{RUN}/proxy/{paramspace.wildcard_pattern}"
LOGS = "results/logs"
BENCH = "results/benchmarks"


wildcard_constraints:
    dataset=r"[A-Za-z0-9][A-Za-z0-9_-]*",
    model=r"[A-Za-z0-9_.-]+",
    schedule=r"\d+(p\d+)*",
    protocol=r"honest|thesis",
    seed=r"\d+",
    fold=r"\d+",
    round=r"\d+",
    size=r"\d+",
    device=r"auto|cpu|cuda\d*",
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
    """The proxy configuration of a job, typed (floats, bools) as in the grid.

    A dict lookup by the Paramspace path: Paramspace.instance() converts every column
    through pandas and dominated DAG building of thesis-scale grids (15 of 38 s).
    """
    return PROXY_CONFIG_BY_NAME[proxy_config_name(wildcards)]


def train_settings(wildcards) -> dict:
    t = config["training"]
    return {
        "model": wildcards.model,
        "img_size": config["img_size"],
        "seed": int(wildcards.seed),
        "batch_size": t["batch_size"],  # 'auto': replaced by the finder's file (batch_size_input)
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
        "compile": t["compile"],
        "deterministic": t["deterministic"],
        "pretrained": config["pretrained"].get(wildcards.model),
        "model_kwargs": config["model_kwargs"].get(wildcards.model, {}),
        "freeze_backbone_epochs": t["freeze_backbone_epochs"],
        "fp32_models": t["fp32_models"],
    }


def batch_size_input(wildcards) -> dict:
    """With training.batch_size: auto, the finder's file for this model, image size and device."""
    if config["training"]["batch_size"] != "auto":
        return {}
    device = config["training"]["device"].replace(":", "")
    return {"batch_size": f"results/batch_size/{wildcards.model}_{config['img_size']}px_{device}.json"}


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
    return info


def previous_checkpoint(wildcards, method_dir: str) -> str:
    r = int(wildcards.round)
    if r == 1:
        return f"{run_dir(wildcards)}/round0/checkpoint.pt"
    return f"{method_dir}/round{r - 1}/checkpoint.pt"


def feeds_proxy_step(wildcards) -> bool:
    """Whether a proxy step follows this training round (rounds before the schedule's last proxy
    step): its job then records the step's misclassified search in the checkpoint. A function of
    the schedule and round only, so adding proxy configurations to a grid never reruns round 0."""
    return int(wildcards.get("round", 0)) < SCHEDULES[wildcards.schedule].n_proxy_steps


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

    def rounds(method_dir):
        return [round0] + [f"{method_dir}/round{r}" for r in range(1, n + 1)]

    runs = [{**run_info(wildcards, "baseline"), **files(rounds(f"{base}/baseline")), **explain_file(f"{base}/baseline")}]
    for params in PROXY_CONFIGS:
        proxy_dir = f"{base}/proxy/{proxy_config_name(params)}"
        steps = [f"{proxy_dir}/proxy{r}" for r in range(1, n + 1)]
        runs.append(
            {
                **run_info(wildcards, "proxy", params),
                **files(rounds(proxy_dir)),
                **explain_file(proxy_dir),
                "proxy_steps": [None] + steps,
                "proxy_benchmark": [None] + [f"{BENCH}/proxy/{s.removeprefix('results/runs/')}.tsv" for s in steps],
            }
        )
        if matched_baseline(wildcards):
            runs.append({**run_info(wildcards, "baseline_matched", params), **files(rounds(f"{proxy_dir}/matched"))})
    return runs


def matched_baseline(wildcards) -> bool:
    """The compute-matched baseline runs beside every proxy configuration, under the honest protocol."""
    return config["matched_baseline"] and wildcards.protocol == "honest"


def explain_file(method_dir: str) -> dict:
    """The explanation scores of a run's final model (rules/explain.smk), when explain.enabled."""
    return {"explain": f"{method_dir}/explain.csv"} if config["explain"]["enabled"] else {}


def fold_summary_inputs(wildcards) -> list[str]:
    files = set()
    for run in run_rounds(wildcards):
        for key in ("metrics", "epochs", "train_benchmark", "proxy_benchmark"):
            files.update(p for p in run.get(key, []) if p)
        for step in run.get("proxy_steps", []):
            if step:
                files.update([f"{step}/manifest.csv", f"{step}/stats.json"])
        if "explain" in run:
            files.add(run["explain"])
    return sorted(files)


def fold_keys() -> list[Wildcards]:
    """The wildcards of every fold the config asks for."""
    return [fold_wildcards(group, seed, fold) for group in groups() for seed in config["seeds"] for fold in FOLDS]


def fold_summaries() -> list[str]:
    return [f"{run_dir(w)}/summary.csv" for w in fold_keys()]


def train_sets() -> list[str]:
    """Every round's record of the images it trained and validated on, for the leakage audit."""
    paths = {m.replace("metrics.json", "train_set.npz") for w in fold_keys() for run in run_rounds(w) for m in run["metrics"]}
    return sorted(paths)


def proxy_manifests_all() -> list[str]:
    """Every proxy step's manifest of every run, for the leakage audit."""
    n_steps = {w.schedule: SCHEDULES[w.schedule].n_proxy_steps for w in fold_keys()}
    return sorted(
        f"{run_dir(w)}/proxy/{proxy_config_name(params)}/proxy{r}/manifest.csv"
        for w in fold_keys()
        for params in PROXY_CONFIGS
        for r in range(1, n_steps[w.schedule] + 1)
    )


# ---------------------------------------------------------------------------
# Summary tables, figures and the report
# ---------------------------------------------------------------------------

# Methods every configuration is compared with, where runs.csv has them (issue 7 adds baseline_matched).
REFERENCE_METHODS = ["baseline", "baseline_matched"]
FIGURES = "results/summary/figures/{dataset}/{model}/{schedule}/{protocol}"
GALLERY = f"{FIGURES}/gallery/{paramspace.wildcard_pattern}.png"
TENSORBOARD = config["tensorboard"] and importlib.util.find_spec("tensorboard") is not None
if config["tensorboard"] and not TENSORBOARD:
    logger.warning("config 'tensorboard: true' but the tensorboard package is not installed: "
                   "no event files are written (pip install tensorboard to get them)")


def figure_labels(item: str):
    """Report labels of a figure of one (dataset, model, schedule); every value a string."""
    return lambda w: {"dataset": w.dataset, "model": w.model, "schedule": w.schedule, "protocol": w.protocol, "item": item}


def groups() -> list[dict]:
    return [
        {"dataset": d, "model": m, "schedule": s, "protocol": p}
        for d in config["datasets"]
        for m in config["models"]
        for s in SCHEDULES
        for p in config["protocols"]
    ]


def fold_wildcards(group: dict, seed, fold) -> Wildcards:
    return Wildcards(fromdict={**group, "seed": str(seed), "fold": str(fold)})


def final_metrics(wildcards) -> dict[str, dict[str, list[str]]]:
    """By method and configuration: the last round's metrics.json (with test predictions) of each run."""
    group = {k: wildcards[k] for k in ("dataset", "model", "schedule", "protocol")}
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
    bench = {name: set() for name in ("prepare_dataset", "index_dataset", "split_dataset", "cache_images",
                                      "train_round0", "train_baseline", "proxy_step", "train_proxy",
                                      "train_matched")}
    for d in config["datasets"]:
        for name in ("prepare_dataset", "index_dataset", "split_dataset"):
            bench[name].add(f"{BENCH}/{name}/{d}.tsv")
        bench["cache_images"].add(f"{BENCH}/cache_images/{d}_{config['img_size']}px.tsv")
    for group in groups():
        for seed in config["seeds"]:
            for fold in FOLDS:
                for run in run_rounds(fold_wildcards(group, seed, fold)):
                    train = run["train_benchmark"]
                    bench["train_round0"].add(train[0])
                    trained_by = {"baseline": "train_baseline", "baseline_matched": "train_matched"}.get(run["method"], "train_proxy")
                    bench[trained_by].update(train[1:])
                    bench["proxy_step"].update(p for p in run.get("proxy_benchmark", []) if p)
    return {name: sorted(files) for name, files in bench.items() if files}


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
        "results/summary/leakage_audit.csv",
        "results/summary/runs.csv",
        "results/summary/epochs.csv",
        "results/summary/comparison.csv",
        "results/summary/test_accuracy.svg",
        *figure_targets(),
        *(["results/summary/tensorboard"] if TENSORBOARD else []),
        *explain_targets(),
        *(["results/summary/protocol_comparison.csv"] if "thesis" in config["protocols"] else []),
    ]


# --- batch size finder (rules/train.smk: find_batch_size) ---


def finder_settings(wildcards) -> dict:
    """The training settings that decide memory use, for the batch size finder."""
    t = config["training"]
    return {
        "model": wildcards.model,
        "img_size": int(wildcards.size),
        "opt": t["optimizer"],
        "lr": t["lr"],
        "weight_decay": t["weight_decay"],
        "device": t["device"],
        "amp": t["amp"],
        "channels_last": t["channels_last"],
        "model_kwargs": config["model_kwargs"].get(wildcards.model, {}),
        "fp32_models": t["fp32_models"],
    }


# --- explainability (rules/explain.smk) ---


def final_checkpoint(wildcards, method_dir: str) -> str:
    """The last round's checkpoint of a run (round 0 when the schedule has no proxy step)."""
    n = SCHEDULES[wildcards.schedule].n_proxy_steps
    return f"{run_dir(wildcards)}/round0/checkpoint.pt" if n == 0 else f"{method_dir}/round{n}/checkpoint.pt"


def explain_params(wildcards) -> dict:
    e = config["explain"]
    keys = ("n_images", "cam_method", "cam_target", "percentiles", "batch_size")
    return {**{k: e[k] for k in keys}, "cam_target_layer": config["cam_target_layer"].get(wildcards.model)}


def explain_targets() -> list[str]:
    if not config["explain"]["enabled"]:
        return []
    return [p.replace("summary.csv", "explain_gallery.png") for p in fold_summaries()] + [
        "results/summary/explain_vs_accuracy.svg"
    ]
