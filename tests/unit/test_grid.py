"""The runs a config asks for (proxy_attention.grid) against enumerations written out by hand."""

import copy

import pytest
import yaml
from conftest import REPO
from snakemake.utils import Paramspace, validate

from proxy_attention import grid
from proxy_attention.grid import Grid, fold_wildcards, proxy_config_name

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")
TINY = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())
# tests/configs/tiny.yaml's one proxy configuration, with the schema's defaults
NAME = ("cam_method~gradcampp/proxy_threshold~0.5/proxy_image_weight~0.5/subset_wrong~1.0/"
        "clear_every_step~False/subset_order~random/replacement~multiply/cam_target~predicted")
RUN0 = "results/runs/digits/resnet10t/1p1/honest/seed0/fold0"
W0 = {"dataset": "digits", "model": "resnet10t", "schedule": "1p1", "protocol": "honest", "aug": "",
      "seed": "0", "fold": "0"}


def config(**changes) -> dict:
    """tests/configs/tiny.yaml with ``changes`` at its top level, with the schema's defaults."""
    c = copy.deepcopy(TINY)
    c.update(copy.deepcopy(changes))
    validate(c, SCHEMA)
    return c


def test_the_proxy_grid_is_the_product_of_its_lists_in_key_order():
    g = Grid(config(proxy={**TINY["proxy"], "cam_method": ["gradcam", "eigencam"], "proxy_threshold": [0.5, 1]}))
    assert [(p["cam_method"], p["proxy_threshold"]) for p in g.proxy_configs] == [
        ("gradcam", 0.5), ("gradcam", 1.0), ("eigencam", 0.5), ("eigencam", 1.0)]
    first = g.proxy_configs[0]
    assert type(first["proxy_threshold"]) is float and type(first["clear_every_step"]) is bool
    assert proxy_config_name(first) == NAME.replace("gradcampp", "gradcam")
    assert g.label_keys == ["cam_method", "proxy_threshold"]  # the keys with more than one value
    assert g.proxy_params({**W0, **{k: str(v) for k, v in first.items()}}) is first
    # the wildcard pattern of a proxy run's path is Snakemake's Paramspace's
    assert grid.PROXY_CONFIG_PATTERN == Paramspace(g.table, param_sep="~").wildcard_pattern


def test_tiny_asks_for_one_group_of_two_folds_with_three_runs_each():
    g = Grid(config())
    assert g.groups() == [{"dataset": "digits", "model": "resnet10t", "schedule": "1p1", "protocol": "honest"}]
    assert g.fold_keys() == [W0, {**W0, "fold": "1"}]
    runs = g.run_rounds(W0)
    assert [(r["method"], r["config"]) for r in runs] == [
        ("baseline", "none"), ("proxy", NAME), ("baseline_matched", NAME)]
    baseline, proxy, matched = runs
    assert baseline["metrics"] == [f"{RUN0}/round0/metrics.json", f"{RUN0}/baseline/round1/metrics.json"]
    assert baseline["train_benchmark"] == [
        "results/benchmarks/train/digits/resnet10t/1p1/honest/seed0/fold0/round0.tsv",
        "results/benchmarks/train/digits/resnet10t/1p1/honest/seed0/fold0/baseline/round1.tsv"]
    assert baseline["explain"] == f"{RUN0}/explain/baseline.csv" and "proxy_steps" not in baseline
    assert proxy["metrics"] == [f"{RUN0}/round0/metrics.json", f"{RUN0}/proxy/{NAME}/round1/metrics.json"]
    assert proxy["proxy_steps"] == [None, f"{RUN0}/proxy/{NAME}/proxy1"]
    assert proxy["explain"] == f"{RUN0}/explain/proxy/{NAME}.csv"
    assert proxy["cam_method"] == "gradcampp" and proxy["seed"] == 0 and proxy["augmentation"] == "none"
    # round 1 of the matched baseline is shared by the configurations with the same subset_wrong
    assert matched["epochs"] == [f"{RUN0}/round0/epochs.csv", f"{RUN0}/shared/subset_wrong~1.0/matched/round1/epochs.csv"]
    assert "explain" not in matched and baseline["cam_method"] is None


