"""Checks of the workflow config beyond its JSON schema (the proxy grid: proxy_attention.grid).

The schema (workflow/schemas/config.schema.yaml) checks types and ranges; this
module checks what a schema cannot: schedules that alternate epochs and proxy
steps, timm model names, folds that exist. Errors name the key and the allowed
values, and stop the workflow before any job runs.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from proxy_attention.errors import ConfigError, ScheduleError
from proxy_attention.train.schedule import parse_schedule

# A number as YAML 1.2 writes it. PyYAML reads YAML 1.1, where a float needs a dot and a signed
# exponent: `1e-3` and `1.0e5` are strings, and `lr: 1e-3` failed the schema with no hint.
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _number_types(schema: dict) -> set[str]:
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    for alt in schema.get("oneOf", []) + schema.get("anyOf", []):
        types |= _number_types(alt)
    return types & {"number", "integer"}


def _resolve(schema: dict, root: dict | None) -> dict:
    """A local ``$ref`` (``#/$defs/stage``, ``#/properties/training``) replaced by what it points at."""
    while isinstance(schema, dict) and "$ref" in schema and root is not None:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _coerce(value, schema: dict, root: dict | None = None):
    schema = _resolve(schema, root)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # numbers in one form: `lr: 1` is `lr: 1.0`, `folds: 3.0` is `folds: 3` (equal settings, equal params)
        types = _number_types(schema)
        if types == {"number"} and isinstance(value, int):
            return float(value)
        if types == {"integer"} and isinstance(value, float) and value.is_integer():
            return int(value)
        return value
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
                value[k] = _coerce(v, sub, root)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [_coerce(v, schema["items"], root) for v in value]
    return value


def coerce_numbers(config: dict, schema: dict) -> dict:
    """Turn numeric strings of number-typed keys into numbers, in place, before validation, and
    give every number one form: an int where the schema says integer, a float where it says number.

    PyYAML (YAML 1.1) reads ``lr: 1e-3`` as the string ``"1e-3"``; the schema then refused it
    with "'1e-3' is not of type 'number'". Only keys the schema types as numbers are touched,
    also behind a ``$ref`` (the keys of ``stages.screen`` and ``stages.confirm``); the options of
    ``augmentation_options``, which the schema leaves open, follow their own checks
    (:func:`proxy_attention.augment.options.coerce_options`).
    """
    config = _coerce(config, schema, schema)
    options = config.get("augmentation_options") if isinstance(config, dict) else None
    if isinstance(options, dict):
        from proxy_attention.augment.options import coerce_options

        for name, opts in options.items():
            options[name] = coerce_options(name, opts)
    return config


def check_configfiles(paths, results: str = "results") -> None:
    """A "config file" under results/ is a target that Snakemake's ``--configfile`` took for a config file.

    ``--configfile`` takes every path after it: ``snakemake --configfile c.yaml results/.../summary.csv``
    reads the target as a second config file (a missing one ends in Snakemake's bare FileNotFoundError
    before this workflow loads; an existing JSON one, such as a ``metrics.json``, would be merged into the config).
    """
    root = os.path.realpath(results)

    def under(path: str) -> bool:
        real = os.path.realpath(path)
        return real == root or real.startswith(root + os.sep) or results in Path(path).parts

    def shown(path: str) -> str:  # Snakemake hands the paths over absolute; as typed, where it can
        rel = os.path.relpath(path)
        return path if rel.startswith("..") else rel

    paths = [shown(p) for p in paths or []]
    wrong = [p for p in paths if under(p)]
    if wrong:
        own = next((p for p in paths if not under(p)), "config.yaml")
        raise ConfigError(
            f"{wrong[0]!r} was given as a config file, but it is a path under {results}/, a target: Snakemake's "
            "--configfile takes every path after it. Put the target before --configfile "
            f"(snakemake --cores 1 {wrong[0]} --configfile {own}) or end the config files with -- "
            f"(snakemake --cores 1 --configfile {own} -- {wrong[0]})"
        )


def check_before_schema(config: dict) -> None:
    """What the schema refuses in words that do not say what to do; checked before it, with a message that does."""
    arms = config.get("augmentations")
    if isinstance(arms, list) and arms and "none" not in arms:
        raise ConfigError(
            f"config key 'augmentations' = {arms} does not list 'none': every augmentation arm is compared with "
            "the plain pipeline ('none', crop and flip only) trained on the same folds and seeds, so 'none' must "
            f"be listed, e.g. augmentations: [{', '.join(['none'] + arms)}] (docs/augmentations.md)"
        )


PAIR_MIXERS = ("mixup", "cutmix")  # timm's Mixup in batch mode: image i with image n-1-i, an even batch


def warn_odd_batch(config: dict) -> None:
    """Mixup and CutMix leave the last image of an odd batch unmixed (augment/mixing.py): say so when the
    workflow loads, with the share of images that stays unmixed (docs/augmentations.md)."""
    arms = [a for a in config.get("augmentations") or [] if a in PAIR_MIXERS]
    training = config.get("training") or {}
    size = training.get("batch_size")
    if not arms or not isinstance(size, int) or isinstance(size, bool) or size % 2 == 0:
        return
    logging.getLogger("proxy_attention.config").warning(
        "config key 'training.batch_size' = %d is odd: %s pair image i with image n-1-i and leave the last image "
        "of an odd batch unmixed, 1 of every %d images (%.0f%%) here; use an even batch_size to mix every image "
        "(docs/augmentations.md, 'Odd batches')", size, " and ".join(arms), size, 100 / size)


def canonical(value):
    """``value`` in one form: mappings with their keys sorted (recursively), NumPy scalars as
    Python numbers; lists keep their order (it means something: models, seeds, arms).

    Snakemake compares a job's params by their ``repr``, in which a dict's key order shows: every
    params value the workflow builds from the config goes through this, so that the same settings
    written in another order, or with a default written out, plan no job (issue 29).
    """
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, tuple):
        return tuple(canonical(v) for v in value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)) and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def canonicalize_config(config: dict) -> dict:
    """Sort the keys of ``config`` and of every mapping in it, in place (after the schema filled its
    defaults, which it appends after the keys that were written)."""
    items = canonical(dict(config))
    config.clear()
    config.update(items)
    return config


