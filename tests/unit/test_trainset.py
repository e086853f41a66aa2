"""Training and validation sets per protocol, and the compute-matched baseline's extra images."""

import numpy as np
import pandas as pd
import pytest

from proxy_attention.data.split import fold_rows, make_split
from proxy_attention.train.trainset import round_sets


@pytest.fixture
def split():
    index = pd.DataFrame({"path": [f"{i}.png" for i in range(90)], "label": [str(i % 3) for i in range(90)],
                          "label_idx": [i % 3 for i in range(90)], "source_split": "train"})
    return make_split(index, folds=3, seed=0, test_fraction=0.2)


def test_honest_sets_are_the_fold_for_every_round(split):
    parts = fold_rows(split, 1)
    for r in range(3):
        s = round_sets(split, 1, "honest", seed=0, round_=r, n_proxies=5)
        assert np.array_equal(s.train_rows, parts["train"]) and np.array_equal(s.val_rows, parts["val"])
        assert s.train_proxies.tolist() == [0, 1, 2, 3, 4] and len(s.val_proxies) == 0


def test_matched_baseline_adds_seeded_originals_from_the_training_part(split):
    parts = fold_rows(split, 0)
    a = round_sets(split, 0, "honest", seed=0, round_=1, matched_extra=17)
    b = round_sets(split, 0, "honest", seed=0, round_=1, matched_extra=17)
    assert len(a.train_rows) == len(parts["train"]) + 17
    assert set(a.train_rows) <= set(parts["train"])
    assert np.array_equal(a.train_rows, b.train_rows)
    with pytest.raises(ValueError, match="honest protocol only"):
        round_sets(split, 0, "thesis", seed=0, round_=1, matched_extra=3)


def test_thesis_protocol_redraws_every_round_and_lets_proxies_into_validation(split):
    pool = set(np.flatnonzero((split.split == "trainval").to_numpy()))
    s0 = round_sets(split, 0, "thesis", seed=0, round_=0)
    s1 = round_sets(split, 0, "thesis", seed=0, round_=1, n_proxies=30)
    for s in (s0, s1):
        assert set(s.train_rows) | set(s.val_rows) == pool and not set(s.train_rows) & set(s.val_rows)
    assert set(s0.train_rows) & set(s1.val_rows), "a redraw puts round-0 training images into round-1 validation"
    assert len(s1.val_proxies) == 10 and len(s1.train_proxies) == 20
    # the test split is never part of it
    assert not (set(s1.train_rows) | set(s1.val_rows)) & set(np.flatnonzero((split.split == "test").to_numpy()))
    # the originals' draw does not depend on how many proxies exist
    assert np.array_equal(round_sets(split, 0, "thesis", 0, 1, n_proxies=0).train_rows, s1.train_rows)
