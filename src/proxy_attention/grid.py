"""The grid: which runs a config asks for, and the files each of them reads and writes.

Plain functions of the (validated) config, shared by the rules (``workflow/rules/*.smk``, whose
input functions only adapt Snakemake's ``wildcards`` to a call here) and tested in
``tests/unit/test_grid.py``. A fold ``w`` is a mapping of wildcards (``dataset``, ``model``,
``schedule``, ``protocol``, ``aug``, ``seed``, ``fold``, as strings): a plain dict or Snakemake's
``Wildcards``. The file layout itself is :mod:`proxy_attention.paths`.

Imports nothing above it in the package (no config checks, no torch): a dry run's parse uses it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pandas as pd

from proxy_attention import paths
from proxy_attention.augment.names import arm_dir, arm_name, needs_cam
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import train_settings

# Order of the proxy grid's dimensions; also the order of the path levels of a proxy run.
PROXY_GRID_KEYS = [
    "cam_method",
    "proxy_threshold",
    "proxy_image_weight",
    "subset_wrong",
    "clear_every_step",
    "subset_order",
    "replacement",
    "cam_target",
]
# The (dataset, model, schedule, protocol) of a comparison: one set of figures each.
GROUP_KEYS = ("dataset", "model", "schedule", "protocol")
EXPLAIN_KEYS = ("n_images", "cam_method", "cam_target", "percentiles", "batch_size")
# The figures every group gets (report/), by file name under paths.Layout.figures.
GROUP_FIGURES = ("learning_curves.svg", "heatmap.svg", "paired_differences.svg", "proxy_counts.svg", "confusion.svg")
# The data steps whose benchmark files the runtime figure shows, besides every round kind.
DATA_STEPS = ("prepare_dataset", "index_dataset", "split_dataset", "cache_images")


def proxy_grid(proxy: dict) -> pd.DataFrame:
    """One row per proxy configuration: the product of the grid's lists, in PROXY_GRID_KEYS order."""
    values = [proxy[k] for k in PROXY_GRID_KEYS]
    rows = list(itertools.product(*values))
    df = pd.DataFrame(rows, columns=PROXY_GRID_KEYS)
    for key in ("proxy_threshold", "proxy_image_weight", "subset_wrong"):
        df[key] = df[key].astype(float)
    df["clear_every_step"] = df["clear_every_step"].astype(bool)
    return df


def proxy_config_name(params: Mapping) -> str:
    """The path of a proxy configuration, as Snakemake's Paramspace writes it: ``cam_method~gradcam/...``."""
    return "/".join(f"{k}~{params[k]}" for k in PROXY_GRID_KEYS)


# The wildcard pattern of a proxy configuration's path (Paramspace's wildcard_pattern).
PROXY_CONFIG_PATTERN = proxy_config_name({k: f"{{{k}}}" for k in PROXY_GRID_KEYS})


def folds_to_run(config: dict) -> list[int]:
    return list(range(config["folds"])) if config["run_folds"] == "all" else sorted(config["run_folds"])


def explain_settings(config: dict, model: str) -> dict:
    """The settings of the explanation job of one model's final checkpoints."""
    return {
        **{k: config["explain"][k] for k in EXPLAIN_KEYS},
        "cam_target_layer": config["cam_target_layer"].get(model),
    }


def fold_wildcards(group: Mapping, seed, fold, augmentation: str = "none") -> dict[str, str]:
    """The wildcards of one fold of a group, as Snakemake would give them (strings)."""
    return {**group, "aug": arm_dir(augmentation), "seed": str(seed), "fold": str(fold)}


def run_info(w: Mapping, method: str, params: Mapping | None = None) -> dict:
    """The identity of a run in runs.csv: its fold, method, configuration and grid keys."""
    info = {
        "dataset": w["dataset"],
        "model": w["model"],
        "schedule": w["schedule"],
        "protocol": w["protocol"],
        "seed": int(w["seed"]),
        "fold": int(w["fold"]),
        "method": method,
        "config": proxy_config_name(params) if params else "none",
    }
    for key in PROXY_GRID_KEYS:
        info[key] = params[key] if params else None
    info["augmentation"] = arm_name(w["aug"])
    return info


