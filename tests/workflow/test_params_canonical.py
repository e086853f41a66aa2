"""Issue 29: a config edit that changes nothing reruns nothing.

Snakemake compares a job's params by their repr, in which a mapping's key order shows. Every params
value the workflow builds from the config is canonical (keys sorted, schema defaults filled the same
way, numbers in one form), and records written before that are rewritten once in the same form.
"""

import copy
import json
import re

import pytest
import yaml
from conftest import REPO, TINY, write_colour_classes
from conftest import run_snakemake as snakemake
from snakemake.utils import validate

from proxy_attention.config import canonical, canonicalize_config, coerce_numbers
from proxy_attention.params_records import STAMP, canonical_repr, canonicalize_params_records

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())


def permuted(value):
    """``value`` with every mapping's keys in reverse order (recursively)."""
    if isinstance(value, dict):
        return {k: permuted(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [permuted(v) for v in value]
    return value


def with_defaults(cfg: dict) -> dict:
    """``cfg`` with every default of the schema written out, as a user or a script might."""
    full = copy.deepcopy(cfg)
    coerce_numbers(full, SCHEMA)
    validate(full, schema=str(SCHEMA_PATH))
    return full


def planned(proc) -> dict[str, int]:
    """{rule: count} of a dry run's job table (empty when nothing is to be done)."""
    out = proc.stdout + proc.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1] if "Job stats:" in out else ""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


# --- unit ---


def test_canonical_sorts_mappings_recursively_and_keeps_list_order():
    value = {"b": {"y": 1, "x": [{"q": 1, "p": 2}]}, "a": [3, 1, 2]}
    out = canonical(value)
    assert list(out) == ["a", "b"] and list(out["b"]) == ["x", "y"] and list(out["b"]["x"][0]) == ["p", "q"]
    assert out["a"] == [3, 1, 2]  # order of a list means something (models, seeds, arms)
    assert repr(canonical({"b": 1, "a": 2})) == repr(canonical({"a": 2, "b": 1}))


def test_numbers_take_one_form_by_their_schema_type():
    cfg = {"training": {"lr": 1, "weight_decay": "1e-5", "batch_size": 64.0}, "folds": 3.0, "img_size": 32}
    coerce_numbers(cfg, SCHEMA)
    assert cfg["training"]["lr"] == 1.0 and isinstance(cfg["training"]["lr"], float)
    assert cfg["training"]["weight_decay"] == 1e-5 and isinstance(cfg["training"]["weight_decay"], float)
    assert isinstance(cfg["folds"], int) and cfg["folds"] == 3
    assert isinstance(cfg["training"]["batch_size"], int)


def test_written_defaults_and_key_order_give_the_same_config():
    cfg = yaml.safe_load(TINY.read_text())
    a = with_defaults(cfg)
    b = with_defaults(permuted(with_defaults(cfg)))
    assert repr(canonicalize_config(a)) == repr(canonicalize_config(b))
    assert repr(a) != repr(with_defaults(permuted(cfg)))  # without canonical form they differ


def test_a_recorded_param_is_rewritten_in_canonical_form():
    assert canonical_repr(repr({"b": 1, "a": {"d": 2, "c": 3}})) == "{'a': {'c': 3, 'd': 2}, 'b': 1}"
    assert canonical_repr("<object at 0x1>") == "<object at 0x1>"  # not a literal: left alone
    assert canonical_repr("0.5") == "0.5"


def test_records_are_rewritten_once_atomically(tmp_path):
    meta = tmp_path / ".snakemake" / "metadata"
    meta.mkdir(parents=True)
    rec = {"rule": "r", "params": [repr({"b": 1, "a": 2}), "3"], "input": ["x"]}
    (meta / "rec1").write_text(json.dumps(rec))
    (meta / "broken").write_text("{not json")
    assert canonicalize_params_records(tmp_path / ".snakemake") == 1
    after = json.loads((meta / "rec1").read_text())
    assert after["params"] == sorted(["{'a': 2, 'b': 1}", "3"]) and after["input"] == ["x"]
    assert (meta / "broken").read_text() == "{not json"
    assert (tmp_path / ".snakemake" / STAMP).exists()
    (meta / "rec1").write_text(json.dumps(rec))  # once: a stamped folder is not scanned again
    assert canonicalize_params_records(tmp_path / ".snakemake") == 0
    assert not list(meta.glob(".canonical-*"))


# --- end to end ---

@pytest.mark.slow
def test_permuted_keys_and_written_defaults_plan_nothing(tiny_run, tmp_path):
    cfg = with_defaults(yaml.safe_load(TINY.read_text()))
    cfg["training"]["lr"] = "1e-3"  # the same number, written as YAML 1.1 reads a string
    cfg["training"]["label_smoothing"] = 0  # an int where the schema says number
    same = tmp_path / "same.yaml"
    same.write_text(yaml.safe_dump(permuted(cfg), sort_keys=False))
    proc = snakemake(tiny_run, "-n", config=same)
    assert planned(proc) == {}, (proc.stdout + proc.stderr)[-3000:]


@pytest.mark.slow
def test_a_real_change_reruns_exactly_what_depends_on_it(tiny_run, tmp_path):
    cfg = permuted(yaml.safe_load(TINY.read_text()))
    cfg["proxy"]["batch_size"] = 17  # the proxy step's batch: only the proxy rounds and what reads them
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned(snakemake(tiny_run, "-n", config=changed))
    assert jobs.get("train_proxy") == 2, jobs  # 2 folds
    # the shared matched round 1 reads round 0 only: the proxy step's batch size does not rerun it
    assert not {"train_round0", "train_baseline", "train_matched_first", "prepare_dataset", "index_dataset", "split_dataset",
                "cache_images"} & set(jobs), jobs


@pytest.mark.slow
def test_records_of_an_earlier_version_do_not_rerun(tiny_run):
    """Records whose params kept the config's key order (before issue 29) are rewritten once; without
    that rewrite the same dry run plans the grid again (the check that this test can fail)."""
    meta = tiny_run / ".snakemake" / "metadata"
    originals = {p: p.read_text() for p in meta.rglob("*") if p.is_file()}
    try:
        for path, text in originals.items():
            rec = json.loads(text)
            rec["params"] = sorted(repr(permuted(eval(p))) if p.startswith("{") else p for p in rec["params"])  # noqa: S307
            path.write_text(json.dumps(rec))
        (tiny_run / ".snakemake" / STAMP).write_text("stamped: no rewrite")
        assert planned(snakemake(tiny_run, "-n")).get("train_proxy"), "old records should look changed"
        (tiny_run / ".snakemake" / STAMP).unlink()
        proc = snakemake(tiny_run, "-n")
        assert planned(proc) == {}, (proc.stdout + proc.stderr)[-3000:]
    finally:
        for path, text in originals.items():
            path.write_text(text)


@pytest.mark.slow
def test_a_folder_dataset_with_its_keys_swapped_plans_nothing(tmp_path):
    write_colour_classes(tmp_path / "mine" / "train", per_class=4, noise=60, strength=0.7)
    work = tmp_path / "work"
    work.mkdir()
    base = yaml.safe_load(TINY.read_text())
    base.update(folds=2, datasets={"mine": {"type": "folder", "path": str(tmp_path / "mine")}}, img_size=8)
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(base, sort_keys=False))
    swapped = permuted(base)
    swapped["datasets"] = {"mine": {"path": str(tmp_path / "mine"), "type": "folder"}}
    second.write_text(yaml.safe_dump(swapped, sort_keys=False))
    target = "results/data/mine/split.csv"
    snakemake(work, target, config=first)
    proc = snakemake(work, "-n", target, config=second)
    assert planned(proc) == {}, (proc.stdout + proc.stderr)[-3000:]
    swapped["folds"] = 3  # a real change: the split reruns, not the dataset's preparation or index
    second.write_text(yaml.safe_dump(swapped, sort_keys=False))
    jobs = planned(snakemake(work, "-n", target, config=second))
    assert jobs == {"split_dataset": 1}, jobs
