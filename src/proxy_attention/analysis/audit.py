"""Leakage audit: did a test or validation image, or a proxy made from one, ever enter a training set?

Reads the split and every round's record of what it trained and validated on
(``train_set.npz``, written by the training rules) and every proxy manifest.

- Any protocol: a test image in any training or validation set is a leak; so is an
  image whose content matches a test image (the same pixels in another file, or a
  re-encoded/resized near-duplicate, found by perceptual hash and checked pixel by pixel:
  ``test_lookalikes``, from the index's ``pixel_sha1`` and ``near_copy_group`` columns,
  see proxy_attention.data.duplicates).
- ``honest``: a training set (originals or proxy sources) may only hold the fold's
  training part, validation must be exactly the fold's validation part, and a proxy
  manifest may only name images of the fold's training part.
- ``thesis`` (the reproduced flawed protocol): the audit counts, per round, validation
  images that an earlier or the same round trained on — the leak that protocol has by
  construction. These are reported, not failed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from proxy_attention.data.duplicates import lookalikes_of_test
from proxy_attention.data.split import fold_rows

RUN_PATH = re.compile(
    r"(?:^|/)runs/(?P<dataset>[^/]+)/(?P<model>[^/]+)/(?P<schedule>[^/]+)/(?P<protocol>honest|thesis)/"
    r"(?:aug~(?P<augmentation>[a-z_]+)/)?seed(?P<seed>\d+)/fold(?P<fold>\d+)/(?P<rest>.*)"
)


class LeakageError(RuntimeError):
    pass


def _parse(path: str) -> dict:
    m = RUN_PATH.search(str(path))
    if not m:
        raise ValueError(f"{path} is not under [results/screen/]runs/<dataset>/<model>/<schedule>/<protocol>[/aug~<name>]"
                         "/seed<S>/fold<F>/")
    info = m.groupdict()
    info["fold"] = int(info["fold"])
    info["augmentation"] = info["augmentation"] or "none"
    info["fold_dir"] = str(path)[: m.start("rest")].rstrip("/")
    chain, leaf = str(Path(str(path)).parent.parent), Path(str(path)).parent.name
    info["round"] = int(leaf.removeprefix("round").removeprefix("proxy"))
    info["chain"] = chain
    return info


def audit(splits: dict[str, pd.DataFrame], train_sets: list[str], manifests: list[str]) -> pd.DataFrame:
    """One row per checked file; raises LeakageError naming the files when the honest protocol leaked."""
    rows, errors = [], []
    records = {str(p): {k: v for k, v in np.load(p).items()} for p in train_sets}
    chains: dict[str, dict[int, set]] = {}
    lookalikes = {name: lookalikes_of_test(split, (split["split"] == "test").to_numpy()) for name, split in splits.items()}

    def content_leaks(dataset: str, rows: set, path: str, what: str) -> int:
        found = sorted(set(lookalikes[dataset]) & rows)
        if found:
            split = splits[dataset]
            shown = [f"row {r} {split['path'].iat[r]} ({lookalikes[dataset][r][1]} of test "
                     f"{split['path'].iat[lookalikes[dataset][r][0]]})" for r in found[:3]]
            errors.append(f"{path}: {len(found)} {what} look like TEST images, e.g. {'; '.join(shown)}")
        return len(found)

    for path, rec in records.items():
        info = _parse(path)
        chain = info["fold_dir"] if info["round"] == 0 else info["chain"]
        chains.setdefault(chain, {})[info["round"]] = set(rec["train_rows"]) | set(rec["train_proxy_sources"])

    for path, rec in sorted(records.items()):
        info = _parse(path)
        split = splits[info["dataset"]]
        test = set(np.flatnonzero((split["split"] == "test").to_numpy()))
        train_all = set(rec["train_rows"]) | set(rec["train_proxy_sources"])
        val_all = set(rec["val_rows"]) | set(rec["val_proxy_sources"])
        test_leaks = sorted((train_all | val_all) & test)
        row = dict(file=path, kind="train_set", dataset=info["dataset"], protocol=info["protocol"], fold=info["fold"],
                   round=info["round"], n_train=len(rec["train_rows"]) + len(rec["train_proxy_sources"]),
                   n_val=len(rec["val_rows"]) + len(rec["val_proxy_sources"]), n_test=len(rec["test_rows"]),
                   test_leaks=len(test_leaks), val_leaks=0, val_seen_in_training=0)
        row["test_lookalikes"] = content_leaks(info["dataset"], train_all | val_all, path,
                                               "training or validation images")
        if info["protocol"] == "honest":
            parts = fold_rows(split, info["fold"])
            val_leaks = sorted(train_all - set(parts["train"]))
            row["val_leaks"] = len(val_leaks)
            if set(rec["val_rows"]) != set(parts["val"]):
                errors.append(f"{path}: validation set is not fold {info['fold']}'s validation part")
            if val_leaks:
                errors.append(f"{path}: {len(val_leaks)} validation/other images in training, e.g. rows {val_leaks[:5]}")
        else:
            chain = chains.get(info["chain"], {})
            seen = set(chains.get(info["fold_dir"], {}).get(0, set()))
            for r in range(1, info["round"] + 1):
                seen |= chain.get(r, set())
            row["val_seen_in_training"] = len(val_all & seen)
        if test_leaks:
            errors.append(f"{path}: {len(test_leaks)} TEST images in training or validation, e.g. rows {test_leaks[:5]}")
        leak = test_leaks or row["val_leaks"] or row["test_lookalikes"]
        row["status"] = "LEAK" if leak else ("expected leak (flawed thesis protocol)" if row["val_seen_in_training"] else "ok")
        rows.append(row)

    for path in sorted(map(str, manifests)):
        info = _parse(path)
        split = splits[info["dataset"]]
        sources = set(pd.read_csv(path)["index_row"].astype(int))
        test = set(np.flatnonzero((split["split"] == "test").to_numpy()))
        test_leaks = sorted(sources & test)
        row = dict(file=path, kind="proxy_manifest", dataset=info["dataset"], protocol=info["protocol"],
                   fold=info["fold"], round=info["round"], n_train=len(sources), n_val=0, n_test=0,
                   test_leaks=len(test_leaks), val_leaks=0, val_seen_in_training=0)
        row["test_lookalikes"] = content_leaks(info["dataset"], sources, path, "proxy sources")
        if info["protocol"] == "honest":
            outside = sorted(sources - set(fold_rows(split, info["fold"])["train"]))
            row["val_leaks"] = len(outside)
            if outside:
                errors.append(f"{path}: {len(outside)} proxies made from images outside fold {info['fold']}'s training part, "
                              f"e.g. rows {outside[:5]}")
        if test_leaks:
            errors.append(f"{path}: {len(test_leaks)} proxies made from TEST images, e.g. rows {test_leaks[:5]}")
        row["status"] = "LEAK" if (test_leaks or row["val_leaks"] or row["test_lookalikes"]) else "ok"
        rows.append(row)

    table = pd.DataFrame(rows)
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise LeakageError(f"leakage audit failed: {len(errors)} leak(s) found\n  {shown}{more}")
    return table
