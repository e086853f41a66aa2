"""Config mistakes caught when the workflow loads, not hours later in a job."""

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import REPO
from snakemake.utils import validate

from proxy_attention.config import coerce_numbers

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def loaded(text: str) -> dict:
    """The default config with ``text`` (YAML) merged into its top level, as PyYAML reads it."""
    config = copy.deepcopy(DEFAULT)
    config.update(yaml.safe_load(text))
    return config


# --- 12: `lr: 1e-3` is a string to PyYAML ---

def test_yaml_reads_exponents_without_a_dot_as_strings():
    assert yaml.safe_load("lr: 1e-3") == {"lr": "1e-3"}  # the fault: YAML 1.1


def test_numeric_strings_of_number_keys_become_numbers():
    config = loaded("training: {lr: 1e-3, weight_decay: 5e-5, min_lr: 1E-7}\n"
                    "test_fraction: 2e-1\nproxy: {proxy_threshold: [5e-1, 0.7], cam_method: [gradcam]}\n"
                    "folds: 3e0\nmodels: ['1e3']")
    coerce_numbers(config, SCHEMA)
    validate(config, str(SCHEMA_PATH))
    assert config["training"]["lr"] == 0.001 and config["training"]["weight_decay"] == 5e-5
    assert config["training"]["min_lr"] == 1e-7 and config["test_fraction"] == 0.2
    assert config["proxy"]["proxy_threshold"] == [0.5, 0.7]
    assert config["folds"] == 3 and isinstance(config["folds"], int)
    assert config["models"] == ["1e3"]  # a string key stays a string


def test_numbers_are_coerced_wherever_a_number_is_expected():
    """augmentation_options (open in the schema, checked by options.py) and the stages' keys (behind a
    $ref) take `1e-3` as a number too, as `lr: 1e-3` is taken (issue 25, item 10)."""
    from proxy_attention.augment.options import validate_options
    from proxy_attention.config import check_config

    config = loaded("augmentations: [none, mixup, cutmix, randaugment]\n"
                    "augmentation_options: {mixup: {alpha: 1e-3}, cutmix: {minmax: [1e-1, 5e-1]}, "
                    "randaugment: {num_ops: 2e0}}\n"
                    "stages: {screen: {folds: 2e0, select_top: 2e0}, confirm: {}}")
    assert config["augmentation_options"]["mixup"]["alpha"] == "1e-3"  # as PyYAML reads it
    coerce_numbers(config, SCHEMA)
    validate(config, str(SCHEMA_PATH))
    check_config(config)
    options = config["augmentation_options"]
    assert options["mixup"] == {"alpha": 0.001} and options["cutmix"] == {"minmax": [0.1, 0.5]}
    assert options["randaugment"] == {"num_ops": 2} and isinstance(options["randaugment"]["num_ops"], int)
    screen = config["stages"]["screen"]
    assert screen["folds"] == 2 and screen["select_top"] == 2 and isinstance(screen["select_top"], int)
    assert validate_options("mixup", {"alpha": "1e-3"})["alpha"] == 0.001  # where a job builds it, too
    with pytest.raises(Exception, match="augmentation_options.mixup.alpha.*must be a number"):
        validate_options("mixup", {"alpha": "a lot"})  # a word is still refused, naming the key


def test_the_workflow_accepts_lr_1e_3(tmp_path):
    text = (REPO / "tests/configs/tiny.yaml").read_text().replace("training:\n", "training:\n  lr: 1e-3\n")
    assert "lr: 1e-3" in text
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path / "w"), "--configfile", str(cfg), "--cores", "1", "-n", "--quiet", "all"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]


# --- 11: mistakes found hours later in a job, now when the workflow loads ---

def checked(text: str):
    from proxy_attention.config import check_config

    config = loaded(text)
    coerce_numbers(config, SCHEMA)
    validate(config, str(SCHEMA_PATH))
    check_config(config)


def test_a_cam_target_layer_the_model_lacks_is_refused():
    from proxy_attention.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'cam_target_layer.resnet18': 'layer5' is not a module of resnet18; "
                                          r"did you mean one of \['layer4'"):
        checked("cam_target_layer: {resnet18: layer5}")


