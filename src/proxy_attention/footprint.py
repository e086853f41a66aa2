"""The disk use of a grid's round checkpoints, known before it runs (printed by ``snakemake -n``).

A round's ``checkpoint.pt`` holds the model's weights (its ``state_dict``) and, when a later round
continues from it, the optimizer's state (for AdamW two tensors per weight: twice the weights).
The last round of a run keeps the weights only (``proxy_attention.train.trainer``); with
``keep_intermediate_rounds: false`` Snakemake deletes the intermediate rounds once the next round
has finished. So the planned rounds need, per model:

    round 0 of a fold            weights + optimizer state   kept
    intermediate round (1..n-1)  weights + optimizer state   kept, or deleted after the next round
    last round of a run (n)      weights                     kept

The sizes come from the model built on the meta device (no memory, no weights) and the optimizer's
state per weight, measured once on a small probe with the config's optimizer; both are remembered
beside the model check's record (:mod:`proxy_attention.modelcheck`), so a dry run imports torch
only the first time. The other files of a round (metrics, the train-set record, proxy images) and
the dataset's image cache are left out: they are small beside the checkpoints of any timm model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("proxy_attention.footprint")
RECORD = "footprints.json"
ASSUMED_CLASSES = 1000  # a dataset whose class count is unknown before it is indexed: timm's default head


@dataclass(frozen=True)
class ModelSizes:
    """Bytes of a model's weights (``state_dict``: parameters and buffers) and of its optimizer state."""

    weights: int
    optimizer: int

    @property
    def continued(self) -> int:
        """A checkpoint that a later round continues from."""
        return self.weights + self.optimizer


@dataclass(frozen=True)
class PlannedRound:
    """One round checkpoint of the plan: its path, model, and whether it is round 0, an intermediate
    round or a run's last round (``"round0"``, ``"intermediate"``, ``"last"``)."""

    path: str
    model: str
    kind: str


@dataclass
class Footprint:
    rounds: int = 0
    intermediate_rounds: int = 0
    let_go_rounds: int = 0
    kept: int = 0  # bytes left in results/ once every planned round has run
    peak: int = 0  # bytes at most while they run: kept + one intermediate round of every run at once
    to_write: int = 0  # of kept, what is not on disk yet
    in_flight: int = 0  # one intermediate round of every unfinished run whose intermediate rounds are let go
    all_kept_full: int = 0  # every round kept with its optimizer state (before issue 28)


def optimizer_state_ratio(optimizer: str) -> float:
    """Bytes of ``optimizer``'s state per byte of trainable weights, after one step on a probe
    (AdamW: 2.0, SGD with momentum: 1.0; timm's ``create_optimizer_v2`` names)."""
    import torch
    from timm.optim import create_optimizer_v2

    probe = torch.nn.Linear(256, 256)
    opt = create_optimizer_v2(probe, opt=optimizer, lr=1e-3, weight_decay=1e-5)
    probe(torch.ones(2, 256)).square().sum().backward()
    opt.step()
    state = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values() if torch.is_tensor(t))
    weights = sum(p.numel() * p.element_size() for p in probe.parameters())
    return round(state / weights, 3)


def measure(model: str, num_classes: int, model_kwargs: dict, optimizer: str) -> ModelSizes:
    """The model's sizes, built on the meta device (no weights computed, about 0.1 s)."""
    import timm
    import torch

    with torch.device("meta"):
        m = timm.create_model(model, pretrained=False, num_classes=num_classes, **(model_kwargs or {}))
    weights = sum(t.numel() * t.element_size() for t in m.state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in m.parameters() if p.requires_grad)
    return ModelSizes(weights, int(trainable * optimizer_state_ratio(optimizer)))


def _key(inputs: dict) -> str:
    from proxy_attention.modelcheck import package_version

    inputs = {**inputs, "timm": package_version("timm"), "torch": package_version("torch")}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def model_sizes(model: str, num_classes: int, model_kwargs: dict | None, optimizer: str) -> ModelSizes:
    """:func:`measure`, remembered in ``footprints.json`` beside the model check's record."""
    from proxy_attention.modelcheck import cache_dir, read_record, write_record

    inputs = {"model": model, "num_classes": num_classes, "model_kwargs": model_kwargs or {}, "optimizer": optimizer}
    path = cache_dir() / RECORD
    record = read_record(path)
    hit = record.get(_key(inputs))
    if isinstance(hit, dict) and {"weights", "optimizer_state"} <= set(hit):
        return ModelSizes(int(hit["weights"]), int(hit["optimizer_state"]))
    sizes = measure(model, num_classes, model_kwargs or {}, optimizer)
    record[_key(inputs)] = {**inputs, "weights": sizes.weights, "optimizer_state": sizes.optimizer}
    write_record(path, record)
    return sizes


