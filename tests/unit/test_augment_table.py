"""The table of augmentation methods (augment/table.py) is the one place a method is declared: the
config's checks, the registry, needs_cam and soft targets all follow a row, and a new method is a row
and a class."""

import copy
import inspect
import subprocess
import sys

import pytest
import torch
import yaml
from conftest import REPO
from snakemake.utils import validate

from proxy_attention.augment import table
from proxy_attention.augment.base import BatchAugmentation
from proxy_attention.augment.checks import PROB
from proxy_attention.augment.names import needs_cam
from proxy_attention.augment.registry import augmentation_class, build_augmentation
from proxy_attention.config import check_before_schema, check_config, coerce_numbers
from proxy_attention.errors import ConfigError
from proxy_attention.train.settings import augmentation_settings

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


class VFlip(BatchAugmentation):
    """A method that is not in the package: flips each image upside down with probability ``prob``."""

    def __init__(self, prob: float = 1.0):
        self.prob = float(prob)

    def __call__(self, x01, y, gen, cam_fn=None):
        flip = torch.rand(len(x01), generator=gen) < self.prob
        return torch.where(flip.view(-1, 1, 1, 1).to(x01.device), x01.flip(2), x01), y


VFLIP = table.Method("vflip", f"{__name__}:VFlip", {"prob": 1.0}, {"prob": PROB}, needs_cam=True)


def loaded(augmentations, options) -> dict:
    """The default config with these arms, through the checks the workflow runs when it loads (config.smk)."""
    config = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    config.update({"augmentations": augmentations, "augmentation_options": options})
    coerce_numbers(config, yaml.safe_load(SCHEMA.read_text()))
    check_before_schema(config)
    validate(config, str(SCHEMA))
    check_config(config, check_models=False)
    return config


def test_a_method_added_to_the_table_is_accepted_built_and_needs_its_cam(monkeypatch):
    with pytest.raises(ConfigError, match="unknown augmentation 'vflip'"):
        loaded(["none", "vflip"], {})
    monkeypatch.setattr(table, "METHODS", table.METHODS + (VFLIP,))
    config = loaded(["none", "vflip"], {"vflip": {"prob": "5e-1"}})
    assert config["augmentation_options"]["vflip"] == {"prob": 0.5}  # coerced by the row's check
    with pytest.raises(ConfigError, match=r"augmentation_options\.vflip\.prob' = 2: must be a number in \[0, 1\]"):
        loaded(["none", "vflip"], {"vflip": {"prob": 2}})
    assert needs_cam("vflip") and "saliency_layer" in augmentation_settings(config, "resnet18", "vflip")
    aug = build_augmentation("vflip", {"prob": 1.0}, num_classes=3)
    assert isinstance(aug, VFlip) and (aug.name, aug.needs_cam, aug.soft_targets) == ("vflip", True, False)
    x, y = torch.rand(2, 3, 4, 4), torch.tensor([0, 1])
    assert torch.equal(aug(x, y, torch.Generator().manual_seed(0))[0], x.flip(2))


def test_an_unknown_name_is_refused_with_the_tables_names():
    allowed = ", ".join(table.names())
    with pytest.raises(ConfigError, match=f"config key 'augmentations': unknown augmentation 'puzzlemix'; "
                                          f"allowed: {allowed} "):
        loaded(["none", "puzzlemix"], {})
    with pytest.raises(ConfigError, match="config key 'augmentation_options': unknown augmentation 'puzzlemix'"):
        loaded(["none"], {"puzzlemix": {}})
    with pytest.raises(ConfigError, match="'augmentation_options.none': 'none' .* has no options"):
        loaded(["none"], {"none": {}})


@pytest.mark.parametrize("row", table.METHODS[1:], ids=lambda m: m.name)
def test_each_rows_class_takes_its_options_and_says_what_the_row_says(row):
    cls = augmentation_class(row.name)
    assert issubclass(cls, BatchAugmentation) and table.method_of_class(cls) is row
    params = inspect.signature(cls).parameters
    assert set(row.defaults) <= set(params), f"{row.cls} does not take {set(row.defaults) - set(params)}"
    assert ("num_classes" in params) == row.soft_targets  # a soft-target method builds mixed labels
    for k in cls.__mro__[:cls.__mro__.index(BatchAugmentation)]:  # declared in the row, not in the class
        assert vars(k).keys().isdisjoint({"name", "needs_cam", "soft_targets"}), k


def test_the_table_and_the_checks_import_no_torch():
    code = ("import sys; import proxy_attention.augment.table, proxy_attention.augment.names, "
            "proxy_attention.augment.options; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
