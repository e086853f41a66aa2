"""The report's categories are defined once and numbered without repeats (issue 25, item 8).

The report's navigation read "1 Answer, 2 Training, 3 Proxy steps, 4 Data, 4 Explainability,
5 Data, 6 Runtime, 6 Tables, 7 Tables": numbered string literals spread over six rules files.
"""

import re

import pytest
from conftest import REPO

from proxy_attention.report.categories import CATEGORIES, numbered

RULES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def test_every_report_item_names_a_defined_category_by_its_bare_name():
    uses = [(p.name, m.group(1)) for p in RULES for m in re.finditer(r"\bcategory=([^,\n]+)", p.read_text())]
    assert len(uses) > 20  # every report() of the rules, not none found by a broken pattern
    for where, expr in uses:
        m = re.fullmatch(r'category\("([^"]+)"\)', expr.strip())
        assert m, f"{where}: category={expr} is not category(\"<name>\") (a literal skips the numbering)"
        assert m.group(1) in CATEGORIES, f"{where}: {m.group(1)!r} is not a report category"
    assert {name for _, expr in uses for name in re.findall(r'"([^"]+)"', expr)} == set(CATEGORIES)


def test_categories_are_numbered_once_each_in_reading_order():
    labels = [numbered(name) for name in CATEGORIES]
    assert labels[0] == "1 Answer" and labels[-1] == f"{len(CATEGORIES)} Tables"
    numbers = [int(label.split()[0]) for label in labels]
    assert numbers == list(range(1, len(CATEGORIES) + 1))
    names = [label.split(" ", 1)[1] for label in labels]
    assert len(set(names)) == len(names)
    assert sorted(labels) == labels  # Snakemake's report sorts categories by name
    assert numbered("Data", screen=True) == f"{len(CATEGORIES) + 1} Screen - 5 Data"
    with pytest.raises(ValueError, match="unknown report category 'Tabels'"):
        numbered("Tabels")


def test_the_report_doc_lists_the_same_categories():
    text = (REPO / "docs" / "report.md").read_text()
    for label in (numbered(name) for name in CATEGORIES):
        assert f"**{label}**" in text
