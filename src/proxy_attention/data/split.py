"""One seeded split per dataset: a held-out test part and stratified k folds over the rest.

The test part is the dataset's official test split when it has one, otherwise
a stratified random ``test_fraction`` of the images. No training, proxy or
selection step ever reads it. A drawn test part takes along every other image
that has the same pixels as, or is a near-duplicate of, one of its images
(:mod:`proxy_attention.data.duplicates`), so no re-encoded copy of a test image
is trained on (an official test split had them removed at indexing). The
validation split of a publisher (``source_split == "val"``) is part of the k-fold
pool like ``train``. Fold ``f``'s validation part is the rows with
``fold == f``; its training part is every other non-test row.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from proxy_attention.data.duplicates import lookalikes_of_test
from proxy_attention.errors import DataError

log = logging.getLogger(__name__)

TEST = "test"
TRAINVAL = "trainval"


def make_split(index: pd.DataFrame, folds: int, seed: int, test_fraction: float) -> pd.DataFrame:
    """Return ``index`` with a ``split`` column (test/trainval) and a ``fold`` column (-1 for test)."""
    # imported here: the training jobs read fold_rows only and must not pay for scikit-learn
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if folds < 2:
        raise DataError(f"folds must be at least 2, got {folds}")
    df = index.reset_index(drop=True).copy()
    has_official_test = (df["source_split"] == TEST).any()
    if has_official_test:
        is_test = (df["source_split"] == TEST).to_numpy()
    else:
        counts = df["label"].value_counts()
        too_small = counts[counts < 2]
        if len(too_small):
            raise DataError(
                f"classes {sorted(too_small.index.tolist())} have fewer than 2 images; "
                "a stratified test split needs at least 2 per class"
            )
        _, test_rows = train_test_split(
            np.arange(len(df)), test_size=test_fraction, stratify=df["label"], random_state=seed
        )
        is_test = np.zeros(len(df), dtype=bool)
        is_test[test_rows] = True
        moved = lookalikes_of_test(df, is_test)
        if moved:
            is_test[list(moved)] = True
            examples = [f"{df.path.iat[r]} ({how} of {df.path.iat[t]})" for r, (t, how) in list(moved.items())[:5]]
            log.warning("split: %d image(s) that look like a drawn test image joined the test part, e.g. %s",
                        len(moved), "; ".join(examples))

    df["split"] = np.where(is_test, TEST, TRAINVAL)
    df["fold"] = -1
    trainval = np.flatnonzero(~is_test)
    counts = df.loc[trainval, "label"].value_counts()
    too_small = counts[counts < folds].sort_index()
    if len(too_small):
        detail = ", ".join(f"'{c}' ({n})" for c, n in too_small.items())
        raise DataError(
            f"{len(too_small)} class(es) have fewer training images than the {folds} folds asked for: {detail}; "
            "lower 'folds' or remove these classes"
        )
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, val_pos) in enumerate(skf.split(trainval, df.loc[trainval, "label"])):
        df.loc[trainval[val_pos], "fold"] = fold
    return df


def fold_rows(split: pd.DataFrame, fold: int) -> dict[str, np.ndarray]:
    """Row numbers (into the index and the image cache) of a fold's train, val and test parts."""
    n_folds = int(split["fold"].max()) + 1
    if not 0 <= fold < n_folds:
        raise DataError(f"fold {fold} does not exist; the split has folds 0..{n_folds - 1}")
    trainval = (split["split"] == TRAINVAL).to_numpy()
    in_fold = (split["fold"] == fold).to_numpy()
    return {
        "train": np.flatnonzero(trainval & ~in_fold),
        "val": np.flatnonzero(trainval & in_fold),
        "test": np.flatnonzero((split["split"] == TEST).to_numpy()),
    }
