import numpy as np
import pandas as pd
import pytest

from proxy_attention.data import duplicates
from proxy_attention.data.split import fold_rows, make_split
from proxy_attention.errors import DataError


def make_index(counts: dict[str, int], test_counts: dict[str, int] | None = None) -> pd.DataFrame:
    rows = []
    classes = sorted(counts)
    for part, cnts in (("train", counts), ("test", test_counts or {})):
        for c, n in cnts.items():
            rows += [dict(path=f"{part}/{c}/{i}.png", label=c, label_idx=classes.index(c), source_split=part) for i in range(n)]
    return pd.DataFrame(rows)


def test_split_is_stratified_disjoint_and_holds_out_test():
    index = make_index({"a": 50, "b": 30, "c": 20})
    split = make_split(index, folds=5, seed=1, test_fraction=0.2)
    test = split[split.split == "test"]
    assert len(test) == 20
    assert (test.fold == -1).all()
    # stratified test part: 20% of each class
    assert test.label.value_counts().to_dict() == {"a": 10, "b": 6, "c": 4}
    folds = [fold_rows(split, f) for f in range(5)]
    test_rows = set(folds[0]["test"])
    for f, rows in enumerate(folds):
        assert not set(rows["train"]) & set(rows["val"])
        assert not (set(rows["train"]) | set(rows["val"])) & test_rows
        assert len(rows["train"]) + len(rows["val"]) == 80
    # stratified folds: each class's count in a validation fold is within 1 of its share (40/5, 24/5, 16/5)
    per_fold = pd.DataFrame([split.loc[r["val"], "label"].value_counts() for r in folds]).fillna(0)
    for c, n in {"a": 40, "b": 24, "c": 16}.items():
        assert per_fold[c].sum() == n
        assert per_fold[c].max() - per_fold[c].min() <= 1
    # each non-test image is in exactly one validation fold
    all_val = np.concatenate([r["val"] for r in folds])
    assert len(all_val) == len(set(all_val)) == 80


def test_same_seed_same_split_other_seed_other_split():
    index = make_index({"a": 40, "b": 40})
    a = make_split(index, folds=4, seed=7, test_fraction=0.25)
    b = make_split(index, folds=4, seed=7, test_fraction=0.25)
    c = make_split(index, folds=4, seed=8, test_fraction=0.25)
    pd.testing.assert_frame_equal(a, b)
    assert not a[["split", "fold"]].equals(c[["split", "fold"]])


def test_official_test_split_is_used_as_is():
    index = make_index({"a": 12, "b": 12}, test_counts={"a": 3, "b": 5})
    split = make_split(index, folds=3, seed=0, test_fraction=0.5)
    assert (split.split == "test").sum() == 8
    assert (split.loc[split.split == "test", "source_split"] == "test").all()


def test_class_smaller_than_k_is_named():
    index = make_index({"cats": 40, "dogs": 40, "rare_bird": 3})
    with pytest.raises(DataError, match=r"'rare_bird' \(2\)"):
        make_split(index, folds=5, seed=0, test_fraction=0.2)


def test_fold_out_of_range():
    split = make_split(make_index({"a": 10, "b": 10}), folds=2, seed=0, test_fraction=0.2)
    with pytest.raises(DataError, match="fold 2 does not exist"):
        fold_rows(split, 2)


def test_drawn_test_split_takes_the_lookalikes_of_its_images():
    """An index without ``near_copy_group`` (written before the pixel check): a near-duplicate pair
    (perceptual hashes at most PHASH_THRESHOLD bits apart: a re-encoded copy moves the hash by a few
    bits) never straddles test and trainval; a pair further apart is two pictures and is left where
    the draw put it."""
    threshold = duplicates.PHASH_THRESHOLD
    rng = np.random.default_rng(0)
    near = list(range(threshold + 1)) * 3  # 0 (the same hash) up to the threshold, each 3 times per class
    far = [threshold + 1, threshold + 2, threshold + 4] * 2
    rows, partner = [], {}  # partner: row of a pair's second image -> (row of its first image, bits apart)
    for c in "ab":
        for bits in near + far + [None] * 12:  # None: an image without a partner
            h = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))  # 64 random bits: ~32 from any other
            hashes = [h] if bits is None else [h, h ^ sum(1 << int(b) for b in rng.choice(64, bits, replace=False))]
            for value in hashes:
                i = len(rows)
                rows.append(dict(path=f"train/{c}/{i}.png", label=c, label_idx="ab".index(c), source_split="train",
                                 pixel_sha1=f"{c}{i}", phash=f"p{value:016x}"))
            if bits is not None:
                partner[i] = (i - 1, bits)
    index = pd.DataFrame(rows)
    drawn = make_split(index.drop(columns=["pixel_sha1", "phash"]), folds=2, seed=0, test_fraction=0.25)
    drawn = (drawn.split == "test").to_numpy()  # the draw alone: stratified by label, the hashes play no part
    split = make_split(index, folds=2, seed=0, test_fraction=0.25)
    straddling = {(a, b): bits for b, (a, bits) in partner.items() if drawn[a] != drawn[b]}
    # every distance was drawn apart at least once, so each is checked below
    assert set(straddling.values()) == set(near) | set(far), sorted(set(straddling.values()))
    expected = drawn.copy()
    for (a, b), bits in straddling.items():
        if bits <= threshold:
            expected[a] = expected[b] = True  # the training one of the pair joined the test part
    got = (split.split == "test").to_numpy()
    bits_of = {r: bits for pair, bits in straddling.items() for r in pair}
    wrong = {int(r): bits_of.get(r) for r in np.flatnonzero(got != expected)}
    assert not wrong, f"rows on the wrong side of the split (their pair's distance in bits): {wrong}"


def test_drawn_test_split_takes_checked_copies_not_lookalikes(tmp_path):
    """With no official test split, a copy of a drawn test image joins it; a look-alike at a closer phash does not."""
    from conftest import jpeg, lookalike, scene

    from proxy_attention.data.duplicates import lookalikes_of_test
    from proxy_attention.data.index import index_folder

    for c in range(2):
        d = tmp_path / "train" / f"class{c}"
        d.mkdir(parents=True)
        for i in range(6):
            scene(seed=100 + 10 * c + i).resize((48, 48)).save(d / f"img{i}.png")
    base = scene().crop((0, 0, 64, 64))
    base.save(tmp_path / "train/class0/sky.png")
    jpeg(base, 75).save(tmp_path / "train/class0/sky_copy.jpg")
    scene().crop((1, 1, 65, 65)).save(tmp_path / "train/class0/sky_shifted.png")
    lookalike(base).save(tmp_path / "train/class1/other_bird.png")
    index = index_folder(tmp_path, official_test=False).index
    group = dict(zip(index.path, index.near_copy_group))
    assert group["train/class0/sky_copy.jpg"] == group["train/class0/sky_shifted.png"] == group["train/class0/sky.png"] != ""
    assert group["train/class1/other_bird.png"] == ""
    found = lookalikes_of_test(index, (index.path == "train/class0/sky.png").to_numpy())
    assert sorted(index.path.iat[r] for r in found) == ["train/class0/sky_copy.jpg", "train/class0/sky_shifted.png"]
    for seed in range(5):
        split = make_split(index, folds=2, seed=seed, test_fraction=0.3)
        assert split[split.near_copy_group != ""].split.nunique() == 1  # the three copies on one side
