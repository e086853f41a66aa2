"""The options of each batch augmentation: defaults and checks, with no torch import, so
the workflow can check a config when it loads (:func:`validate_options`).

A bad name or option raises :class:`~proxy_attention.errors.ConfigError` naming
``augmentation_options.<name>.<key>`` and what is allowed.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Mapping, Optional

from proxy_attention.errors import ConfigError

NAMES = (
    "none", "mixup", "cutmix", "cutout", "random_erasing", "randaugment", "trivialaugment", "augmix",
    "saliencymix", "attentive_cutmix", "keepaugment", "gridmask",
)

DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "mixup": {"alpha": 1.0, "prob": 1.0},
    "cutmix": {"alpha": 1.0, "prob": 1.0, "minmax": None},
    "cutout": {"size": 0.5, "prob": 1.0},
    "random_erasing": {"probability": 0.25, "mode": "pixel", "max_count": 1, "min_area": 0.02, "max_area": 0.3333},
    "randaugment": {"num_ops": 2, "magnitude": 9},
    "trivialaugment": {"num_magnitude_bins": 31},
    "augmix": {"severity": 3, "mixture_width": 3, "chain_depth": -1, "alpha": 1.0},
    "saliencymix": {"alpha": 1.0, "prob": 1.0},
    "attentive_cutmix": {"grid": 7, "top_k": 6, "prob": 1.0},
    "keepaugment": {"size": 0.5, "prob": 1.0, "tau": 0.1, "trials": 10},
    # the official ImageNet run (d 96..224 px of a 224 px crop, ratio 0.6, mode 1, rotate 360,
    # prob ramped to 0.8): docs/augmentations.md
    "gridmask": {"d_min": 0.43, "d_max": 1.0, "ratio": 0.6, "mode": 1, "rotate": 360, "prob": 0.8},
}

Check = tuple[Callable[[Any], bool], str]


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _real(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False) -> Check:
    def ok(v):
        return _is_real(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    ok.number = float
    left, right = "(" if lo_open else "[", ")" if hi_open or hi == math.inf else "]"
    return ok, f"a number in {left}{lo:g}, {'inf' if hi == math.inf else f'{hi:g}'}{right}"


def _int(lo: int, hi: Optional[int] = None, also: tuple[int, ...] = ()) -> Check:
    def ok(v):
        return isinstance(v, int) and not isinstance(v, bool) and (v in also or (v >= lo and (hi is None or v <= hi)))
    ok.number = int
    rng = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    return ok, rng + "".join(f" or {a}" for a in also)


def _choice(*values: str) -> Check:
    return (lambda v: v in values), "one of " + ", ".join(repr(v) for v in values)


def _minmax(v) -> bool:
    return v is None or (
        isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_real(e) for e in v) and 0 < v[0] < v[1] <= 1
    )


_minmax.items = float  # a list of numbers

# A number as YAML 1.2 writes it; PyYAML (YAML 1.1) reads `alpha: 1e-3` as the string "1e-3"
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _as_number(value, kind):
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        if kind is float:
            return float(value)
        if float(value).is_integer():
            return int(float(value))
    return value


def coerce_options(name: str, options):
    """``options`` with numeric strings of number-typed options turned into numbers (``alpha: 1e-3``
    is the string ``"1e-3"`` to PyYAML, as ``lr: 1e-3`` is); anything else is left for the checks."""
    if name not in _CHECKS or not isinstance(options, Mapping):
        return options
    out = dict(options)
    for key, value in options.items():
        ok = _CHECKS[name].get(key, (None,))[0]
        if getattr(ok, "number", None):
            out[key] = _as_number(value, ok.number)
        elif getattr(ok, "items", None) and isinstance(value, list):
            out[key] = [_as_number(v, ok.items) for v in value]
    return out


_PROB = _real(0, 1)
_ALPHA = _real(0, lo_open=True)
_FRACTION = _real(0, 1, lo_open=True)

_CHECKS: dict[str, dict[str, Check]] = {
    "none": {},
    "mixup": {"alpha": _ALPHA, "prob": _PROB},
    "cutmix": {"alpha": _ALPHA, "prob": _PROB, "minmax": (_minmax, "null or [min, max] with 0 < min < max <= 1")},
    "cutout": {"size": _FRACTION, "prob": _PROB},
    "random_erasing": {
        "probability": _PROB,
        "mode": _choice("pixel", "rand", "const"),
        "max_count": _int(1),
        "min_area": _FRACTION,
        "max_area": _FRACTION,
    },
    "randaugment": {"num_ops": _int(1), "magnitude": _int(0, 30)},
    "trivialaugment": {"num_magnitude_bins": _int(2)},
    "augmix": {"severity": _int(1, 10), "mixture_width": _int(1), "chain_depth": _int(1, also=(-1,)), "alpha": _ALPHA},
    "saliencymix": {"alpha": _ALPHA, "prob": _PROB},
    "attentive_cutmix": {"grid": _int(1), "top_k": _int(1), "prob": _PROB},
    "keepaugment": {"size": _FRACTION, "prob": _PROB, "tau": _real(0, 1, lo_open=True), "trials": _int(1)},
    "gridmask": {
        "d_min": _FRACTION,
        "d_max": _FRACTION,
        "ratio": _real(0, 1, lo_open=True, hi_open=True),
        "mode": _int(0, 1),
        "rotate": _real(0, 360),
        "prob": _PROB,
    },
}


def validate_options(name: str, options: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Check ``name`` and its ``options`` (a partial mapping over the defaults); return the
    full options. Raises :class:`ConfigError` naming the bad key and what is allowed."""
    if name not in NAMES:
        raise ConfigError(
            f"config key 'augmentation': unknown augmentation {name!r}; allowed: {', '.join(NAMES)}"
        )
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ConfigError(f"config key 'augmentation_options.{name}' must be a mapping, got {options!r}")
    checks = _CHECKS[name]
    options = coerce_options(name, options)
    for key, value in options.items():
        where = f"config key 'augmentation_options.{name}.{key}'"
        if key not in checks:
            allowed = ", ".join(checks) or "none (this method has no options)"
            raise ConfigError(f"{where}: unknown option; allowed: {allowed}")
        ok, what = checks[key]
        if not ok(value):
            raise ConfigError(f"{where} = {value!r}: must be {what}")
    full = {**DEFAULT_OPTIONS[name], **options}
    if name == "random_erasing" and not full["min_area"] <= full["max_area"]:
        raise ConfigError(
            f"config key 'augmentation_options.random_erasing.max_area' = {full['max_area']!r}: "
            f"must be >= min_area ({full['min_area']!r})"
        )
    if name == "attentive_cutmix" and full["top_k"] > full["grid"] ** 2:
        raise ConfigError(
            f"config key 'augmentation_options.attentive_cutmix.top_k' = {full['top_k']!r}: "
            f"must be an integer in [1, grid**2 = {full['grid'] ** 2}]"
        )
    if name == "gridmask" and not full["d_min"] <= full["d_max"]:
        raise ConfigError(
            f"config key 'augmentation_options.gridmask.d_max' = {full['d_max']!r}: "
            f"must be >= d_min ({full['d_min']!r})"
        )
    return full


