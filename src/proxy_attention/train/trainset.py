"""What one round trains and validates on, under each evaluation protocol.

``honest`` (ours): a fold's training part is fixed for the whole run; proxies are made
from it and added to it only; validation is the fold's validation part; the test split
is never touched.

``thesis`` (a reproduction of the author's *flawed* protocol, for comparison only): at
every schedule step the train/validation partition of all non-test images is drawn
again (the author did it unseeded; here the draw differs per round but is seeded, so the
reproduction is itself reproducible), and proxy images join that pool, so they and their
source images can land in validation. The held-out test split stays untouched, which is
what lets the report show how much of the protocol's gain survives.

The compute-matched baseline (``matched``) trains on the fold's training part plus as many
extra *original* training images, drawn at random, as the proxy run had proxies, so it
sees the same number of images and takes the same optimizer steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from proxy_attention import atomic
from proxy_attention.data.imagecache import load_cache
from proxy_attention.data.split import TEST, TRAINVAL, fold_rows
from proxy_attention.data.tensors import load_proxies, to_nchw

PROTOCOLS = ("honest", "thesis")
THESIS_SALT = 0x7E515  # keeps the thesis protocol's redraws apart from every other random stream


@dataclass
class RoundSets:
    """Index rows of original images and proxy entries in a round's training and validation sets."""

    train_rows: np.ndarray
    val_rows: np.ndarray
    test_rows: np.ndarray
    train_proxies: np.ndarray  # positions into the concatenated proxy manifests
    val_proxies: np.ndarray


def thesis_partition(n_items: int, folds: int, seed: int, fold: int, round_: int, stream: int) -> np.ndarray:
    """Boolean mask of the items drawn into validation at this round (a fresh draw every round).

    ``stream`` 0 draws the original images, 1 the proxies, so the originals' draw of a round
    does not depend on how many proxies exist.
    """
    rng = np.random.default_rng([seed, fold, round_, stream, THESIS_SALT])
    val = np.zeros(n_items, dtype=bool)
    val[rng.permutation(n_items)[: int(round(n_items / folds))]] = True
    return val


def round_sets(split: pd.DataFrame, fold: int, protocol: str, seed: int, round_: int, n_proxies: int = 0,
               matched_extra: int = 0, replay_rows=None) -> RoundSets:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    test = np.flatnonzero((split["split"] == TEST).to_numpy())
    if protocol == "honest":
        rows = fold_rows(split, fold)
        train = rows["train"]
        if matched_extra:
            rng = np.random.default_rng([seed, fold, round_, matched_extra])
            train = np.concatenate([train, rng.choice(train, size=matched_extra, replace=True)])
        if replay_rows is not None and len(replay_rows):  # the replay control: the proxy run's selected originals
            replay_rows = np.asarray(replay_rows, dtype=np.int64)
            outside = np.setdiff1d(replay_rows, train)
            if len(outside):
                raise ValueError(f"replayed images {outside[:5].tolist()} are not training images of fold {fold}")
            train = np.concatenate([train, replay_rows])
        return RoundSets(train, rows["val"], test, np.arange(n_proxies), np.empty(0, dtype=int))
    if matched_extra or replay_rows is not None:
        raise ValueError("the compute-matched baseline and the controls belong to the honest protocol only")
    pool = np.flatnonzero((split["split"] == TRAINVAL).to_numpy())
    folds = int(split["fold"].max()) + 1
    originals = thesis_partition(len(pool), folds, seed, fold, round_, stream=0)
    proxies = thesis_partition(n_proxies, folds, seed, fold, round_, stream=1)
    return RoundSets(pool[~originals], pool[originals], test, np.flatnonzero(~proxies), np.flatnonzero(proxies))