@pytest.mark.parametrize("model", ["vit_tiny_patch16_224", "swin_tiny_patch4_window7_224"])
def test_a_transformer_at_another_img_size_points_at_model_kwargs(model):
    from proxy_attention.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"built for 224x224 px.*img_size is 32.*model_kwargs: \{{{model}: "
                                          r"\{img_size: 32\}\}"):
        checked(f"models: [{model}]\ncam_target_layer: {{}}")
    fix = "patch_size: 8}}" if "vit" in model else "window_size: 4}}\ncam_target_layer: {%s: layers.2}" % model
    checked(f"models: [{model}]\ncam_target_layer: {{}}\nmodel_kwargs: {{{model}: {{img_size: 32, {fix}")


def test_a_one_by_one_cam_layer_is_a_warning_when_the_workflow_loads(caplog):
    """A warning, not an error: running only the data steps (or round 0) with it is fine."""
    checked("cam_target_layer: {resnet18: layer4}")
    assert "'layer4' has a 1x1 feature map at img_size 32" in caplog.text


def test_a_folder_dataset_that_does_not_exist_is_refused(tmp_path, image_folder):
    from proxy_attention.errors import ConfigError

    with pytest.raises(ConfigError, match=f"'datasets.mine.path': the folder {tmp_path / 'nope'} does not exist"):
        checked(f"datasets: {{mine: {{type: folder, path: {tmp_path / 'nope'}}}}}")
    checked(f"datasets: {{mine: {{type: folder, path: {image_folder}}}}}")


def test_the_default_config_passes():
    checked("{}")


def test_augmentations_without_none_says_none_must_be_listed_and_why(tmp_path):
    """Not jsonschema's "does not contain items matching the given schema" (issue 25, item 11)."""
    text = (REPO / "tests/configs/tiny.yaml").read_text() + "\naugmentations: [cutmix, mixup]\n"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path / "w"), "--configfile", str(cfg), "--cores", "1", "-n", "--quiet", "all"],
                          capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'augmentations' = ['cutmix', 'mixup'] does not list 'none'" in out, out[-3000:]
    assert "compared with the plain pipeline" in out and "augmentations: [none, cutmix, mixup]" in out
    assert "does not contain items" not in out


def test_an_odd_batch_with_mixup_or_cutmix_is_a_warning_when_the_workflow_loads(caplog):
    """The last image of an odd batch stays unmixed: a third of them at batch_size 3 (issue 25, item 9)."""
    import logging

    with caplog.at_level(logging.WARNING):
        checked("augmentations: [none, cutmix]\ntraining: {batch_size: 3}")
    assert "'training.batch_size' = 3 is odd: cutmix" in caplog.text
    assert "1 of every 3 images (33%)" in caplog.text and "docs/augmentations.md" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        checked("augmentations: [none, mixup, cutmix]\ntraining: {batch_size: 4}")
        checked("augmentations: [none, randaugment]\ntraining: {batch_size: 3}")
    assert "is odd" not in caplog.text


def test_a_target_read_as_a_config_file_is_named(tmp_path):
    """`snakemake --configfile c.yaml results/.../metrics.json`: the target is taken for a config file; when
    it exists (and is JSON with keys), Snakemake loads it and the workflow says what happened (issue 25, item 12)."""
    from proxy_attention.config import check_configfiles
    from proxy_attention.errors import ConfigError

    work = tmp_path / "w"
    target = work / "results" / "runs" / "fold1" / "metrics.json"
    target.parent.mkdir(parents=True)
    target.write_text('{"test_acc": 0.5, "round": 0}')
    cfg = tmp_path / "c.yaml"
    cfg.write_text((REPO / "tests/configs/tiny.yaml").read_text())
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "1", "-n",
                           "--quiet", "--configfile", str(cfg), "results/runs/fold1/metrics.json"],
                          capture_output=True, text=True, cwd=work)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "'results/runs/fold1/metrics.json' was given as a config file, but it is a path under results/" in out, out
    assert f"--configfile {cfg} -- results/runs/fold1/metrics.json" in out
    check_configfiles([str(cfg), "elsewhere/c2.yaml"])  # config files elsewhere pass
    with pytest.raises(ConfigError, match="path under results/"):
        check_configfiles([str(cfg), str(work / "results" / "x.yaml")])  # also as an absolute path
