"""The config's model check when the workflow loads, remembered once passed.

``config.check_config`` checks every model's name against timm and builds it on the meta device
at ``img_size`` (``config.check_model_at_size``). That needs timm and torch, which cost every
Snakemake start (a dry run included) about 2.5 s: 1.9 s of imports and their teardown at exit.
A model that passed with the same inputs -- its name, ``img_size``, ``model_kwargs``,
``cam_target_layer``, whether CAMs are needed, the installed timm and torch, and this check's
code -- passes again without them. A failure is never remembered: it raises every time.

The record is ``model_checks.json`` in ``$PROXY_ATTENTION_CACHE`` (default
``$XDG_CACHE_HOME/proxy-attention``, else ``~/.cache/proxy-attention``); it keeps each
passed check's warning, which is logged again on every hit. An unreadable record counts as
empty, and one that cannot be written is skipped: the check then runs every time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib import metadata
from pathlib import Path

from proxy_attention.errors import ConfigError

log = logging.getLogger("proxy_attention.config")
RECORD = "model_checks.json"
MAX_ENTRIES = 512  # the newest are kept


def cache_dir() -> Path:
    if os.environ.get("PROXY_ATTENTION_CACHE"):
        return Path(os.environ["PROXY_ATTENTION_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "proxy-attention"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def _code_hash() -> str:
    """The check's own code: a changed check runs again."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("modelcheck.py", "config.py", "models.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def check_key(config: dict, name: str, code: str | None = None) -> str:
    """Everything the check of model ``name`` depends on, hashed."""
    from proxy_attention.train.schedule import parse_schedule

    needs_cams = bool(config.get("explain", {}).get("enabled", False)) or any(
        parse_schedule(spec).n_proxy_steps for spec in config["schedules"])
    inputs = {
        "model": name,
        "img_size": int(config["img_size"]),
        "model_kwargs": (config.get("model_kwargs") or {}).get(name) or {},
        "cam_target_layer": (config.get("cam_target_layer") or {}).get(name),
        "needs_cams": needs_cams,
        "timm": _version("timm"),
        "torch": _version("torch"),
        "code": code or _code_hash(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def _read(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write(path: Path, record: dict) -> None:
    from proxy_attention import atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, dict(list(record.items())[-MAX_ENTRIES:]))
    except OSError as e:  # a read-only home: the check just runs every time
        log.debug("cannot remember the model check in %s: %s", path, e)


def check_models(config: dict) -> None:
    """Check every model of ``config`` (name, build at ``img_size``); skip those that passed before."""
    path = cache_dir() / RECORD
    record = _read(path)
    code = _code_hash()
    todo = []
    for name in config["models"]:
        hit = record.get(check_key(config, name, code))
        if isinstance(hit, dict):
            if hit.get("warning"):
                log.warning("%s", hit["warning"])
        else:
            todo.append(name)
    if not todo:
        return
    from proxy_attention.config import check_model_at_size
    from proxy_attention.errors import ModelError
    from proxy_attention.models import check_model_name

    for name in todo:
        try:
            check_model_name(name)
        except ModelError as e:
            raise ConfigError(f"config key {e}") from None
    for name in todo:
        warning = check_model_at_size(config, name)
        if warning:
            log.warning("%s", warning)
        record.pop(check_key(config, name, code), None)  # re-inserted last: the newest are kept
        record[check_key(config, name, code)] = {"model": name, "warning": warning}
    _write(path, record)