def test_controls_augmentation_arms_and_seeds():
    g = Grid(config(controls=["replay", "random_location"], augmentations=["none", "cutmix"], seeds=[0, 1],
                    run_folds=[1], schedules=[[1, "p", 1, "p", 1]], explain={"enabled": False}))
    keys = [(w["aug"], w["seed"], w["fold"]) for w in g.fold_keys()]
    assert keys == [("", "0", "1"), ("", "1", "1"), ("/aug~cutmix", "0", "1"), ("/aug~cutmix", "1", "1")]
    w = g.fold_keys()[3]
    run = "results/runs/digits/resnet10t/1p1p1/honest/aug~cutmix/seed1/fold1"
    runs = g.run_rounds(w)
    assert [r["method"] for r in runs] == ["baseline", "proxy", "baseline_matched", "replay", "random_location"]
    assert all(r["augmentation"] == "cutmix" and "explain" not in r for r in runs)
    replay, random_location = runs[3], runs[4]
    assert replay["metrics"] == [f"{run}/round0/metrics.json",
                                 f"{run}/shared/subset_wrong~1.0/subset_order~random/replay/round1/metrics.json",
                                 f"{run}/proxy/{NAME}/replay/round2/metrics.json"]
    assert random_location["metrics"][1:] == [f"{run}/proxy/{NAME}/random_location/round{r}/metrics.json"
                                              for r in (1, 2)]
    assert random_location["proxy_steps"] == [None] + [f"{run}/proxy/{NAME}/random_location/proxy{r}"
                                                       for r in (1, 2)]
    assert "proxy_steps" not in replay
    # the thesis protocol trains no controls
    assert [r["method"] for r in g.run_rounds({**w, "protocol": "thesis"})] == ["baseline", "proxy"]
    # a screened grid's confirm stage runs only the chosen configurations
    assert [r["method"] for r in g.run_rounds(w, configs=[])] == ["baseline"]


def test_every_round_is_planned_once_with_its_kind():
    g = Grid(config(schedules=[[1, "p", 1, "p", 1]], folds=2, run_folds=[0]))
    planned = g.planned_rounds()
    assert len(planned) == 3 * 3  # baseline, proxy, matched: rounds 0, 1, 2 each (round 0 counted per run)
    assert [kind for _, _, kind in planned[:3]] == ["round0", "intermediate", "last"]
    assert planned[4] == (f"{RUN0.replace('1p1', '1p1p1')}/proxy/{NAME}/round1/checkpoint.pt", "resnet10t",
                          "intermediate")
    # the leakage audit reads each round's training set once, round 0's shared by every run
    assert len(g.train_sets()) == 1 + 2 + 2 + 2
    assert g.proxy_manifests() == [f"{RUN0.replace('1p1', '1p1p1')}/proxy/{NAME}/proxy{r}/manifest.csv"
                                   for r in (1, 2)]
    # without a proxy step a run's round 0 is its last (kept: it is the final model)
    plain = Grid(config(schedules=[[2]], run_folds=[0])).planned_rounds()
    assert [kind for _, _, kind in plain] == ["last", "last", "last"]


def test_groups_are_every_dataset_model_schedule_and_protocol():
    g = Grid(config(models=["resnet10t", "resnet18"], schedules=[[1, "p", 1], [2]], protocols=["honest", "thesis"]))
    assert [(x["model"], x["schedule"], x["protocol"]) for x in g.groups()] == [
        ("resnet10t", "1p1", "honest"), ("resnet10t", "1p1", "thesis"), ("resnet10t", "2", "honest"),
        ("resnet10t", "2", "thesis"), ("resnet18", "1p1", "honest"), ("resnet18", "1p1", "thesis"),
        ("resnet18", "2", "honest"), ("resnet18", "2", "thesis")]