def shared_run_info(w: Mapping, method: str) -> dict:
    """run_info of a shared first control round: the grid keys it depends on, no configuration."""
    info = run_info(w, method)
    info["subset_wrong"] = float(w["subset_wrong"])
    order = w["subset_order"] if method == "replay" else None
    if order is not None:
        info["subset_order"] = order
    info["config"] = paths.shared_config(w["subset_wrong"], order)
    return info


def figure_labels(w: Mapping, item: str) -> dict[str, str]:
    """Report labels of a figure of one (dataset, model, schedule, protocol); every value a string."""
    return {**{k: w[k] for k in GROUP_KEYS}, "item": item}


def chosen_configs(selection: pd.DataFrame) -> list[str]:
    """The names of the chosen configurations of a selection table, best first (the table's order)."""
    return list(dict.fromkeys(selection.loc[selection["chosen"], "config"]))


def selected_names(table: str) -> list[str]:
    """The confirm stage's proxy configurations: the chosen rows of the selection table at ``table``
    (written by :mod:`proxy_attention.analysis.selection`)."""
    return chosen_configs(pd.read_csv(table))


class Grid:
    """The runs of one stage's config: its groups, folds, proxy configurations and their files.

    ``root`` is the stage's tree (``results``, or ``results/screen`` for the screen stage). The
    proxy configurations a stage runs are the grid's, or in the confirm stage of a screened grid
    the chosen ones: the functions that enumerate runs take them as ``configs`` (default: all).
    """

    def __init__(self, config: dict, root: str = "results"):
        self.config = config
        self.layout = paths.Layout(root, PROXY_CONFIG_PATTERN)
        self.schedules = {parse_schedule(s).tag: parse_schedule(s) for s in config["schedules"]}
        self.table = proxy_grid(config["proxy"])
        self.proxy_configs = [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in self.table.to_dict("records")
        ]
        # a dict lookup by the configuration's path: Paramspace.instance() converts every column
        # through pandas and dominated DAG building of thesis-scale grids (15 of 38 s)
        self.by_name = {proxy_config_name(p): p for p in self.proxy_configs}
        self.folds = folds_to_run(config)
        # grid keys that vary: the ones report labels and legends name (besides the CAM method)
        self.label_keys = [k for k in PROXY_GRID_KEYS if self.table[k].nunique() > 1]

    # --- one fold ---

    def run_dir(self, w: Mapping) -> str:
        return self.layout.run.format(**w)

    def proxy_dir(self, w: Mapping) -> str:
        return self.layout.proxy_run.format(**w)

    def n_proxy_steps(self, w: Mapping) -> int:
        return self.schedules[w["schedule"]].n_proxy_steps

    def proxy_params(self, w: Mapping) -> dict:
        """The proxy configuration of a job, typed (floats, bools) as in the grid."""
        return self.by_name[proxy_config_name(w)]

    def configs_named(self, names: list[str]) -> list[dict]:
        return [self.by_name[n] for n in names]

    def control_methods(self, w: Mapping) -> list[str]:
        """The controls trained beside every proxy configuration (honest protocol only): the
        compute-matched baseline (matched_baseline) and the config's ``controls``."""
        if w["protocol"] != "honest":
            return []
        matched = ["baseline_matched"] if self.config["matched_baseline"] else []
        return matched + [c for c in paths.CONTROL_METHODS if c in self.config["controls"]]

    def explain_file(self, base: str, name: str) -> dict:
        """The explanation scores of a run's final model, in its fold's explain/ folder."""
        if not self.config["explain"]["enabled"]:
            return {}
        return {"explain": f"{base}/explain/{name}.csv"}

    def run_rounds(self, w: Mapping, configs: list[dict] | None = None) -> list[dict]:
        """The runs of one fold (baseline, every proxy configuration and its controls) with their
        per-round files: per round (round 0 first) ``metrics``, ``epochs``, ``train_benchmark``;
        proxy runs also ``proxy_steps`` (the directory of the proxy step before each round; None for
        round 0), which the round's own training job writes."""
        base = self.run_dir(w)
        n = self.n_proxy_steps(w)
        runs = [{
            **run_info(w, "baseline"),
            **paths.round_files(base, f"{base}/baseline", n),
            **self.explain_file(base, "baseline"),
        }]
        for params in self.proxy_configs if configs is None else configs:
            proxy = f"{base}/proxy/{proxy_config_name(params)}"
            runs.append({
                **run_info(w, "proxy", params),
                **paths.round_files(base, proxy, n),
                **self.explain_file(base, f"proxy/{proxy_config_name(params)}"),
                "proxy_steps": [None] + paths.proxy_step_dirs(proxy, n),
            })
            for method in self.control_methods(w):
                control = {
                    **run_info(w, method, params),
                    **paths.control_round_files(base, proxy, method, params, n),
                }
                if method == "random_location":
                    control["proxy_steps"] = [None] + paths.proxy_step_dirs(f"{proxy}/random_location", n)
                runs.append(control)
        return runs

    def fold_summary_inputs(self, w: Mapping, configs: list[dict] | None = None) -> list[str]:
        """What a fold's summary reads: every round's metrics, epochs and benchmark, every proxy
        step's manifest and stats, and the fold's explain/ folder."""
        files = set()
        for run in self.run_rounds(w, configs):
            for key in ("metrics", "epochs", "train_benchmark"):
                files.update(p for p in run.get(key, []) if p)
            for step in run.get("proxy_steps", []):
                if step:
                    files.update([f"{step}/manifest.csv", f"{step}/stats.json"])
            if "explain" in run:
                files.add(f"{self.run_dir(w)}/explain")
        return sorted(files)

    def explained_runs(self, w: Mapping, configs: list[dict] | None = None) -> list[dict]:
        """The runs of a fold whose final model the explain job scores: the baseline, then every
        proxy configuration (the order of run_rounds)."""
        return [r for r in self.run_rounds(w, configs) if "explain" in r]

    def explain_checkpoints(self, w: Mapping, configs: list[dict] | None = None) -> list[str]:
        """The last round's checkpoint of every run of explained_runs, in that order."""
        return [r["metrics"][-1].replace("metrics.json", "checkpoint.pt") for r in self.explained_runs(w, configs)]

    # --- training rounds ---

    def round_settings(self, w: Mapping) -> dict:
        """TrainSettings keys of a round; `batch_size: auto` is replaced in the job by the finder's file."""
        return train_settings(self.config, w["model"], int(w["seed"]), arm_name(w["aug"]))

    def batch_size_input(self, w: Mapping) -> dict:
        """With training.batch_size: auto, the finder's file for this model, image size and device."""
        if self.config["training"]["batch_size"] != "auto":
            return {}
        device = self.config["training"]["device"].replace(":", "")
        return {"batch_size": paths.BATCH_SIZE.format(model=w["model"], size=self.config["img_size"], device=device)}

    def cache_file(self, w: Mapping) -> str:
        return paths.CACHE.format(dataset=w["dataset"], size=self.config["img_size"])

    def fold_inputs(self, w: Mapping) -> dict:
        return {"split": self.layout.split.format(dataset=w["dataset"]), "cache": self.cache_file(w)}

    def feeds_proxy_step(self, w: Mapping) -> bool:
        """Whether a proxy step follows this training round (rounds before the schedule's last proxy
        step): its job then records the step's misclassified search in the checkpoint. A function of
        the schedule and round only, so adding proxy configurations to a grid never reruns round 0."""
        return int(w.get("round", 0)) < self.n_proxy_steps(w)

    def round_proxy_manifests(self, w: Mapping) -> list[str]:
        """The proxy steps whose images train (or, for the matched baseline, are matched by) round r."""
        clear = self.proxy_params(w)["clear_every_step"]
        return paths.proxy_manifests(self.proxy_dir(w), int(w["round"]), clear)

    def earlier_proxy_manifests(self, w: Mapping) -> list[str]:
        """round_proxy_manifests without step r's, which the train_proxy job of round r writes itself."""
        own = f"{self.layout.proxy_step.format(**w)}/manifest.csv"
        return [m for m in self.round_proxy_manifests(w) if m != own]

    def earlier_random_location_manifests(self, w: Mapping) -> list[str]:
        """The random-location control's own earlier steps whose images train its round r too."""
        clear = self.proxy_params(w)["clear_every_step"]
        own = f"{self.layout.random_location_step.format(**w)}/manifest.csv"
        steps = paths.proxy_manifests(f"{self.proxy_dir(w)}/random_location", int(w["round"]), clear)
        return [m for m in steps if m != own]

    def init_checkpoint(self, w: Mapping, method_dir: str) -> str:
        """The checkpoint round r of the method whose rounds live in ``method_dir`` starts from."""
        return paths.previous_checkpoint(self.run_dir(w), method_dir, int(w["round"]))

    def control_checkpoint(self, w: Mapping, method: str) -> str:
        """The checkpoint a control's round r starts from (round 1 of a shared one, r = 2)."""
        return paths.control_checkpoint(self.run_dir(w), self.proxy_dir(w), method, self.proxy_params(w),
                                        int(w["round"]) - 1)

    def proxy_step_params(self, w: Mapping) -> dict:
        """What the proxy step before round r needs besides the fold's data (proxy_attention.proxy.step)."""
        return {
            "proxy": self.proxy_params(w),
            "cam_target_layer": self.config["cam_target_layer"].get(w["model"]),
            "batch_size": self.config["proxy"]["batch_size"],
            "device": self.config["training"]["device"],
        }

    def first_step_params(self, w: Mapping, method: str) -> dict:
        """What a shared first control round needs to recompute the first proxy step's selection."""
        return {
            "kind": method,
            "subset_wrong": float(w["subset_wrong"]),
            "subset_order": w.get("subset_order", "random"),
            "batch_size": self.config["training"]["eval_batch_size"],
            "device": self.config["training"]["device"],
        }

    # --- every fold ---

    def groups(self) -> list[dict]:
        """Every (dataset, model, schedule, protocol) of the grid: one comparison each."""
        c = self.config
        return [
            {"dataset": d, "model": m, "schedule": s, "protocol": p}
            for d in c["datasets"] for m in c["models"] for s in self.schedules for p in c["protocols"]
        ]

    def fold_keys(self) -> list[dict]:
        """The wildcards of every fold the config asks for."""
        return [
            fold_wildcards(group, seed, fold, augmentation)
            for group in self.groups()
            for augmentation in self.config["augmentations"]
            for seed in self.config["seeds"]
            for fold in self.folds
        ]

    def fold_summaries(self) -> list[str]:
        return [f"{self.run_dir(w)}/summary.csv" for w in self.fold_keys()]

    def all_runs(self, configs: list[dict] | None = None):
        """(fold wildcards, run) of every run of every fold."""
        return [(w, run) for w in self.fold_keys() for run in self.run_rounds(w, configs)]

    def train_sets(self, configs: list[dict] | None = None) -> list[str]:
        """Every round's record of the images it trained and validated on, for the leakage audit."""
        return sorted({m.replace("metrics.json", "train_set.npz")
                       for _, run in self.all_runs(configs) for m in run["metrics"]})

    def proxy_manifests(self, configs: list[dict] | None = None) -> list[str]:
        """Every proxy step's manifest of every run, for the leakage audit."""
        return sorted(f"{step}/manifest.csv" for _, run in self.all_runs(configs)
                      for step in run.get("proxy_steps", []) if step)

    def planned_rounds(self, configs: list[dict] | None = None) -> list[tuple[str, str, str]]:
        """(checkpoint, model, kind) of every round: kind ``round0``, ``intermediate`` or ``last``."""
        rounds = []
        for w, run in self.all_runs(configs):
            last = len(run["metrics"]) - 1
            for i, metrics in enumerate(run["metrics"]):
                kind = "last" if i == last else "round0" if i == 0 else "intermediate"
                rounds.append((metrics.replace("metrics.json", "checkpoint.pt"), w["model"], kind))
        return rounds

    def final_metrics(self, group: Mapping, configs: list[dict] | None = None) -> dict[str, dict[str, list[str]]]:
        """By method and configuration: the last round's metrics.json (with test predictions) of each
        run of a group's plain arm."""
        group = {k: group[k] for k in GROUP_KEYS}
        out = {}
        for seed in self.config["seeds"]:
            for fold in self.folds:
                for run in self.run_rounds(fold_wildcards(group, seed, fold), configs):
                    by_config = out.setdefault(run["method"], {})
                    by_config.setdefault(run["config"], []).append(run["metrics"][-1])
        return out

    def gallery_steps(self, w: Mapping) -> list[str]:
        """The proxy-step directories of one configuration on the first seed and fold."""
        first = {**dict(w.items()), "aug": "", "seed": self.config["seeds"][0], "fold": self.folds[0]}
        return paths.proxy_step_dirs(self.layout.proxy_run.format(**first), self.n_proxy_steps(w))

    def gallery_inputs(self, w: Mapping) -> dict:
        steps = self.gallery_steps(w)
        return {
            "cache": self.cache_file(w),
            "manifests": [f"{s}/manifest.csv" for s in steps],
            "cams": [f"{s}/cams.npz" for s in steps],
            "images": [f"{s}/images" for s in steps],
        }

    def augmentation_gallery_inputs(self, w: Mapping) -> dict:
        """The image cache and split, and for the saliency-guided methods the model that gives their
        CAM: round 0 of the plain arm, first model, schedule, protocol, seed and fold."""
        c = self.config
        inputs = self.fold_inputs(w)
        if any(needs_cam(a) for a in c["augmentations"]):
            group = {"dataset": w["dataset"], "model": c["models"][0], "schedule": next(iter(self.schedules)),
                     "protocol": c["protocols"][0]}
            first = fold_wildcards(group, c["seeds"][0], self.folds[0])
            inputs["checkpoint"] = f"{self.run_dir(first)}/round0/checkpoint.pt"
        return inputs

    def benchmark_files(self, configs: list[dict] | None = None, keep=None) -> dict[str, list[str]]:
        """Every benchmark file of the workflow's heavy jobs, by rule (the data steps, every round kind);
        with ``keep`` (a filter of a list of files) only the rules with files it keeps."""
        bench = {name: set() for name in DATA_STEPS}
        bench.update({kind.rule: set() for kind in paths.ROUND_KINDS})
        for d in self.config["datasets"]:  # the shared data steps write the confirm stage's benchmarks
            for name in ("prepare_dataset", "index_dataset"):
                bench[name].add(paths.benchmark_path(name, d))
            bench["split_dataset"].add(self.layout.benchmark_path("split_dataset", d))
            bench["cache_images"].add(paths.benchmark_path("cache_images", f"{d}_{self.config['img_size']}px"))
        for _, run in self.all_runs(configs):
            for path in run["train_benchmark"]:  # results/benchmarks/train/<round dir>.tsv
                bench[paths.round_rule(path.removesuffix(".tsv"))].add(path)
        if keep is None:
            return {name: sorted(files) for name, files in bench.items()}
        kept = {name: keep(sorted(files)) for name, files in bench.items()}
        return {name: files for name, files in kept.items() if files}

    # --- targets ---

    def figure_targets(self, configs: list[dict] | None = None) -> list[str]:
        c, summary = self.config, self.layout.summary
        targets = [f"{summary}/runtime.svg"]
        targets += [f"{summary}/figures/{d}/classes.svg" for d in c["datasets"]]
        several_arms = len(c["augmentations"]) > 1
        for g in self.groups():
            base = self.layout.figures.format(**g)
            targets += [f"{base}/{name}" for name in GROUP_FIGURES]
            if self.schedules[g["schedule"]].n_proxy_steps:
                targets += [self.layout.gallery.format(**g, **params)
                            for params in (self.proxy_configs if configs is None else configs)]
            if several_arms:
                targets.append(f"{base}/augmentations.svg")
        if several_arms:
            targets += [f"{summary}/figures/{d}/augmentations.png" for d in c["datasets"]]
        return targets

    def explain_targets(self) -> list[str]:
        if not self.config["explain"]["enabled"]:
            return []
        return [p.replace("summary.csv", "explain_gallery.png") for p in self.fold_summaries()] + [
            f"{self.layout.summary}/explain_vs_accuracy.svg"]

    def summary_targets(self, tensorboard: bool, configs: list[dict] | None = None) -> list[str]:
        """This stage's tables, figures and audits (rule all; a screened grid's confirm stage adds the
        screen's and the selection)."""
        summary = self.layout.summary
        return [
            f"{summary}/leakage_audit.csv",
            f"{summary}/runs.csv",
            f"{summary}/epochs.csv",
            f"{summary}/comparison.csv",
            f"{summary}/test_accuracy.svg",
            *self.figure_targets(configs),
            *([f"{summary}/tensorboard"] if tensorboard else []),
            *self.explain_targets(),
            *([f"{summary}/protocol_comparison.csv"] if "thesis" in self.config["protocols"] else []),
        ]
