"""The controls of issue 24: replay, random_location, and control rounds trained once.

Unit tests of the random-location maps and of the shared-round paths, then a tiny real run with two
CAM methods and both controls, whose files are checked against the proxy runs they control.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import TINY, copy_run
from conftest import run_snakemake as snakemake
from PIL import Image

from proxy_attention.analysis.stats import compare, distinct_runs, final_rounds, smallest_detectable
from proxy_attention.paths import control_round_dir, round_rule
from proxy_attention.proxy.controls import random_location_maps, shift_offsets
from proxy_attention.proxy.replacement import proxy_images

# --- unit ---


def test_random_location_keeps_the_changed_pixel_count_and_moves_them():
    rng = np.random.default_rng(1)
    cams = np.zeros((50, 16, 16), np.float32)
    for i in range(50):  # a blob at a random place with random values
        y, x = rng.integers(0, 10, 2)
        cams[i, y : y + 6, x : x + 6] = rng.uniform(0.2, 1.0, (6, 6))
    offsets = shift_offsets(50, 16, 16, seed=0, round_=1)
    assert ((offsets >= 4) & (offsets <= 12)).all()  # between 1/4 and 3/4 of the side
    moved = random_location_maps(cams, offsets)
    x = torch_rand((50, 3, 16, 16))
    _, mask = proxy_images(x, tensor(cams), 0.5, 0.5)
    _, moved_mask = proxy_images(x, tensor(moved), 0.5, 0.5)
    assert np.array_equal(mask.sum(dim=(1, 2)).numpy(), moved_mask.sum(dim=(1, 2)).numpy())
    overlap = (mask & moved_mask).sum(dim=(1, 2)).float() / mask.sum(dim=(1, 2)).clamp(min=1)
    assert float(overlap.mean()) < 0.2  # somewhere else, mostly
    for i in range(50):  # the same values, permuted
        assert np.array_equal(np.sort(cams[i].ravel()), np.sort(moved[i].ravel()))


def test_random_location_offsets_are_seeded():
    assert np.array_equal(shift_offsets(7, 32, 32, 0, 1), shift_offsets(7, 32, 32, 0, 1))
    assert not np.array_equal(shift_offsets(7, 32, 32, 0, 1), shift_offsets(7, 32, 32, 0, 2))


def test_shared_first_rounds_and_their_rules():
    run = "results/runs/d/m/1p1/honest/seed0/fold0"
    proxy = (f"{run}/proxy/cam_method~gradcam/proxy_threshold~0.5/proxy_image_weight~0.5/subset_wrong~1.0/"
             "clear_every_step~False/subset_order~random/replacement~multiply/cam_target~predicted")
    params = {"subset_wrong": 1.0, "subset_order": "random"}
    assert control_round_dir(run, proxy, "baseline_matched", params, 1) == f"{run}/shared/subset_wrong~1.0/matched/round1"
    assert control_round_dir(run, proxy, "replay", params, 1) == \
        f"{run}/shared/subset_wrong~1.0/subset_order~random/replay/round1"
    assert control_round_dir(run, proxy, "baseline_matched", params, 2) == f"{proxy}/matched/round2"
    assert control_round_dir(run, proxy, "random_location", params, 1) == f"{proxy}/random_location/round1"
    assert control_round_dir(run, proxy, "replay", params, 0) == f"{run}/round0"
    for d, rule in [(f"{run}/round0", "train_round0"), (f"{run}/baseline/round1", "train_baseline"),
                    (f"{proxy}/round1", "train_proxy"), (f"{proxy}/matched/round2", "train_matched"),
                    (f"{run}/shared/subset_wrong~1.0/matched/round1", "train_matched_first"),
                    (f"{run}/shared/subset_wrong~1.0/subset_order~random/replay/round1", "train_replay_first"),
                    (f"{proxy}/replay/round2", "train_replay"), (f"{proxy}/random_location/round1", "train_random_location")]:
        assert round_rule(d) == rule, d


def test_smallest_detectable_difference_by_hand():
    # n = 10, sd 0.02: (t_0.975,9 + t_0.8,9) * 0.02 / sqrt(10) = (2.2622 + 0.8834) * 0.02 / 3.1623
    # table values to 5 digits
    assert smallest_detectable(0.02, 10) == pytest.approx((2.262157 + 0.883457) * 0.02 / np.sqrt(10), rel=1e-4)
    assert np.isnan(smallest_detectable(0.02, 1))


def _final(shared: bool) -> pd.DataFrame:
    rows = []
    for fold in range(3):
        base = f"results/runs/d/m/1p1/honest/seed0/fold{fold}"
        rows.append(dict(method="baseline", config="none", metrics_file=f"{base}/baseline/round1/metrics.json",
                         test_acc=0.5 + 0.01 * fold))
        for cam in ("gradcam", "gradcampp"):
            cfg = f"cam_method~{cam}/subset_wrong~1.0"
            rows.append(dict(method="proxy", config=cfg, cam_method=cam, subset_wrong=1.0,
                             metrics_file=f"{base}/proxy/{cfg}/round1/metrics.json", test_acc=0.53 + 0.01 * fold))
            matched = f"{base}/shared/subset_wrong~1.0/matched/round1" if shared else f"{base}/proxy/{cfg}/matched/round1"
            rows.append(dict(method="baseline_matched", config=cfg, cam_method=cam, subset_wrong=1.0,
                             metrics_file=f"{matched}/metrics.json", test_acc=0.52 + 0.02 * fold))
    df = pd.DataFrame(rows)
    for k, v in dict(dataset="d", model="m", schedule="1p1", protocol="honest", seed=0, round=1, epoch=2).items():
        df[k] = v
    df["fold"] = [int(re.search(r"fold(\d)", p).group(1)) for p in df["metrics_file"]]
    return df


def test_a_shared_control_is_one_run_against_plain_training():
    table = compare(final_rounds(_final(shared=True)), "baseline")
    matched = table[table["method"] == "baseline_matched"]
    assert len(matched) == 1 and matched["config"].iloc[0] == "shared/subset_wrong~1.0"
    assert matched["n_pairs"].iloc[0] == 3 and pd.isna(matched["cam_method"].iloc[0])
    # each proxy configuration is still paired with it, one pair per fold
    against = compare(final_rounds(_final(shared=True)), "baseline_matched")
    assert set(against["method"]) == {"proxy", "baseline_matched"}
    assert (against.loc[against["method"] == "proxy", "n_pairs"] == 3).all()
    # distinct per-configuration controls stay two runs
    assert len(compare(final_rounds(_final(shared=False)), "baseline").query("method == 'baseline_matched'")) == 2
    assert len(distinct_runs(_final(shared=True))) == len(_final(shared=True)) - 3


# --- end to end ---


def torch_rand(shape):
    import torch

    return torch.rand(shape, generator=torch.Generator().manual_seed(0))


def tensor(a):
    import torch

    return torch.from_numpy(a)


RUN = "results/runs/digits/resnet10t/1p1/honest/seed0"
TAIL = ("proxy_threshold~0.5/proxy_image_weight~0.5/subset_wrong~1.0/clear_every_step~False/subset_order~random/"
        "replacement~multiply/cam_target~predicted")


def control_config(tmp_path) -> Path:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["proxy"]["cam_method"] = ["gradcam", "gradcampp"]
    cfg["controls"] = ["replay", "random_location"]
    cfg["explain"]["enabled"] = False
    path = tmp_path / "controls.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def control_run(tiny_run_built, tmp_path_factory):
    """The plan of the control grid in an empty folder (what it trains from scratch), and the grid run
    to the end on a copy of the session's finished tiny run: the jobs the two grids share (the data,
    round 0, the baseline, the gradcampp proxy rounds, the shared matched rounds) are not trained again,
    the same jobs with the same numbers."""
    tmp = tmp_path_factory.mktemp("controls")
    config = control_config(tmp)
    (tmp / "empty").mkdir()
    dry = snakemake(tmp / "empty", "-n", config=config).stdout
    work = copy_run(tiny_run_built, tmp / "work")
    snakemake(work, config=config)
    return work, dry


def _jobs(dry: str) -> dict[str, int]:
    table = dry.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


@pytest.mark.slow
def test_two_cam_methods_train_each_shared_control_once(control_run):
    _, dry = control_run
    jobs = _jobs(dry)
    # 2 folds: one matched and one replay round per fold, whatever the number of CAM methods
    assert jobs["train_matched_first"] == 2 and jobs["train_replay_first"] == 2, jobs
    assert "train_matched" not in jobs and "train_replay" not in jobs, jobs
    assert jobs["train_proxy"] == 4 and jobs["train_random_location"] == 4, jobs


@pytest.mark.slow
def test_replay_trains_on_exactly_the_proxy_runs_selected_images(control_run):
    work, _ = control_run
    for fold in (0, 1):
        base = work / RUN / f"fold{fold}"
        for cam in ("gradcam", "gradcampp"):
            manifest = pd.read_csv(base / f"proxy/cam_method~{cam}/{TAIL}/proxy1/manifest.csv")
            replay = np.load(base / "shared/subset_wrong~1.0/subset_order~random/replay/round1/train_set.npz")
            plain = np.load(base / "baseline/round1/train_set.npz")
            extra = replay["train_rows"][len(plain["train_rows"]):]
            assert np.array_equal(replay["train_rows"][: len(plain["train_rows"])], plain["train_rows"])
            assert np.array_equal(np.sort(extra), np.sort(manifest["index_row"].to_numpy()))  # same images, same count
            assert len(extra) == len(manifest) > 0
            metrics = json.loads((base / "shared/subset_wrong~1.0/subset_order~random/replay/round1/metrics.json").read_text())
            assert metrics["n_proxies"] == 0  # unmodified originals, not proxy images
            matched = json.loads((base / "shared/subset_wrong~1.0/matched/round1/metrics.json").read_text())
            proxy = json.loads((base / f"proxy/cam_method~{cam}/{TAIL}/round1/metrics.json").read_text())
            assert matched["images_seen"] == proxy["images_seen"] == metrics["images_seen"]


@pytest.mark.slow
def test_random_location_changes_as_many_pixels_elsewhere(control_run):
    work, _ = control_run
    base = work / RUN / "fold0" / f"proxy/cam_method~gradcampp/{TAIL}"
    proxy = pd.read_csv(base / "proxy1/manifest.csv")
    control = pd.read_csv(base / "random_location/proxy1/manifest.csv")
    assert np.array_equal(proxy["index_row"], control["index_row"]) and np.array_equal(proxy["label_idx"], control["label_idx"])
    assert np.allclose(proxy["frac_changed"], control["frac_changed"])  # the same number of pixels per image
    assert control["frac_overlap_cam"].mean() < 0.6
    differs = 0
    for a, b in zip(proxy["proxy_file"], control["proxy_file"]):
        differs += not np.array_equal(np.asarray(Image.open(base / "proxy1" / a)),
                                      np.asarray(Image.open(base / "random_location/proxy1" / b)))
    assert differs > len(proxy) // 2  # other pixels changed


@pytest.mark.slow
def test_controls_reach_the_tables_and_the_answer(control_run):
    work, _ = control_run
    runs = pd.read_csv(work / "results/summary/runs.csv")
    assert {"baseline", "proxy", "baseline_matched", "replay", "random_location"} <= set(runs["method"])
    comparison = pd.read_csv(work / "results/summary/comparison.csv")
    assert {"baseline", "baseline_matched", "replay", "random_location"} <= set(comparison["reference"])
    vs_plain = comparison[(comparison["reference"] == "baseline") & (comparison["method"] == "baseline_matched")]
    assert len(vs_plain) == 1  # the shared matched baseline is one result, not one per CAM method
    answer = (work / "results/summary/answer.rst").read_text()
    for q in ("Better than plain training?", "Better than the same compute", "Better than showing the same images",
              "Better than the same edit at random places"):
        assert q in answer
    assert "Not run" not in answer


@pytest.mark.slow
def test_a_control_trained_with_an_arm_uses_that_arm(tmp_path):
    cfg = yaml.safe_load(TINY.read_text())
    cfg.update(augmentations=["none", "cutout"], controls=["replay"])
    cfg["explain"]["enabled"] = False
    path = tmp_path / "arm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    shared = "shared/subset_wrong~1.0/subset_order~random/replay/round1"
    target = f"results/runs/digits/resnet10t/1p1/honest/aug~cutout/seed0/fold0/{shared}/metrics.json"
    snakemake(tmp_path, target, config=path)
    import torch

    ckpt = torch.load(Path(tmp_path, target).with_name("checkpoint.pt"), map_location="cpu", weights_only=False)
    assert ckpt["settings"]["augmentation"] == "cutout"
    assert json.loads(Path(tmp_path, target).read_text())["augmentation"] == "cutout"


def test_controls_appear_in_the_arms_table():
    from proxy_attention.analysis.arms import arm_comparison

    plain = _final(shared=True)
    plain["augmentation"] = "none"
    arm = plain.copy()
    arm["augmentation"] = "cutout"
    arm["metrics_file"] = arm["metrics_file"].str.replace("/honest/", "/honest/aug~cutout/")
    replay = arm[arm["method"] == "baseline_matched"].assign(method="replay")
    replay["metrics_file"] = replay["metrics_file"].str.replace("/matched/", "/subset_order~random/replay/")
    table = arm_comparison(final_rounds(pd.concat([plain, arm, replay], ignore_index=True)))
    vs_plain = table[table["question"] == "vs_plain"]
    rows = vs_plain[(vs_plain["augmentation"] == "cutout") & (vs_plain["method"] == "replay")]
    assert len(rows) == 1 and rows["n_pairs"].item() == 3  # a shared replay with the arm: one run, its 3 pairs


def test_the_answer_opens_with_the_four_questions_and_says_which_were_not_run():
    from proxy_attention.analysis.answer import answer_rst

    final = final_rounds(_final(shared=True))
    table = pd.concat([compare(final, "baseline"), compare(final, "baseline_matched")], ignore_index=True)
    text = answer_rst(table)
    head = text.split("\n\n**d / m / schedule 1p1")[0]  # the questions come first
    assert "Better than plain training?" in head and "Better than the same compute" in head
    assert head.count("Not run (needs `controls: [") == 2  # replay and random_location were not run
    thesis = answer_rst(table.assign(protocol="thesis"))
    assert "Not run (the controls run under the honest protocol only)" in thesis
