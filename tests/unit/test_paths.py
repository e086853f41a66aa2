"""The workflow's file layout (proxy_attention.paths) against paths written out by hand."""

import os

from proxy_attention import paths
from proxy_attention.grid import explain_settings
from proxy_attention.train.settings import (
    FINDER_FIELDS,
    TrainSettings,
    finder_settings,
    train_settings,
)

RUN = "results/runs/digits/resnet18/2p2p2/honest/seed0/fold1"
PROXY = f"{RUN}/proxy/cam_method~gradcam/proxy_threshold~0.5"


def test_logs_and_benchmarks_mirror_what_a_job_writes():
    assert paths.log_path("train", f"{RUN}/round0") == \
        "results/logs/train/digits/resnet18/2p2p2/honest/seed0/fold1/round0.log"
    assert paths.benchmark_path("proxy", f"{PROXY}/proxy2") == \
        "results/benchmarks/proxy/digits/resnet18/2p2p2/honest/seed0/fold1/proxy/" \
        "cam_method~gradcam/proxy_threshold~0.5/proxy2.tsv"
    assert paths.log_path("index_dataset", "{dataset}") == "results/logs/index_dataset/{dataset}.log"
    # wildcard templates pass through unchanged
    assert paths.log_path("train", paths.RUN + "/round0") == \
        "results/logs/train/{dataset}/{model}/{schedule}/{protocol}{aug}/seed{seed}/fold{fold}/round0.log"


def test_round_and_step_outputs():
    assert paths.round_outputs("d/round1") == {
        "checkpoint": "d/round1/checkpoint.pt", "metrics": "d/round1/metrics.json",
        "epochs": "d/round1/epochs.csv", "train_set": "d/round1/train_set.npz"}
    assert paths.proxy_step_outputs("p/proxy1") == {
        "manifest": "p/proxy1/manifest.csv", "cams": "p/proxy1/cams.npz", "stats": "p/proxy1/stats.json"}


def test_an_intermediate_round_lets_its_checkpoint_go():
    let_go = paths.let_go(lambda f: f"temp:{f}", paths.round_outputs("d/round1"))
    assert let_go == {**paths.round_outputs("d/round1"), "checkpoint": "temp:d/round1/checkpoint.pt"}


def test_checkpoints_chain_through_the_shared_round0():
    assert paths.previous_checkpoint(RUN, f"{RUN}/baseline", 1) == f"{RUN}/round0/checkpoint.pt"
    assert paths.previous_checkpoint(RUN, f"{RUN}/baseline", 3) == f"{RUN}/baseline/round2/checkpoint.pt"
    assert paths.final_checkpoint(RUN, PROXY, 0) == f"{RUN}/round0/checkpoint.pt"
    assert paths.final_checkpoint(RUN, PROXY, 2) == f"{PROXY}/round2/checkpoint.pt"


def test_proxy_manifests_of_a_round():
    assert paths.proxy_manifests(PROXY, 3, clear_every_step=False) == [
        f"{PROXY}/proxy1/manifest.csv", f"{PROXY}/proxy2/manifest.csv", f"{PROXY}/proxy3/manifest.csv"]
    assert paths.proxy_manifests(PROXY, 3, clear_every_step=True) == [f"{PROXY}/proxy3/manifest.csv"]


def test_round_files_start_at_round0():
    files = paths.round_files(RUN, f"{RUN}/baseline", 2)
    assert files["metrics"] == [f"{RUN}/round0/metrics.json", f"{RUN}/baseline/round1/metrics.json",
                                f"{RUN}/baseline/round2/metrics.json"]
    assert files["train_benchmark"][0] == paths.benchmark_path("train", f"{RUN}/round0")
    assert paths.proxy_step_dirs(PROXY, 2) == [f"{PROXY}/proxy1", f"{PROXY}/proxy2"]


def test_round_kinds_name_distinct_rules_and_methods():
    kinds = paths.ROUND_KINDS
    assert len({k.rule for k in kinds}) == len(kinds) == 8
    assert {k.method for k in kinds} == {"round0", "baseline", "proxy", *paths.CONTROL_METHODS}
    # every kind's directory is recognised as its own rule's
    filled = {k.rule: k.directory.format(proxy="cam_method~gradcam/subset_wrong~1.0/subset_order~random", round=2,
                                         subset_wrong="1.0", subset_order="random") for k in kinds}
    for rule, d in filled.items():
        if rule.endswith("_first"):
            d = d.replace("round2", "round1")
        assert paths.round_rule(f"results/runs/d/m/2p2/honest/seed0/fold0/{d}") == rule