def test_tiny_targets():
    g = Grid(config())
    figures = "results/summary/figures/digits/resnet10t/1p1/honest"
    assert g.summary_targets(tensorboard=False) == [
        "results/summary/leakage_audit.csv", "results/summary/runs.csv", "results/summary/epochs.csv",
        "results/summary/comparison.csv", "results/summary/test_accuracy.svg",
        "results/summary/runtime.svg", "results/summary/figures/digits/classes.svg",
        f"{figures}/learning_curves.svg", f"{figures}/heatmap.svg", f"{figures}/paired_differences.svg",
        f"{figures}/proxy_counts.svg", f"{figures}/confusion.svg", f"{figures}/gallery/{NAME}.png",
        f"{RUN0}/explain_gallery.png", f"{RUN0[:-1]}1/explain_gallery.png",
        "results/summary/explain_vs_accuracy.svg"]
    more = Grid(config(protocols=["honest", "thesis"], augmentations=["none", "mixup"], schedules=[[2]],
                       explain={"enabled": False}))
    targets = more.summary_targets(tensorboard=True)
    assert "results/summary/tensorboard" in targets and "results/summary/protocol_comparison.csv" in targets
    assert not any("/gallery/" in t or "explain" in t for t in targets)  # no proxy step, no explain
    assert "results/summary/figures/digits/resnet10t/2/thesis/augmentations.svg" in targets
    assert targets.count("results/summary/figures/digits/augmentations.png") == 1


def test_a_screen_stage_lives_under_its_root():
    g = Grid(config(), root="results/screen")
    assert g.run_dir(W0) == RUN0.replace("results/", "results/screen/")
    assert g.fold_inputs(W0) == {"split": "results/screen/data/digits/split.csv",
                                 "cache": "results/data/digits/images_48px.npy"}  # the cache is shared
    bench = g.benchmark_files()
    assert bench["split_dataset"] == ["results/benchmarks/split_dataset/screen/digits.tsv"]
    assert bench["prepare_dataset"] == ["results/benchmarks/prepare_dataset/digits.tsv"]
    assert bench["train_matched_first"] == [
        f"results/benchmarks/train/screen/runs/{k}/shared/subset_wrong~1.0/matched/round1.tsv"
        for k in ("digits/resnet10t/1p1/honest/seed0/fold0", "digits/resnet10t/1p1/honest/seed0/fold1")]
    assert bench["train_replay"] == []
    assert g.summary_targets(False)[0] == "results/screen/summary/leakage_audit.csv"
    # in a report only the files that exist, and only the rules with such files
    assert g.benchmark_files(keep=lambda fs: [f for f in fs if "prepare" in f]) == {
        "prepare_dataset": ["results/benchmarks/prepare_dataset/digits.tsv"]}


def test_what_a_training_round_reads():
    g = Grid(config(schedules=[[1, "p", 1, "p", 1, "p", 1]], training={"batch_size": "auto", "device": "cuda:1"}))
    p = g.proxy_configs[0]
    w = {**W0, "schedule": "1p1p1p1", **{k: str(v) for k, v in p.items()}, "round": "3"}
    run = RUN0.replace("1p1", "1p1p1p1")
    proxy = f"{run}/proxy/{NAME}"
    assert g.round_proxy_manifests(w) == [f"{proxy}/proxy{s}/manifest.csv" for s in (1, 2, 3)]
    assert g.earlier_proxy_manifests(w) == [f"{proxy}/proxy{s}/manifest.csv" for s in (1, 2)]
    assert g.earlier_random_location_manifests(w) == [f"{proxy}/random_location/proxy{s}/manifest.csv"
                                                      for s in (1, 2)]
    assert g.init_checkpoint(w, proxy) == f"{proxy}/round2/checkpoint.pt"
    assert g.control_checkpoint(w, "replay") == f"{proxy}/replay/round2/checkpoint.pt"
    assert g.control_checkpoint({**w, "round": "2"}, "baseline_matched") == \
        f"{run}/shared/subset_wrong~1.0/matched/round1/checkpoint.pt"
    assert [g.feeds_proxy_step({**w, "round": r}) for r in ("0", "2", "3")] == [True, True, False]
    assert g.feeds_proxy_step(W0 | {"schedule": "1p1p1p1"})  # round 0 has no round wildcard
    assert g.batch_size_input(w) == {"batch_size": "results/batch_size/resnet10t_48px_cuda1.json"}
    assert Grid(config()).batch_size_input(w) == {}
    assert g.first_step_params(w, "replay") == {"kind": "replay", "subset_wrong": 1.0, "subset_order": "random",
                                                "batch_size": 256, "device": "cuda:1"}
    assert g.proxy_step_params(w)["proxy"] is p


