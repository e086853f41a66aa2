"""The leakage audit catches a planted leak and names the file; clean records pass."""

import numpy as np
import pandas as pd
import pytest

from proxy_attention.analysis.audit import LeakageError, audit
from proxy_attention.data.split import fold_rows, make_split
from proxy_attention.train.trainset import round_sets, write_record

BASE = "results/runs/ds/resnet18/1p1/{protocol}/seed0/fold{fold}"


@pytest.fixture
def split():
    index = pd.DataFrame({"path": [f"train/{c}/{i}.png" for c in "ab" for i in range(20)],
                          "label": [c for c in "ab" for _ in range(20)], "label_idx": [i for i in (0, 1) for _ in range(20)],
                          "source_split": "train"})
    return make_split(index, folds=2, seed=0, test_fraction=0.25)


def write_run(tmp_path, split, protocol="honest", fold=0, tamper=None, arm=""):
    """Round 0, baseline round 1 and a proxy step + round 1, recorded as the training rules record them
    (``arm``: the path segment of an augmentation arm, e.g. ``/aug~cutmix``)."""
    base = tmp_path / BASE.format(protocol=protocol + arm, fold=fold)
    parts = fold_rows(split, fold)
    manifest = base / "proxy/cfg/proxy1/manifest.csv"
    manifest.parent.mkdir(parents=True)
    sources = parts["train"][:3] if protocol == "honest" else round_sets(split, fold, protocol, 0, 0).train_rows[:3]
    pd.DataFrame({"index_row": sources}).to_csv(manifest, index=False)
    files = []
    for rel, r, n_proxies in [("round0", 0, 0), ("baseline/round1", 1, 0), ("proxy/cfg/round1", 1, 3)]:
        sets = round_sets(split, fold, protocol, 0, r, n_proxies=n_proxies)
        rec = {"train_rows": sets.train_rows, "val_rows": sets.val_rows, "test_rows": sets.test_rows,
               "train_proxy_sources": sources[sets.train_proxies], "val_proxy_sources": sources[sets.val_proxies]}
        if tamper and rel == tamper[0]:
            rec = tamper[1](rec, parts)
        path = base / rel / "train_set.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_record(path, rec)
        files.append(str(path))
    return files, [str(manifest)]


def test_clean_honest_run_passes(tmp_path, split):
    files, manifests = write_run(tmp_path, split)
    table = audit({"ds": split}, files, manifests)
    assert len(table) == 4 and (table.status == "ok").all()
    assert (table.test_leaks == 0).all() and (table.val_leaks == 0).all()


@pytest.mark.parametrize(
    "where, plant, message",
    [
        ("proxy/cfg/round1", lambda rec, parts: {**rec, "train_rows": np.append(rec["train_rows"], parts["val"][0])},
         "validation/other images in training"),
        ("baseline/round1", lambda rec, parts: {**rec, "train_proxy_sources": np.array([parts["test"][0]])}, "TEST images"),
        ("round0", lambda rec, parts: {**rec, "val_rows": rec["val_rows"][1:]}, "validation set is not fold 0"),
    ],
)
def test_planted_leak_is_caught_and_named(tmp_path, split, where, plant, message):
    files, manifests = write_run(tmp_path, split, tamper=(where, plant))
    with pytest.raises(LeakageError, match=message) as err:
        audit({"ds": split}, files, manifests)
    assert f"{where}/train_set.npz" in str(err.value)


def test_proxy_made_from_a_validation_image_is_caught(tmp_path, split):
    files, manifests = write_run(tmp_path, split)
    pd.DataFrame({"index_row": [fold_rows(split, 0)["val"][0]]}).to_csv(manifests[0], index=False)
    with pytest.raises(LeakageError, match="proxies made from images outside fold 0"):
        audit({"ds": split}, files, manifests)


def test_thesis_protocol_leak_is_counted_not_failed(tmp_path, split):
    files, manifests = write_run(tmp_path, split, protocol="thesis")
    table = audit({"ds": split}, files, manifests)
    rounds1 = table[(table.kind == "train_set") & (table["round"] == 1)]
    # a fresh train/val draw per round puts images trained on in round 0 into round 1's validation
    assert (rounds1.val_seen_in_training > 0).all()
    assert rounds1.status.str.startswith("expected leak").all()
    assert (table.test_leaks == 0).all()


def test_reencoded_test_image_in_training_is_a_leak(tmp_path, split):
    """Another file with a test image's content (same pixels, or a near-duplicate by phash) is counted."""
    parts = fold_rows(split, 0)
    rng = np.random.default_rng(0)  # random 64-bit hashes: about 32 bits apart, never within the threshold
    split = split.assign(pixel_sha1=[f"px{i}" for i in range(len(split))],
                         phash=[f"p{int(h):016x}" for h in rng.integers(0, 2**63, len(split))])
    test_row, copy_row, near_row = parts["test"][0], parts["train"][0], parts["train"][1]
    split.loc[copy_row, "pixel_sha1"] = split.loc[test_row, "pixel_sha1"]
    split.loc[near_row, "phash"] = "p" + f"{int(split.loc[parts['test'][1], 'phash'][1:], 16) ^ 0b101:016x}"  # 2 bits off
    files, manifests = write_run(tmp_path, split)
    with pytest.raises(LeakageError, match="look like TEST images") as err:
        audit({"ds": split}, files, manifests)
    assert "same pixels of test" in str(err.value) and "near-duplicate (phash distance 2) of test" in str(err.value)
    assert "round0/train_set.npz: 2 training or validation images" in str(err.value)


def test_augmentation_arms_are_audited_too(tmp_path, split):
    files, manifests = write_run(tmp_path, split, arm="/aug~cutmix")
    table = audit({"ds": split}, files, manifests)
    assert len(table) == 4 and (table.status == "ok").all()
    plant = lambda rec, parts: {**rec, "train_rows": np.append(rec["train_rows"], parts["test"][0])}  # noqa: E731
    files, manifests = write_run(tmp_path / "leak", split, arm="/aug~cutmix", tamper=("baseline/round1", plant))
    with pytest.raises(LeakageError, match="aug~cutmix/seed0/fold0/baseline/round1/train_set.npz"):
        audit({"ds": split}, files, manifests)
