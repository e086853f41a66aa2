"""Whether the runs a report shows are the runs the current config asks for.

``snakemake --report`` builds the report from the files that exist: after a config change it
showed the old runs.csv's numbers as the answer while ``snakemake -n`` listed jobs to run. The
Snakefile, when it makes a report, compares runs.csv's runs with the ones the config expects and
puts the difference on the report's first screen (workflow/report/workflow.rst).
"""

from __future__ import annotations

from pathlib import Path

# What identifies a run in runs.csv (one row per round of it).
RUN_KEY = ("dataset", "model", "schedule", "protocol", "augmentation", "seed", "fold", "method", "config")


def run_key(info: dict) -> tuple[str, ...]:
    return tuple(str(info[k]) for k in RUN_KEY)


def _show(keys, n: int = 3) -> str:
    listed = ["/".join(k[:-1]) + (f" {k[-1]}" if k[-1] != "none" else "") for k in sorted(keys)[:n]]
    return "; ".join(listed) + (" ..." if len(keys) > n else "")


def stale_runs_message(runs_csv: str | Path, expected: set[tuple[str, ...]], command: str = "snakemake --cores N") -> str:
    """A warning when runs.csv is missing, unreadable or holds other runs than ``expected``; else ""."""
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
    gone = set()  # runs whose result files were deleted after runs.csv was written (rm -rf .../fold1)
    if "metrics_file" in df.columns:
        files = df[list(RUN_KEY) + ["metrics_file"]]
        missing = files[[bool(f) and not Path(f).exists() for f in files["metrics_file"]]]
        gone = {tuple(row) for row in missing[list(RUN_KEY)].drop_duplicates().itertuples(index=False)}
    if not lacking and not extra and not gone:
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
    return (f"OUT OF DATE: these results do not match the current config. {runs_csv}: "
            + "; ".join(parts) + f". The answer below is from the old runs: {rebuild}.")