def test_a_shared_first_round_is_named_by_what_it_depends_on():
    w = {**W0, "subset_wrong": "0.5", "subset_order": "hardest"}
    assert grid.shared_run_info(w, "replay")["config"] == "shared/subset_wrong~0.5/subset_order~hardest"
    info = grid.shared_run_info(w, "baseline_matched")
    assert info["config"] == "shared/subset_wrong~0.5" and info["subset_wrong"] == 0.5
    assert info["subset_order"] is None and info["cam_method"] is None


def test_the_figures_of_a_group():
    g = Grid(config(seeds=[3, 4], run_folds=[1], augmentations=["none", "keepaugment"]))
    group = {"dataset": "digits", "model": "resnet10t", "schedule": "1p1", "protocol": "honest"}
    final = g.final_metrics(group)
    runs = [f"results/runs/digits/resnet10t/1p1/honest/seed{s}/fold1" for s in (3, 4)]
    assert final == {"baseline": {"none": [f"{r}/baseline/round1/metrics.json" for r in runs]},
                     "proxy": {NAME: [f"{r}/proxy/{NAME}/round1/metrics.json" for r in runs]},
                     "baseline_matched": {NAME: [f"{r}/shared/subset_wrong~1.0/matched/round1/metrics.json"
                                                 for r in runs]}}
    w = {**group, **{k: str(v) for k, v in g.proxy_configs[0].items()}}
    assert g.gallery_steps(w) == [f"{runs[0]}/proxy/{NAME}/proxy1"]  # first seed and fold, plain arm
    assert Grid(config()).gallery_steps(w) == [f"{RUN0}/proxy/{NAME}/proxy1"]  # fold 0 of folds 0, 1
    assert g.gallery_inputs(w)["cams"] == [f"{runs[0]}/proxy/{NAME}/proxy1/cams.npz"]
    # a saliency-guided arm needs round 0 of the plain arm for its CAM
    assert g.augmentation_gallery_inputs({"dataset": "digits"})["checkpoint"] == f"{runs[0]}/round0/checkpoint.pt"
    assert "checkpoint" not in Grid(config()).augmentation_gallery_inputs({"dataset": "digits"})
    assert grid.figure_labels(group, "heatmap") == {**group, "item": "heatmap"}


def test_fold_summary_and_explain_inputs():
    g = Grid(config())
    files = g.fold_summary_inputs(W0)
    assert f"{RUN0}/explain" in files and f"{RUN0}/proxy/{NAME}/proxy1/stats.json" in files
    assert f"{RUN0}/shared/subset_wrong~1.0/matched/round1/metrics.json" in files
    assert len(files) == 1 + 3 * (3 + 2) - 3 + 2  # explain/; rounds 0 (once) and 1 of 3 runs x 3 files; 1 step
    assert g.explain_checkpoints(W0) == [f"{RUN0}/baseline/round1/checkpoint.pt",
                                         f"{RUN0}/proxy/{NAME}/round1/checkpoint.pt"]


def test_folds_and_explain_settings():
    assert grid.folds_to_run({"folds": 3, "run_folds": "all"}) == [0, 1, 2]
    assert grid.folds_to_run({"folds": 3, "run_folds": [2, 0]}) == [0, 2]
    assert fold_wildcards({"dataset": "d"}, 1, 2, "cutmix") == {"dataset": "d", "aug": "/aug~cutmix", "seed": "1",
                                                                "fold": "2"}


@pytest.mark.parametrize("module", ["proxy_attention.grid"])
def test_the_grid_imports_no_config_checks_and_no_torch(module):
    import subprocess
    import sys

    code = (f"import sys, {module}; bad = [m for m in ('torch', 'proxy_attention.config') if m in sys.modules]; "
            "print(bad); sys.exit(bool(bad))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
