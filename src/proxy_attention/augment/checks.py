"""Checks of one augmentation option each, for the rows of :mod:`.table` (no torch).

A check is ``(ok, what)``: ``ok(value)`` says whether the value is allowed, ``what`` says what
is (``"a number in [0, 1]"``), for the error that names the key. A number-typed check carries
``ok.number`` (``float`` or ``int``), a list of numbers ``ok.items``: the type a numeric string
becomes (:func:`as_number`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Optional

Check = tuple[Callable[[Any], bool], str]


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def real(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = False) -> Check:
    def ok(v):
        return _is_real(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    ok.number = float
    left, right = "(" if lo_open else "[", ")" if hi_open or hi == math.inf else "]"
    return ok, f"a number in {left}{lo:g}, {'inf' if hi == math.inf else f'{hi:g}'}{right}"


def integer(lo: int, hi: Optional[int] = None, also: tuple[int, ...] = ()) -> Check:
    def ok(v):
        return isinstance(v, int) and not isinstance(v, bool) and (v in also or (v >= lo and (hi is None or v <= hi)))
    ok.number = int
    rng = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
    return ok, rng + "".join(f" or {a}" for a in also)


def choice(*values: str) -> Check:
    return (lambda v: v in values), "one of " + ", ".join(repr(v) for v in values)


def _minmax(v) -> bool:
    return v is None or (
        isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_real(e) for e in v) and 0 < v[0] < v[1] <= 1
    )


_minmax.items = float  # a list of numbers
MINMAX: Check = (_minmax, "null or [min, max] with 0 < min < max <= 1")
PROB = real(0, 1)
ALPHA = real(0, lo_open=True)
FRACTION = real(0, 1, lo_open=True)


def at_least(key: str, lower: str) -> Callable[[dict], Optional[tuple[str, str]]]:
    """A check between two options: ``key`` must be >= ``lower``; ``(key, what)`` when it is not."""
    def joint(options: dict):
        return None if options[lower] <= options[key] else (key, f"must be >= {lower} ({options[lower]!r})")
    return joint


# A number as YAML 1.2 writes it; PyYAML (YAML 1.1) reads `alpha: 1e-3` as the string "1e-3"
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def as_number(value, kind):
    """``value`` as a ``kind`` (float or int) if it is a numeric string, else as it is."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        if kind is float:
            return float(value)
        if float(value).is_integer():
            return int(float(value))
    return value