def load_round(split_csv, cache_npy, fold: int, protocol: str, seed: int, round_: int,
               manifests: list | None = None, matched_manifests: list | None = None, img_size: int | None = None,
               matched_extra: int = 0, replay_rows=None):
    """Tensors of one round plus the record of which images it used (for the leakage audit).

    ``matched_manifests`` (or a count, ``matched_extra``): the compute-matched baseline's number of extra
    originals; ``replay_rows``: the replay control's extra originals (proxy/controls.py).
    """
    split = pd.read_csv(split_csv)
    cache = load_cache(cache_npy)
    if len(cache) != len(split):
        raise ValueError(f"image cache {cache_npy} has {len(cache)} images but split {split_csv} has {len(split)} rows")
    labels = torch.from_numpy(split["label_idx"].to_numpy().astype(np.int64))
    classes = split.drop_duplicates("label_idx").sort_values("label_idx")["label"].astype(str).tolist()
    size = img_size or cache.shape[1]
    proxy_x, proxy_y = load_proxies(manifests or [], size)
    proxy_src = np.concatenate([pd.read_csv(m)["index_row"].to_numpy() for m in manifests]) if manifests else np.empty(0, int)
    extra = matched_extra + sum(len(pd.read_csv(m)) for m in matched_manifests or [])
    sets = round_sets(split, fold, protocol, seed, round_, n_proxies=len(proxy_y), matched_extra=extra,
                      replay_rows=replay_rows)

    def images(rows, proxy_pos):
        return torch.cat([to_nchw(cache[rows]), proxy_x[proxy_pos]]), torch.cat([labels[rows], proxy_y[proxy_pos]])

    train_x, train_y = images(sets.train_rows, sets.train_proxies)
    val_x, val_y = images(sets.val_rows, sets.val_proxies)
    data = {
        "train_x": train_x, "train_y": train_y, "n_proxies": int(len(sets.train_proxies)),
        "val_x": val_x, "val_y": val_y,
        "test_x": to_nchw(cache[sets.test_rows]), "test_y": labels[sets.test_rows],
    }
    record = {
        "train_rows": sets.train_rows, "val_rows": sets.val_rows, "test_rows": sets.test_rows,
        "train_proxy_sources": proxy_src[sets.train_proxies], "val_proxy_sources": proxy_src[sets.val_proxies],
    }
    return data, record, classes


def search_set(data: dict, record: dict) -> dict:
    """The round's original training images, which the next proxy step searches (``train_round(search=...)``).

    ``load_round`` puts them first in ``train_x`` (proxies follow), so they are exactly
    ``proxy_candidates`` of the next step; the compute-matched baseline's extra draws are
    not candidates of any proxy step and are refused.
    """
    rows = np.asarray(record["train_rows"])
    if len(np.unique(rows)) != len(rows):
        raise ValueError("a round with repeated training images (the compute-matched baseline) feeds no proxy step")
    n = len(rows)
    return {"x": data["train_x"][:n], "y": data["train_y"][:n], "rows": rows}


def write_record(path: str | Path, record: dict) -> None:
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **{k: np.asarray(v, dtype=np.int64) for k, v in record.items()})


def proxy_candidates(split_csv, cache_npy, fold: int, protocol: str, seed: int, round_: int):
    """The original training images of the round that precedes proxy step ``round_``, where wrong images are searched."""
    split = pd.read_csv(split_csv)
    cache = load_cache(cache_npy)
    rows = round_sets(split, fold, protocol, seed, round_ - 1).train_rows
    labels = torch.from_numpy(split["label_idx"].to_numpy().astype(np.int64))
    classes = split.drop_duplicates("label_idx").sort_values("label_idx")["label"].astype(str).tolist()
    return to_nchw(cache[rows]), labels[rows], rows, classes, split["path"].tolist()


def test_images(split_csv, cache_npy):
    """The held-out test images, labels and index rows (the same for every fold and protocol)."""
    split = pd.read_csv(split_csv)
    rows = np.flatnonzero((split["split"] == TEST).to_numpy())
    labels = torch.from_numpy(split["label_idx"].to_numpy()[rows].astype(np.int64))
    return to_nchw(load_cache(cache_npy)[rows]), labels, rows
