"""The workflow's file layout: where every artifact, log and benchmark of a job lives.

Plain path arithmetic, shared by the rules (``workflow/rules/*.smk``) and tested in
``tests/unit/test_paths.py``. A run is one (dataset, model, schedule, protocol, seed, fold);
its rounds live under :data:`RUN` (``<protocol>/aug~<name>/seed...`` for an augmentation arm)::

    <run>/round0/                         shared by the baseline and every proxy run
    <run>/baseline/round<r>/
    <run>/proxy/<config>/proxy<r>/        proxy step r: images/, manifest.csv, cams.npz, stats.json
    <run>/proxy/<config>/round<r>/
    <run>/proxy/<config>/matched/round<r>/  compute-matched baseline

``<config>`` is the proxy configuration as Snakemake's ``Paramspace`` writes it.
A job's log and benchmark mirror the path of what it writes: :func:`log_path`,
:func:`benchmark_path`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

RUNS = "results/runs"
LOGS = "results/logs"
BENCH = "results/benchmarks"
DATA = "results/data/{dataset}"
# {aug}: '' for the plain arm (augmentation none), '/aug~<name>' for another augmentation arm
# (proxy_attention.augment.names.arm_dir), so that today's paths stay as they are.
RUN = RUNS + "/{dataset}/{model}/{schedule}/{protocol}{aug}/seed{seed}/fold{fold}"
# The files every training round writes, by output name.
ROUND_FILES = {
    "checkpoint": "checkpoint.pt",
    "metrics": "metrics.json",
    "epochs": "epochs.csv",
    "train_set": "train_set.npz",
}
# The files every proxy step writes besides its images/ folder.
PROXY_STEP_FILES = {"manifest": "manifest.csv", "cams": "cams.npz", "stats": "stats.json"}


@dataclass(frozen=True)
class RoundKind:
    """One kind of training round: the rule that trains it, the ``method`` it belongs to in
    ``runs.csv``, and where its rounds live relative to the run (``{proxy}`` is the proxy
    configuration's path)."""

    rule: str
    method: str
    directory: str


ROUND_KINDS = (
    RoundKind("train_round0", "round0", "round0"),
    RoundKind("train_baseline", "baseline", "baseline/round{round}"),
    RoundKind("train_proxy", "proxy", "proxy/{proxy}/round{round}"),
    RoundKind("train_matched", "baseline_matched", "proxy/{proxy}/matched/round{round}"),
    RoundKind("train_matched_first", "baseline_matched", "shared/subset_wrong~{subset_wrong}/matched/round1"),
    RoundKind("train_replay", "replay", "proxy/{proxy}/replay/round{round}"),
    RoundKind("train_replay_first", "replay",
              "shared/subset_wrong~{subset_wrong}/subset_order~{subset_order}/replay/round1"),
    RoundKind("train_random_location", "random_location", "proxy/{proxy}/random_location/round{round}"),
)
_IN_PROXY_RUN = "proxy/{proxy}/"
# Where a control's rounds live under the proxy run (rounds from 2 on; round 1 too for random_location):
# the kinds whose rounds live one folder below the proxy run's.
CONTROL_DIRS = {k.method: k.directory.removeprefix(_IN_PROXY_RUN).split("/")[0] for k in ROUND_KINDS
                if k.directory.startswith(_IN_PROXY_RUN) and k.directory.count("/") == 3}
# The methods trained beside each proxy configuration to explain its result (proxy_attention.proxy.controls).
CONTROL_METHODS = tuple(CONTROL_DIRS)
# A kind's round directory as a pattern at the end of a path: a proxy configuration is one or more
# ``key~value`` folders (which no fixed folder name of ROUND_KINDS is), a round a number.
_FIELD_PATTERNS = {"proxy": r"[^/~]+~[^/]*(?:/[^/~]+~[^/]*)*", "round": r"\d+", "subset_wrong": r"[^/]+",
                   "subset_order": r"[^/]+"}
_ROUND_PATTERNS = [(k.rule, re.compile("(?:^|/)" + re.sub(r"\\\{(\w+)\\\}", lambda m: _FIELD_PATTERNS[m.group(1)],
                                                          re.escape(k.directory)) + "$"))
                   for k in ROUND_KINDS]
# Files outside the stage trees: the decoded-image cache and the batch size finder's result.
CACHE = DATA + "/images_{size}px.npy"
BATCH_SIZE = "results/batch_size/{model}_{size}px_{device}.json"
# The stem of a group's figure logs.
GROUP = "{dataset}/{model}/{schedule}/{protocol}"


def _stem(path: str) -> str:
    """``results/runs/a/b`` -> ``a/b``; ``results/data/x`` -> ``data/x`` (paths outside the runs keep their folder)."""
    if path.startswith(RUNS + "/"):
        return path.removeprefix(RUNS + "/")
    return path.removeprefix("results/")


def log_path(step: str, path: str) -> str:
    """The log of the ``step`` job that writes ``path`` (a file or a round directory, without suffix)."""
    return f"{LOGS}/{step}/{_stem(path)}.log"


def benchmark_path(step: str, path: str) -> str:
    """The ``benchmark:`` TSV of the ``step`` job that writes ``path``."""
    return f"{BENCH}/{step}/{_stem(path)}.tsv"


@dataclass(frozen=True)
class Layout:
    """The tree of one stage under ``root`` (``results``; ``results/screen`` for the screen stage):
    its runs, fold split, tables and figures; the dataset's index and image cache are shared.
    ``proxy`` is the path pattern of a proxy configuration (grid.PROXY_CONFIG_PATTERN)."""

    root: str = "results"
    proxy: str = "{proxy}"

    @property
    def run(self) -> str:
        return RUN if self.root == "results" else RUN.replace("results/", f"{self.root}/", 1)

    @property
    def split(self) -> str:
        return f"{self.root}/data/{{dataset}}/split.csv"

    @property
    def summary(self) -> str:
        return f"{self.root}/summary"

    @property
    def proxy_run(self) -> str:
        return f"{self.run}/proxy/{self.proxy}"

    @property
    def proxy_step(self) -> str:
        """Proxy step r, written by the train_proxy job of round r."""
        return f"{self.proxy_run}/proxy{{round}}"

    @property
    def shared_matched(self) -> str:
        """The matched baseline's round 1, shared by the configurations with its first-step selection."""
        return f"{self.run}/shared/subset_wrong~{{subset_wrong}}/matched"

    @property
    def shared_replay(self) -> str:
        """The replay's round 1, shared likewise (it depends on subset_order too)."""
        return f"{self.run}/shared/subset_wrong~{{subset_wrong}}/subset_order~{{subset_order}}/replay"

    @property
    def random_location_step(self) -> str:
        """The random-location control's own step r."""
        return f"{self.proxy_run}/random_location/proxy{{round}}"

    @property
    def figures(self) -> str:
        return f"{self.summary}/figures/{{dataset}}/{{model}}/{{schedule}}/{{protocol}}"

    @property
    def gallery(self) -> str:
        return f"{self.figures}/gallery/{self.proxy}.png"

    def stage_path(self, path: str) -> str:
        """``path`` in the stage's tree: the screen's logs and benchmarks of a table or split live
        under results/logs/<step>/screen/..., beside the confirm stage's (:func:`log_path`)."""
        if self.root == "results" or path.startswith(f"{self.root}/"):
            return path
        return f"{self.root}/{path}"

    def log_path(self, step: str, path: str) -> str:
        return log_path(step, self.stage_path(path))

    def benchmark_path(self, step: str, path: str) -> str:
        return benchmark_path(step, self.stage_path(path))


def round_outputs(round_dir: str) -> dict[str, str]:
    """The named outputs of a training round written into ``round_dir``."""
    return {name: f"{round_dir}/{file}" for name, file in ROUND_FILES.items()}


def let_go(temp, outputs: dict[str, str]) -> dict:
    """A round's outputs with its checkpoint marked by ``temp`` (Snakemake's temp(): deleted once the
    rounds that read it have run; keep_intermediate_rounds: false, workflow/rules/train.smk)."""
    return {**outputs, "checkpoint": temp(outputs["checkpoint"])}


def proxy_step_outputs(step_dir: str) -> dict[str, str]:
    """The named file outputs of a proxy step written into ``step_dir`` (its images/ folder aside)."""
    return {name: f"{step_dir}/{file}" for name, file in PROXY_STEP_FILES.items()}


def method_round_dir(run_dir: str, method_dir: str, round_: int) -> str:
    """Round ``round_`` of a method whose rounds live in ``method_dir``: round 0 is the run's shared one."""
    return f"{run_dir}/round0" if round_ == 0 else f"{method_dir}/round{round_}"


def previous_checkpoint(run_dir: str, method_dir: str, round_: int) -> str:
    """The checkpoint a round (or the proxy step before it) starts from: the previous round's."""
    return f"{method_round_dir(run_dir, method_dir, round_ - 1)}/checkpoint.pt"


def final_checkpoint(run_dir: str, method_dir: str, n_proxy_steps: int) -> str:
    """The last round's checkpoint of a method (round 0 when the schedule has no proxy step)."""
    return f"{method_round_dir(run_dir, method_dir, n_proxy_steps)}/checkpoint.pt"


def intermediate_rounds_constraint(n_proxy_steps: dict[str, int]) -> str | None:
    """The ``{schedule}`` wildcard constraint of the rules that train intermediate rounds
    (``keep_intermediate_rounds: false``, workflow/rules/train.smk), or None when no schedule has one.

    A run's intermediate rounds are 1 .. n-1 of a schedule with n proxy steps (round 0 and the last
    round are not). Snakemake constrains each wildcard alone, so the constraint is the schedule's tag
    followed, later in the path, by ``round<r>/`` or ``proxy<r>/`` of such a round and a last
    component, or by its benchmark's or log's ``round<r>.tsv``/``.log`` (a lookahead): ``3p3p3`` in
    ``.../3p3p3/honest/seed0/fold0/baseline/round1/checkpoint.pt`` but not in ``.../round2/checkpoint.pt``.
    """
    alternatives = []
    for tag, n in n_proxy_steps.items():
        if n > 1:
            rounds = "|".join(str(r) for r in range(1, n))
            alternatives.append(rf"{re.escape(tag)}(?=/(?:.*/)?(?:round|proxy)(?:{rounds})(?:/[^/]+|\.tsv|\.log)$)")
    return "|".join(alternatives) or None


def proxy_steps_for_round(round_: int, clear_every_step: bool) -> list[int]:
    """Proxy steps whose images train round ``round_``: only step r with clear_every_step, else 1..r."""
    return [round_] if clear_every_step else list(range(1, round_ + 1))


def proxy_manifests(proxy_dir: str, round_: int, clear_every_step: bool) -> list[str]:
    return [f"{proxy_dir}/proxy{s}/manifest.csv" for s in proxy_steps_for_round(round_, clear_every_step)]


def round_files(run_dir: str, method_dir: str, n_proxy_steps: int, step: str = "train") -> dict[str, list[str]]:
    """Per round of one method (round 0 first): its ``metrics``, ``epochs`` and ``train_benchmark``."""
    return files_of_rounds([method_round_dir(run_dir, method_dir, r) for r in range(n_proxy_steps + 1)], step)


def files_of_rounds(dirs: list[str], step: str = "train") -> dict[str, list[str]]:
    """The ``metrics``, ``epochs`` and ``train_benchmark`` files of the rounds in ``dirs``, in order."""
    return {
        "metrics": [f"{d}/metrics.json" for d in dirs],
        "epochs": [f"{d}/epochs.csv" for d in dirs],
        "train_benchmark": [benchmark_path(step, d) for d in dirs],
    }


def first_round_dir(run_dir: str, method: str, params: dict) -> str:
    """Round 1 of a control that every configuration with the same first-step selection shares: the
    first proxy step searches the shared round 0, so the matched baseline's round 1 depends on
    ``subset_wrong`` only and the replay's on ``subset_wrong`` and ``subset_order``."""
    key = f"{run_dir}/shared/subset_wrong~{params['subset_wrong']}"
    if method == "baseline_matched":
        return f"{key}/matched/round1"
    if method == "replay":
        return f"{key}/subset_order~{params['subset_order']}/replay/round1"
    raise ValueError(f"{method} has no shared first round")


def shared_config(subset_wrong, subset_order: str | None = None) -> str:
    """The ``config`` name of a shared first control round in runs.csv: what it depends on."""
    name = f"shared/subset_wrong~{subset_wrong}"
    return f"{name}/subset_order~{subset_order}" if subset_order is not None else name


def control_checkpoint(run_dir: str, proxy_dir: str, method: str, params: dict, round_: int) -> str:
    """The checkpoint of round ``round_`` of a control (what its round ``round_ + 1`` starts from)."""
    return f"{control_round_dir(run_dir, proxy_dir, method, params, round_)}/checkpoint.pt"


def control_round_dir(run_dir: str, proxy_dir: str, method: str, params: dict, round_: int) -> str:
    """Round ``round_`` of the control ``method`` of the proxy run in ``proxy_dir``."""
    if round_ == 0:
        return f"{run_dir}/round0"
    if round_ == 1 and method != "random_location":
        return first_round_dir(run_dir, method, params)
    return f"{proxy_dir}/{CONTROL_DIRS[method]}/round{round_}"


def control_round_files(run_dir: str, proxy_dir: str, method: str, params: dict, n_proxy_steps: int,
                        step: str = "train") -> dict[str, list[str]]:
    """:func:`round_files` of a control run: round 0 is the fold's, round 1 may be shared."""
    return files_of_rounds([control_round_dir(run_dir, proxy_dir, method, params, r)
                            for r in range(n_proxy_steps + 1)], step)


def round_rule(round_dir: str) -> str:
    """The rule that trains the round in ``round_dir`` (the one of ROUND_KINDS whose directory it ends with)."""
    path = round_dir.rstrip("/")
    rules = [rule for rule, pattern in _ROUND_PATTERNS if pattern.search(path)]
    if len(rules) != 1:
        raise ValueError(f"{round_dir}: not the round directory of one kind of round (found {rules})")
    return rules[0]


def proxy_step_dirs(proxy_dir: str, n_proxy_steps: int) -> list[str]:
    return [f"{proxy_dir}/proxy{r}" for r in range(1, n_proxy_steps + 1)]


def put_first_on_pythonpath(folder: str) -> None:
    """Put ``folder`` first on PYTHONPATH (once), so that every job's Python imports the package from it."""
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != folder]
    os.environ["PYTHONPATH"] = os.pathsep.join([folder, *rest])