def test_pythonpath_gets_the_folder_first_once(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/a", "/src"]))
    paths.put_first_on_pythonpath("/src")
    paths.put_first_on_pythonpath("/src")
    assert os.environ["PYTHONPATH"] == os.pathsep.join(["/src", "/a"])


CONFIG = {
    "img_size": 32,
    "pretrained": {"resnet18": "w.safetensors"},
    "model_kwargs": {},
    "training": {"batch_size": 64, "max_batch_size": 256, "optimizer": "sgd", "scheduler": "step", "lr": 0.1,
                 "hflip": True},
    "explain": {"n_images": 4, "cam_method": "gradcam", "cam_target": "true", "percentiles": [50], "batch_size": 8,
                "enabled": True, "gallery_images": 2},
    "cam_target_layer": {"resnet18": "layer3"},
}


def test_training_keys_fill_the_fields_of_the_same_name():
    s = train_settings(CONFIG, "resnet18", 3)
    assert s == {"batch_size": 64, "optimizer": "sgd", "scheduler": "step", "lr": 0.1, "hflip": True,
                 "model": "resnet18", "pretrained": "w.safetensors", "model_kwargs": {}, "augmentation": "none",
                 "augmentation_options": {}, "img_size": 32, "seed": 3,
                 "torch_threads": 1}  # torch_threads: the config's top-level key (default 1)
    t = TrainSettings(**s, num_classes=10, classes=[])
    assert (t.optimizer, t.scheduler) == ("sgd", "step")


def test_the_finder_gets_only_what_decides_memory():
    s = finder_settings(CONFIG, "resnet18", 64)
    assert set(s) <= set(FINDER_FIELDS)
    assert s == {"optimizer": "sgd", "lr": 0.1, "model": "resnet18", "model_kwargs": {}, "img_size": 64}


def test_explain_settings():
    assert explain_settings(CONFIG, "resnet18") == {
        "n_images": 4, "cam_method": "gradcam", "cam_target": "true", "percentiles": [50], "batch_size": 8,
        "cam_target_layer": "layer3"}


def test_augmentation_arms_live_below_the_protocol():
    from proxy_attention.augment.names import arm_dir, arm_name

    assert arm_dir("none") == "" and arm_dir("cutmix") == "/aug~cutmix"
    assert arm_name(arm_dir("cutmix")) == "cutmix" and arm_name("") == "none"
    fields = dict(dataset="d", model="m", schedule="1p1", protocol="honest", seed=0, fold=1)
    assert paths.RUN.format(**fields, aug=arm_dir("none")) == "results/runs/d/m/1p1/honest/seed0/fold1"
    assert paths.RUN.format(**fields, aug=arm_dir("mixup")) == "results/runs/d/m/1p1/honest/aug~mixup/seed0/fold1"


def test_augmentation_settings_reach_only_their_arm():
    config = {**CONFIG, "augmentation_options": {"cutmix": {"alpha": 0.2}, "keepaugment": {"tau": 0.2}}}
    plain = train_settings(config, "resnet18", 0)
    assert (plain["augmentation"], plain["augmentation_options"]) == ("none", {}) and "saliency_layer" not in plain
    assert train_settings(config, "resnet18", 0, "cutmix")["augmentation_options"] == {"alpha": 0.2}
    keep = train_settings(config, "resnet18", 0, "keepaugment")
    assert keep["saliency_layer"] == "layer3" and keep["augmentation_options"] == {"tau": 0.2}


def test_controls_and_their_folders_come_from_the_round_kinds():
    assert paths.CONTROL_METHODS == ("baseline_matched", "replay", "random_location")
    assert paths.CONTROL_DIRS == {"baseline_matched": "matched", "replay": "replay",
                                  "random_location": "random_location"}


def test_a_round_directory_of_no_kind_is_refused():
    import pytest

    with pytest.raises(ValueError, match="not the round directory"):
        paths.round_rule(f"{RUN}/proxy/plain/round1")  # a proxy configuration's folders are key~value
    # a proxy configuration's last folder is never taken for a control's
    assert paths.round_rule(f"{PROXY}/round2") == "train_proxy"
    assert paths.round_rule(f"{PROXY}/matched/round2") == "train_matched"
    assert paths.round_rule(f"{RUN}/shared/subset_wrong~1.0/matched/round1") == "train_matched_first"


def test_a_stage_layout_under_its_root():
    confirm, screen = paths.Layout(), paths.Layout("results/screen", "c~{c}")
    assert confirm.run == paths.RUN and confirm.split == "results/data/{dataset}/split.csv"
    assert screen.run == "results/screen/runs/{dataset}/{model}/{schedule}/{protocol}{aug}/seed{seed}/fold{fold}"
    assert screen.split == "results/screen/data/{dataset}/split.csv"
    assert screen.proxy_step == screen.run + "/proxy/c~{c}/proxy{round}"
    assert screen.random_location_step == screen.run + "/proxy/c~{c}/random_location/proxy{round}"
    assert screen.shared_replay == screen.run + "/shared/subset_wrong~{subset_wrong}/subset_order~{subset_order}/replay"
    assert screen.gallery == "results/screen/summary/figures/{dataset}/{model}/{schedule}/{protocol}/gallery/c~{c}.png"
    # a table's log lives under the step's folder, in the stage's subfolder; a run's is the run's
    assert screen.log_path("summary", "aggregate") == "results/logs/summary/screen/aggregate.log"
    assert confirm.log_path("summary", "aggregate") == "results/logs/summary/aggregate.log"
    assert screen.benchmark_path("train", screen.run + "/round0") == \
        "results/benchmarks/train/screen/runs/{dataset}/{model}/{schedule}/{protocol}{aug}/seed{seed}/fold{fold}/round0.tsv"
    assert paths.CACHE.format(dataset="d", size=32) == "results/data/d/images_32px.npy"
    assert paths.BATCH_SIZE.format(model="m", size=32, device="cpu") == "results/batch_size/m_32px_cpu.json"


def test_a_download_is_checked_against_its_files_checksum():
    from proxy_attention.data.datasets.registry import remote_checksum, remote_files

    expected = remote_files("imagenette", {"size": "full"})[0]
    assert remote_checksum("imagenette", {"size": "full"}, expected.filename) == expected.checksum
    assert remote_checksum("imagenette", {"size": "full", "checksum": "sha256:" + "0" * 64},
                           expected.filename) == "sha256:" + "0" * 64
    assert remote_checksum("imagenette", {}, "other.tgz") is None
