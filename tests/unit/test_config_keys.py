"""The config keys of architectures, transfer learning, AMP, batch size finder and explainability."""

import copy

import pytest
import yaml
from conftest import REPO
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from proxy_attention.config import check_config
from proxy_attention.errors import ConfigError

SCHEMA = str(REPO / "workflow" / "schemas" / "config.schema.yaml")


def validated(extra: dict) -> dict:
    config = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    config.update(extra)
    validate(config, SCHEMA)
    return config


def test_defaults_are_filled_in():
    c = validated({})
    assert c["model_kwargs"] == {} and c["pretrained"] == {}
    assert c["training"]["fp32_models"] == [] and c["training"]["freeze_backbone_epochs"] == 0
    assert c["training"]["max_batch_size"] == 256
    e = c["explain"]
    assert e["enabled"] is True and e["cam_method"] == "gradcam" and e["cam_target"] == "label"
    assert e["percentiles"] == [20, 40, 60, 80]


def test_new_keys_are_accepted():
    c = validated({
        "models": ["resnet18", "vit_tiny_patch16_224"],
        "model_kwargs": {"vit_tiny_patch16_224": {"img_size": 32, "patch_size": 8}},
        "pretrained": {"resnet18": "weights/resnet18.safetensors"},
        "training": {"batch_size": "auto", "max_batch_size": 128, "fp32_models": ["vit_*"], "amp": "bf16",
                     "freeze_backbone_epochs": 2},
        "explain": {"enabled": False, "n_images": 8, "cam_method": "scorecam", "cam_target": "predicted"},
    })
    check_config(c)
    assert c["training"]["batch_size"] == "auto"


@pytest.mark.parametrize("extra, where, why", [
    ({"training": {"batch_size": "max"}}, "['training']['batch_size']", "'max' is not valid under any of the given schemas"),
    ({"training": {"batch_size": 1}}, "['training']['batch_size']", "1 is not valid under any of the given schemas"),
    ({"training": {"amp": "fp8"}}, "['training']['amp']", "'fp8' is not one of"),
    ({"training": {"freeze_backbone_epochs": -1}}, "['training']['freeze_backbone_epochs']",
     "-1 is less than the minimum of 0"),
    ({"model_kwargs": {"resnet18": 32}}, "['model_kwargs']['resnet18']", "32 is not of type 'object'"),
    ({"explain": {"cam_method": "gradcam3"}}, "['explain']['cam_method']", "'gradcam3' is not one of"),
    ({"explain": {"percentiles": [0]}}, "['explain']['percentiles'][0]", "0 is less than the minimum of 1"),
    ({"explain": {"n_images": 0}}, "['explain']['n_images']", "0 is less than the minimum of 1"),
    ({"explain": {"typo": 1}}, "['explain']", "'typo' was unexpected"),
])
def test_schema_refuses(extra, where, why):
    """The schema's own refusal, naming the key (issue 25, item 18: any exception passed, a KeyError too)."""
    with pytest.raises(WorkflowError) as refused:
        validated(extra)
    text = str(refused.value)
    assert why in text and f"On instance{where}" in text, text


@pytest.mark.parametrize("key", ["pretrained", "model_kwargs"])
def test_settings_for_a_model_that_is_not_run_are_refused(key):
    c = validated({key: {"resnet50": {} if key == "model_kwargs" else "w.pth"}})
    with pytest.raises(ConfigError, match=f"config key '{key}' names models that are not in 'models': \\['resnet50'\\]"):
        check_config(c)
