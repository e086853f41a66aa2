"""Snakemake's records of finished jobs, brought once to the canonical params of issue 29.

Snakemake stores a finished job's params as the ``repr`` of each value (``.snakemake/metadata/``,
one JSON file per output) and reruns the job when the set of reprs changes. Before params were
canonical (:func:`proxy_attention.config.canonical`), a mapping's repr kept the order in which the
config wrote its keys; now every params mapping has its keys sorted. Without this step every job
finished by an earlier version would rerun once, for nothing but key order.

:func:`canonicalize_params_records` rewrites each recorded param that is a Python literal in the
same canonical form (keys sorted recursively), once per ``.snakemake`` folder (a stamp file marks
it done), atomically per record. What it cannot read (a repr that is not a literal) is left alone:
that job reruns, as it would have.
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from pathlib import Path

from proxy_attention.config import canonical

STAMP = "proxy-attention-canonical-params-v1"


def canonical_repr(text: str) -> str:
    """``text`` (a recorded param, the repr of a value) with every mapping's keys sorted; unchanged
    if it is not a Python literal."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return repr(canonical(value))


def _rewrite(path: Path) -> bool:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False  # a record being written, or damaged: Snakemake ignores it too
    params = record.get("params") if isinstance(record, dict) else None
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        return False
    new = sorted(canonical_repr(p) for p in params)
    if new == params:
        return False
    record["params"] = new
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".canonical-")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def canonicalize_params_records(snakemake_dir: str | Path = ".snakemake") -> int:
    """Rewrite the params of every job record under ``snakemake_dir/metadata`` in canonical form,
    once (a stamp file in ``snakemake_dir``); returns the number of records rewritten."""
    root = Path(snakemake_dir)
    metadata = root / "metadata"
    stamp = root / STAMP
    if stamp.exists() or not metadata.is_dir():
        return 0
    n = 0
    for dirpath, _, files in os.walk(metadata):
        for name in files:
            if not name.startswith(".canonical-"):
                n += _rewrite(Path(dirpath) / name)
    stamp.write_text(f"{n} record(s) rewritten with canonical params\n")
    return n
