"""The options of each batch augmentation checked against its row of :mod:`.table`, with no
torch import, so the workflow can check a config when it loads (:func:`validate_options`,
:func:`check_names`).

A bad name or option raises :class:`~proxy_attention.errors.ConfigError` naming
``augmentation_options.<name>.<key>`` and what is allowed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from proxy_attention.augment import table
from proxy_attention.augment.checks import as_number
from proxy_attention.errors import ConfigError


def coerce_options(name: str, options):
    """``options`` with numeric strings of number-typed options turned into numbers (``alpha: 1e-3``
    is the string ``"1e-3"`` to PyYAML, as ``lr: 1e-3`` is); anything else is left for the checks."""
    if name not in table.names() or not isinstance(options, Mapping):
        return options
    checks = table.method(name).checks
    out = dict(options)
    for key, value in options.items():
        ok = checks.get(key, (None,))[0]
        if getattr(ok, "number", None):
            out[key] = as_number(value, ok.number)
        elif getattr(ok, "items", None) and isinstance(value, list):
            out[key] = [as_number(v, ok.items) for v in value]
    return out


def validate_options(name: str, options: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Check ``name`` and its ``options`` (a partial mapping over the defaults); return the
    full options. Raises :class:`ConfigError` naming the bad key and what is allowed."""
    row = table.method(name)
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ConfigError(f"config key 'augmentation_options.{name}' must be a mapping, got {options!r}")
    checks = row.checks
    options = coerce_options(name, options)
    for key, value in options.items():
        where = f"config key 'augmentation_options.{name}.{key}'"
        if key not in checks:
            allowed = ", ".join(checks) or "none (this method has no options)"
            raise ConfigError(f"{where}: unknown option; allowed: {allowed}")
        ok, what = checks[key]
        if not ok(value):
            raise ConfigError(f"{where} = {value!r}: must be {what}")
    full = {**row.defaults, **options}
    for joint in row.joint:
        broken = joint(full)
        if broken:
            key, what = broken
            raise ConfigError(f"config key 'augmentation_options.{name}.{key}' = {full[key]!r}: {what}")
    return full


def check_names(config: dict) -> None:
    """The config's ``augmentations`` and the keys of its ``augmentation_options`` are rows of the table
    (the schema leaves the names open, so that a method is declared in the table alone)."""
    known = table.names()
    arms = config.get("augmentations")
    for arm in arms if isinstance(arms, list) else []:
        if arm not in known:
            raise ConfigError(f"config key 'augmentations': unknown augmentation {arm!r}; allowed: {', '.join(known)} "
                              "(proxy_attention/augment/table.py, docs/augmentations.md)")
    options = config.get("augmentation_options")
    for name in options if isinstance(options, dict) else {}:
        if name == "none":
            raise ConfigError("config key 'augmentation_options.none': 'none' (crop and flip only) has no options")
        if name not in known:
            raise ConfigError(f"config key 'augmentation_options': unknown augmentation {name!r}; allowed: "
                              f"{', '.join(known[1:])} (proxy_attention/augment/table.py, docs/augmentations.md)")
