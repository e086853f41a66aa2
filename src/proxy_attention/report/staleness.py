"""Whether the runs a report shows are the runs the current config asks for.

``snakemake --report`` builds the report from the files that exist: after a config change it
showed the old runs.csv's numbers as the answer while ``snakemake -n`` listed jobs to run. The
Snakefile, when it makes a report, compares runs.csv with what the config asks for and puts the
difference on the report's first screen (workflow/report/workflow.rst):

- runs the config asks for that runs.csv lacks, and runs in it the config no longer asks for;
- runs whose result files were deleted after runs.csv was written (``rm -rf .../fold1``);
- runs trained with other settings than the config now asks for: each round records the
  settings it was trained with in its metrics.json (under
  :data:`~proxy_attention.train.settings.TRAINED_WITH`, written by train/trainer.py), and
  every setting the config gives a round is compared with them (``training.label_smoothing``
  changed: the runs are stale; a ``batch_size: auto`` is the finder's number and is not compared);
- the report's own files the config asks for that do not exist yet (a new grid value's gallery),
  which the report leaves out (common.smk: ``present``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from proxy_attention.train.settings import TRAINED_WITH

# What identifies a run in runs.csv (one row per round of it).
RUN_KEY = ("dataset", "model", "schedule", "protocol", "augmentation", "seed", "fold", "method", "config")
# The key of a round's metrics.json that holds the TrainSettings it was trained with (less the class
# names; train/trainer.py writes it, analysis/aggregate.py keeps it out of runs.csv).


def run_key(info: dict) -> tuple[str, ...]:
    return tuple(str(info[k]) for k in RUN_KEY)


def _show(keys, n: int = 3) -> str:
    listed = ["/".join(k[:-1]) + (f" {k[-1]}" if k[-1] != "none" else "") for k in sorted(keys)[:n]]
    return "; ".join(listed) + (" ..." if len(keys) > n else "")


def settings_changes(recorded: Mapping, asked: Mapping) -> list[str]:
    """``key old -> new`` for every setting of ``asked`` to which ``recorded`` gives another value,
    compared as JSON (a tuple and a list of the same items are equal). ``batch_size: auto`` is
    replaced by the batch size finder's number in the job: not compared."""
    old, new = json.loads(json.dumps(dict(recorded))), json.loads(json.dumps(dict(asked)))
    missing = object()
    return [f"{k} {old.get(k, '(not recorded)')} -> {new[k]}" for k in sorted(new)
            if old.get(k, missing) != new[k] and not (k == "batch_size" and new[k] == "auto")]


def changed_runs(last_rounds: Mapping[tuple, str], asked: Mapping[str, Mapping]) -> dict[tuple, list[str]]:
    """The runs whose last round was trained with other settings than ``asked`` (metrics path -> the
    settings the config gives that round now), with what differs. ``last_rounds``: run key -> its
    last round's metrics.json. A metrics.json without the record (written before it was kept) or
    that cannot be read is not compared."""
    out = {}
    for key, path in last_rounds.items():
        if path not in asked:
            continue
        try:
            recorded = json.loads(Path(path).read_text()).get(TRAINED_WITH)
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(recorded, dict) and (diff := settings_changes(recorded, asked[path])):
            out[key] = diff
    return out


def stale_runs_message(
    runs_csv: str | Path,
    expected: set[tuple[str, ...]],
    command: str = "snakemake --cores N",
    asked: Mapping[str, Mapping] | None = None,
    left_out: Sequence[str] = (),
) -> str:
    """A warning when runs.csv is unreadable, holds other runs than ``expected``, runs whose files
    are gone or that were trained with other settings than ``asked`` (metrics path -> the training
    settings the config gives that round now), or when report files the config asks for
    (``left_out``) do not exist; else ""."""
    import pandas as pd

    runs_csv = Path(runs_csv)
    rebuild = f"run `{command}`, then rebuild the report"
    if not runs_csv.exists():
        return ""  # the report already says "No comparison yet"
    try:
        df = pd.read_csv(runs_csv, dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - an empty or damaged table
        return f"{runs_csv} cannot be read ({type(e).__name__}), so the results below may be out of date: {rebuild}."
    missing_cols = [k for k in RUN_KEY if k not in df.columns]
    if missing_cols:
        return f"{runs_csv} lacks the columns {missing_cols}; the results below may be out of date: {rebuild}."
    have = {tuple(row) for row in df[list(RUN_KEY)].drop_duplicates().itertuples(index=False)}
    lacking, extra = expected - have, have - expected
    gone, changed = set(), {}
    if "metrics_file" in df.columns:
        files = df[list(RUN_KEY) + ["metrics_file"]]
        missing = files[[bool(f) and not Path(f).exists() for f in files["metrics_file"]]]
        gone = {tuple(row) for row in missing[list(RUN_KEY)].drop_duplicates().itertuples(index=False)}
        if asked and "round" in df.columns:
            last = df.assign(_r=pd.to_numeric(df["round"], errors="coerce")).sort_values("_r")
            last = last.drop_duplicates(list(RUN_KEY), keep="last")
            last_rounds = {run_key(row): row["metrics_file"] for row in last.to_dict("records")
                           if row["metrics_file"] and run_key(row) not in gone}
            changed = changed_runs(last_rounds, asked)
    if not lacking and not extra and not gone and not changed and not left_out:
        return ""
    parts = []
    if gone:
        parts.append(f"the result files of {len(gone)} runs in it no longer exist (deleted?), e.g. {_show(gone)}: "
                     f"{missing['metrics_file'].iloc[0]}")
    if lacking:
        parts.append(f"{len(lacking)} of the {len(expected)} runs the current config asks for are not in it "
                     f"(e.g. {_show(lacking)})")
    if extra:
        parts.append(f"{len(extra)} runs in it are not in the current config (e.g. {_show(extra)})")
    if changed:
        first = sorted(changed)[0]
        parts.append(f"{len(changed)} runs in it were trained with other settings than the current config asks for "
                     f"(e.g. {_show([first], 1)}: {', '.join(changed[first][:3])})")
    if left_out:
        parts.append(f"{len(left_out)} of the report's files the current config asks for do not exist yet and are "
                     f"left out of this report (e.g. {', '.join(sorted(left_out)[:2])})")
    return (f"OUT OF DATE: these results do not match the current config. {runs_csv}: "
            + "; ".join(parts) + f". The answer below is from the old runs: {rebuild}.")
