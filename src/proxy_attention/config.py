"""Checks of the workflow config beyond its JSON schema, and the proxy grid.

The schema (workflow/schemas/config.schema.yaml) checks types and ranges; this
module checks what a schema cannot: schedules that alternate epochs and proxy
steps, timm model names, folds that exist. Errors name the key and the allowed
values, and stop the workflow before any job runs.
"""

from __future__ import annotations

import itertools
import re

import pandas as pd

from proxy_attention.errors import ConfigError, ScheduleError
from proxy_attention.train.schedule import parse_schedule

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



# A number as YAML 1.2 writes it. PyYAML reads YAML 1.1, where a float needs a dot and a signed
# exponent: `1e-3` and `1.0e5` are strings, and `lr: 1e-3` failed the schema with no hint.
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _number_types(schema: dict) -> set[str]:
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    for alt in schema.get("oneOf", []) + schema.get("anyOf", []):
        types |= _number_types(alt)
    return types & {"number", "integer"}


def _coerce(value, schema: dict):
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        types = _number_types(schema)
        if "number" in types:
            return float(value)
        if "integer" in types and float(value).is_integer():
            return int(float(value))
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                value[k] = _coerce(v, sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [_coerce(v, schema["items"]) for v in value]
    return value


def coerce_numbers(config: dict, schema: dict) -> dict:
    """Turn numeric strings of number-typed keys into numbers, in place, before validation.

    PyYAML (YAML 1.1) reads ``lr: 1e-3`` as the string ``"1e-3"``; the schema then refused it
    with "'1e-3' is not of type 'number'". Only keys the schema types as numbers are touched.
    """
    return _coerce(config, schema)


def check_config(config: dict, check_models: bool = True) -> None:
    for i, spec in enumerate(config["schedules"]):
        try:
            parse_schedule(spec)
        except ScheduleError as e:
            raise ConfigError(f"config key 'schedules[{i}]': {e}") from None
    tags = [parse_schedule(s).tag for s in config["schedules"]]
    if len(set(tags)) != len(tags):
        raise ConfigError(f"config key 'schedules' lists the same schedule twice: {tags}")
    if config["run_folds"] != "all":
        bad = [f for f in config["run_folds"] if f >= config["folds"]]
        if bad:
            raise ConfigError(
                f"config key 'run_folds': folds {bad} do not exist; with folds: {config['folds']} "
                f"the allowed values are 0..{config['folds'] - 1}"
            )
    if check_models:
        from proxy_attention.errors import ModelError
        from proxy_attention.models import check_model_name

        for name in config["models"]:
            try:
                check_model_name(name)
            except ModelError as e:
                raise ConfigError(f"config key {e}") from None
    for key in ("pretrained", "model_kwargs"):
        unknown = sorted(set(config.get(key) or {}) - set(config["models"]))
        if unknown:
            raise ConfigError(
                f"config key '{key}' names models that are not in 'models': {unknown}; models are {config['models']}"
            )
    for name, opts in config["datasets"].items():
        from proxy_attention.data.datasets import dataset_type
        from proxy_attention.errors import DataError

        try:
            dataset_type(name, opts)
        except DataError as e:
            raise ConfigError(f"config key 'datasets.{name}': {e}") from None


def proxy_grid(proxy: dict) -> pd.DataFrame:
    """One row per proxy configuration: the product of the grid's lists, in PROXY_GRID_KEYS order."""
    values = [proxy[k] for k in PROXY_GRID_KEYS]
    rows = list(itertools.product(*values))
    df = pd.DataFrame(rows, columns=PROXY_GRID_KEYS)
    for key in ("proxy_threshold", "proxy_image_weight", "subset_wrong"):
        df[key] = df[key].astype(float)
    df["clear_every_step"] = df["clear_every_step"].astype(bool)
    return df


def proxy_config_name(params: dict) -> str:
    """The path of a proxy configuration, as Snakemake's Paramspace writes it: ``cam_method~gradcam/...``."""
    return "/".join(f"{k}~{params[k]}" for k in PROXY_GRID_KEYS)


def folds_to_run(config: dict) -> list[int]:
    return list(range(config["folds"])) if config["run_folds"] == "all" else sorted(config["run_folds"])


ABBREV = {"proxy_threshold": "t", "proxy_image_weight": "w", "subset_wrong": "sub", "clear_every_step": "clear",
          "subset_order": "order", "replacement": "repl", "cam_target": "target"}


def _parts(config: str) -> dict:
    return dict(p.split("~", 1) for p in str(config).split("/"))


def short_config(config: str, keys=None) -> str:
    """``cam_method~gradcam/proxy_threshold~0.5/...`` -> ``gradcam t=0.5 w=0.5 ...`` for legends.

    ``keys``: the grid keys to show besides the CAM method (default: all). Non-proxy
    configurations (``baseline``) are returned as they are.
    """
    if "~" not in str(config):
        return str(config)
    parts = _parts(config)
    label = [parts.pop("cam_method", "")]
    label += [f"{ABBREV.get(k, k)}={v}" for k, v in parts.items() if keys is None or k in keys]
    return " ".join(label)


def config_labels(configs, universe=None) -> dict[str, str]:
    """Short labels of several configurations that show only the grid keys that differ between them
    (or between the configurations of ``universe``, so that a subset is labelled like the whole)."""
    configs = list(dict.fromkeys(str(c) for c in configs))
    proxy = [_parts(c) for c in (configs if universe is None else {str(c) for c in universe}) if "~" in c]
    varying = {k for k in PROXY_GRID_KEYS if len({p.get(k) for p in proxy}) > 1}
    return {c: short_config(c, varying) for c in configs}


def run_labels(methods, configs, universe=None) -> list[str]:
    """Labels of runs: ``baseline``, the short proxy configuration, or ``<method>: <configuration>``
    for other methods trained per configuration (e.g. a compute-matched baseline). Labels name the
    grid keys that vary among ``universe`` (default: among ``configs``)."""
    methods, configs = [str(m) for m in methods], [str(c) for c in configs]
    names = config_labels(configs, universe)
    return [names[c] if m in ("proxy", c) else f"{m}: {names[c]}" for m, c in zip(methods, configs)]


EXPLAIN_KEYS = ("n_images", "cam_method", "cam_target", "percentiles", "batch_size")


def explain_settings(config: dict, model: str) -> dict:
    """The settings of the explanation job of one model's final checkpoints."""
    return {
        **{k: config["explain"][k] for k in EXPLAIN_KEYS},
        "cam_target_layer": config["cam_target_layer"].get(model),
    }
