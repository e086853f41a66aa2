"""Tidy tables of every run and round, from the per-round ``metrics.json`` and ``epochs.csv`` files.

Round 0 is trained once per (dataset, model, schedule, seed, fold) and shared by
the baseline and every proxy configuration; the tables give each run its own
copy of it, so that every run's rows start at round 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from proxy_attention.grid import PROXY_GRID_KEYS
from proxy_attention.train.settings import TRAINED_WITH

# Columns that identify a run and round; the rest are hyperparameters and measurements.
RUN_KEYS = ["dataset", "model", "schedule", "augmentation", "seed", "fold", "method", "config"]
# Keys of a run that name its files rather than describe it.
# Per-image explanation scores of explain.csv (proxy_attention.analysis.explain); runs.csv gets their means.
EXPLAIN_SCORES = ["road_combined", "cam_conf_change"]


def _order(df: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    front = [c for c in first if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


# Per-round file lists of a run (proxy_attention.grid.Grid.run_rounds); everything else is its identity.
FILE_KEYS = ("metrics", "epochs", "explain", "train_benchmark", "proxy_steps", "proxy_benchmark")


def benchmark_seconds(path: str | Path | None) -> float:
    """Wall-clock seconds of a job from its Snakemake ``benchmark:`` TSV (mean over repeats); NaN if absent."""
    if not path or not Path(path).exists():
        return float("nan")
    s = pd.read_csv(path, sep="\t")["s"]
    return float(s.mean()) if len(s) else float("nan")


def step_stats_file(step_dir: str | Path) -> dict:
    """A proxy step's ``stats.json``; empty if it has none."""
    stats_file = Path(step_dir) / "stats.json"
    return json.loads(stats_file.read_text()) if stats_file.exists() else {}


def step_seconds(step_dir: str | Path) -> float:
    """Wall-clock seconds of a proxy step from its ``stats.json`` (``wall_s``); NaN if absent."""
    return float(step_stats_file(step_dir).get("wall_s", float("nan")))


def proxy_step_stats(step_dir: str | Path | None) -> dict:
    """What a proxy step found and wrote: from its ``stats.json`` and ``manifest.csv``."""
    if not step_dir:
        return {}
    step_dir = Path(step_dir)
    manifest = pd.read_csv(step_dir / "manifest.csv")
    stats = step_stats_file(step_dir)
    return {
        "wrong_found": stats.get("n_wrong", len(manifest)),
        "proxies_written": len(manifest),
        "frac_pixels_changed": float(manifest["frac_changed"].mean()) if len(manifest) else float("nan"),
        "proxies_unchanged": int((manifest["frac_changed"] == 0).sum()),  # unmodified copies, not proxies
        # CAM quality scores a proxy step may compute ({"scores": {name: value}}) travel along as cam_<name>
        **{f"cam_{k}": v for k, v in (stats.get("scores") or {}).items()},
    }


def run_tables(runs: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-round metrics and per-epoch curves for the runs of one fold.

    Each item of ``runs`` is a dict of the run's identity and hyperparameters plus
    per-round file lists (round 0 first): ``metrics`` and ``epochs``, and optionally
    ``train_benchmark``, ``proxy_steps`` (step directory or None) and ``proxy_benchmark``.
    Each metrics row gains what its proxy step found (``wrong_found``, ``proxies_written``,
    ``frac_pixels_changed``) and the wall time of the jobs behind it (``train_job_s``,
    ``proxy_job_s``, ``job_s`` and the run's cumulative ``cum_job_s``). Without a
    ``proxy_benchmark`` (the workflow: the round's training job runs its proxy step first),
    ``proxy_job_s`` is the step's own ``wall_s`` from its ``stats.json`` and ``train_job_s`` the
    job's time less that, so that ``job_s`` is still the job's wall time.
    Optionally ``explain``: the final model's explanation scores
    (:mod:`proxy_attention.analysis.explain`), whose means go into the final round's row.
    """
    metric_rows, epoch_frames = [], []
    for run in runs:
        ident = {k: v for k, v in run.items() if k not in FILE_KEYS}
        n = len(run["metrics"])
        steps = run.get("proxy_steps") or [None] * n
        train_bench = run.get("train_benchmark") or [None] * n
        proxy_bench = run.get("proxy_benchmark") or [None] * n
        cum = 0.0
        no_pixel = 0  # proxy steps so far that wrote images but changed no pixel of any
        for i, (path, step, tb, pb) in enumerate(zip(run["metrics"], steps, train_bench, proxy_bench)):
            m = json.loads(Path(path).read_text())
            m.pop("test_pred", None)
            m.pop(TRAINED_WITH, None)  # the settings it was trained with: for the report's staleness check
            m.update(ident)
            m.update(proxy_step_stats(step))
            no_pixel += bool(m.get("proxies_written")) and m.get("proxies_unchanged") == m.get("proxies_written")
            m["steps_changed_no_pixel"] = no_pixel
            m["train_job_s"] = benchmark_seconds(tb)
            if pb:  # the proxy step ran as a job of its own
                m["proxy_job_s"] = benchmark_seconds(pb)
            elif step:  # the round's training job ran it first: its own time, out of the job's
                m["proxy_job_s"] = step_seconds(step)
                m["train_job_s"] -= m["proxy_job_s"]
            else:
                m["proxy_job_s"] = 0.0
            m["job_s"] = m["train_job_s"] + m["proxy_job_s"]
            cum += m["job_s"]
            m["cum_job_s"] = cum
            m["metrics_file"] = str(path)
            if run.get("explain") and i == len(run["metrics"]) - 1:
                m.update(explain_means(run["explain"]))
            metric_rows.append(m)
        for path in run["epochs"]:
            e = pd.read_csv(path)
            if len(e):
                epoch_frames.append(e.assign(**ident))
    first = RUN_KEYS + ["round", "epoch"] + PROXY_GRID_KEYS
    metrics = _order(pd.DataFrame(metric_rows), first)
    epochs = _order(pd.concat(epoch_frames, ignore_index=True), first) if epoch_frames else pd.DataFrame()
    return metrics, epochs


def explain_means(path: str | Path) -> dict:
    """Mean scores of one final model's ``explain.csv``: ``explain_road_combined``, ``explain_cam_conf_change``."""
    df = pd.read_csv(path)
    out = {f"explain_{k}": float(df[k].mean()) if len(df) else float("nan") for k in EXPLAIN_SCORES}
    out["explain_n_images"] = int(len(df))
    return out


def concat_tables(paths: list[str | Path], sort_by: list[str] | None = None) -> pd.DataFrame:
    frames = [pd.read_csv(p) for p in paths]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    keys = [c for c in (sort_by or RUN_KEYS + ["round", "epoch"]) if c in df.columns]
    return df.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)
