# Helpers, target lists and wildcard constraints shared by every rule.

from snakemake.iocontainers import Wildcards
from snakemake.utils import Paramspace, validate

from proxy_attention.config import (
    PROXY_GRID_KEYS,
    ConfigError,
    proxy_config_name,
    check_config,
    folds_to_run,
    proxy_grid,
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
PROXY_CONFIG_BY_NAME = {proxy_config_name(params): params for params in PROXY_CONFIGS}
FOLDS = folds_to_run(config)

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

    def rounds(method_dir):
        return [round0] + [f"{method_dir}/round{r}" for r in range(1, n + 1)]

    runs = [{**run_info(wildcards, "baseline"), **files(rounds(f"{base}/baseline")), **explain_file(f"{base}/baseline")}]
    for params in PROXY_CONFIGS:
        proxy_dir = f"{base}/proxy/{proxy_config_name(params)}"
        runs.append({**run_info(wildcards, "proxy", params), **files(rounds(proxy_dir)), **explain_file(proxy_dir)})
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
    runs = run_rounds(wildcards)
    files = {p for run in runs for key in ("metrics", "epochs") for p in run[key]}
    return sorted(files | {run["explain"] for run in runs if "explain" in run})


def fold_keys() -> list[Wildcards]:
    """The wildcards of every fold the config asks for."""
    return [
        Wildcards(fromdict=dict(dataset=d, model=m, schedule=s, protocol=p, seed=str(seed), fold=str(f)))
        for d in config["datasets"]
        for m in config["models"]
        for s in SCHEDULES
        for p in config["protocols"]
        for seed in config["seeds"]
        for f in FOLDS
    ]


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


def all_targets() -> list[str]:
    return [
        "results/summary/leakage_audit.csv",
        "results/summary/runs.csv",
        "results/summary/epochs.csv",
        "results/summary/test_accuracy.svg",
    ] + explain_targets() + (["results/summary/protocol_comparison.csv"] if "thesis" in config["protocols"] else [])


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