def check_config(config: dict, check_models: bool = True) -> None:
    from proxy_attention.augment.options import check_names

    check_names(config)  # the augmentation arms: rows of augment/table.py (the schema leaves the names open)
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
        from proxy_attention.modelcheck import check_models as _check_models

        _check_models(config)
    for key in ("pretrained", "model_kwargs"):
        unknown = sorted(set(config.get(key) or {}) - set(config["models"]))
        if unknown:
            raise ConfigError(
                f"config key '{key}' names models that are not in 'models': {unknown}; models are {config['models']}"
            )
    warn_odd_batch(config)
    options = config.get("augmentation_options") or {}
    if options:
        from proxy_attention.augment.options import validate_options

        for name, opts in options.items():
            validate_options(name, opts)  # a ConfigError naming augmentation_options.<name>.<key>
    for name, opts in config["datasets"].items():
        from proxy_attention.data.datasets import dataset_type
        from proxy_attention.errors import DataError

        try:
            kind = dataset_type(name, opts)
        except DataError as e:
            raise ConfigError(f"config key 'datasets.{name}': {e}") from None
        if kind == "folder":
            _check_folder(name, (opts or {}).get("path"))


def _check_folder(name: str, path) -> None:
    """A folder dataset's ``path`` must exist when the workflow loads, not when its first job runs."""
    from pathlib import Path

    if not path:
        raise ConfigError(f"config key 'datasets.{name}.path': a folder dataset needs the path of its class folders")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ConfigError(f"config key 'datasets.{name}.path': the folder {path} {what} "
                          f"(relative paths start in the working directory {Path.cwd()})")
