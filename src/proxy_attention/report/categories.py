"""The report's categories, defined once, in reading order; their numbers come from the order.

Snakemake's report sorts categories by name, so each carries its number ("1 Answer", ...).
The rules name a category by its bare name through ``category()`` (workflow/rules/common.smk),
which numbers it here: a name that is not listed is an error when the workflow loads, not a
new category with a number of its own. The screen stage's items follow under "8 Screen - <name>".
"""

from __future__ import annotations

CATEGORIES = ("Answer", "Training", "Proxy steps", "Explainability", "Data", "Runtime", "Tables")
SCREEN = f"{len(CATEGORIES) + 1} Screen"


def numbered(name: str, screen: bool = False) -> str:
    """``"Data"`` -> ``"5 Data"`` (``"8 Screen - 5 Data"`` for the screen stage's items)."""
    if name not in CATEGORIES:
        raise ValueError(f"unknown report category {name!r}; the categories are {list(CATEGORIES)} "
                         "(proxy_attention/report/categories.py)")
    label = f"{CATEGORIES.index(name) + 1} {name}"
    return f"{SCREEN} - {label}" if screen else label