def class_count(dataset: str, options: dict | None, data_dir: str = "results/data") -> tuple[int, bool]:
    """The dataset's number of classes and whether it is known: from its index's class counts once
    indexed, else the built-in digits' 10 or the registry's figure; else :data:`ASSUMED_CLASSES`."""
    counts = Path(data_dir) / dataset / "class_counts.csv"
    if counts.exists():
        import csv

        with open(counts, newline="") as fh:
            labels = {row["label"] for row in csv.DictReader(fh)
                      if row.get("part") != "test" and str(row.get("kept", "1")) not in ("0", "")}
        if labels:
            return len(labels), True
    kind = (options or {}).get("type", dataset)
    if kind == "digits":
        return 10, True
    from proxy_attention.data.datasets.registry import REGISTRY

    if kind in REGISTRY:
        return REGISTRY[kind].classes, True
    return ASSUMED_CLASSES, False


def plan(rounds: list[PlannedRound], sizes: dict[str, ModelSizes], keep_intermediate: bool,
         exists=os.path.exists) -> Footprint:
    """The footprint of ``rounds`` (each path once) with the models' ``sizes``."""
    fp = Footprint()
    unique = {r.path: r for r in rounds}.values()
    def method_dir(path):  # <method>/round<r>/checkpoint.pt
        return os.path.dirname(os.path.dirname(path))
    finished = {method_dir(r.path) for r in unique if r.kind == "last" and exists(r.path)}
    in_flight: dict[str, int] = {}  # a run whose intermediate rounds are let go: the size of one of them
    for r in unique:
        s = sizes[r.model]
        size = s.weights if r.kind == "last" else s.continued
        fp.rounds += 1
        fp.all_kept_full += s.continued
        if r.kind == "intermediate":
            fp.intermediate_rounds += 1
            if not keep_intermediate:
                fp.let_go_rounds += 1
                in_flight[method_dir(r.path)] = size
                continue
        fp.kept += size
        fp.to_write += 0 if exists(r.path) else size
    fp.peak = fp.kept + sum(in_flight.values())
    fp.in_flight = sum(size for run, size in in_flight.items() if run not in finished)
    return fp


def free_space(folder: str = "results") -> int:
    """Free bytes on the file system of ``folder`` (its nearest existing parent before it exists)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def gb(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"


def describe(fp: Footprint, sizes: dict[str, ModelSizes], optimizer: str, keep_intermediate: bool,
             classes: dict[str, tuple[int, bool]], free: int, folder: str = "results") -> tuple[str, str | None]:
    """The message every run and dry run prints, and the warning when the rounds may not fit."""
    models = "; ".join(f"{m}: {gb(s.weights)} weights + {gb(s.optimizer)} {optimizer} state"
                       for m, s in sizes.items())
    assumed = sorted(d for d, (_, known) in classes.items() if not known)
    note = (f" (datasets {assumed}: {ASSUMED_CLASSES} classes assumed until indexed)" if assumed else "")
    kept = (f"kept after the run {gb(fp.kept)}" + (
        "" if keep_intermediate or not fp.let_go_rounds else
        f" ({fp.let_go_rounds:,} intermediate rounds let go; up to {gb(fp.peak)} while it runs, "
        f"if every run holds one of them at once)"))
    message = (f"Disk use of the planned training rounds: {fp.rounds:,} round checkpoints ({models}){note}; "
               f"{kept}; {gb(fp.to_write)} of it still to write, {gb(free)} free on the file system of {folder}/.")
    warning = None
    if fp.to_write > free:
        hint = (" keep_intermediate_rounds: false (config/README.md) lets the intermediate rounds go, or"
                if keep_intermediate and fp.intermediate_rounds else "")
        warning = (f"the planned training rounds keep {gb(fp.to_write)} more in {folder}/, but its file system "
                   f"has {gb(free)} free: the run would stop with 'No space left on device'.{hint} run fewer "
                   f"configurations, folds (run_folds) or seeds, or free space first.")
    elif fp.to_write + fp.in_flight > free:
        warning = (f"the planned training rounds keep {gb(fp.to_write)} more in {folder}/ ({gb(free)} free), but "
                   f"may hold up to {gb(fp.to_write + fp.in_flight)} while they run, if every run holds one of its "
                   f"intermediate rounds at once (Snakemake deletes each once the next round has finished, and "
                   f"prefers the jobs that free such files): to be sure, run the grid a few folds at a time "
                   f"(run_folds) or free space first.")
    return message, warning
