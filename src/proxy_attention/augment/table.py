"""The augmentation methods, one row each: the only place a method is declared (no torch).

A row gives the method's name (the config's ``augmentations`` entry, and its path segment
``aug~<name>``), where its class lives (``"module:Class"``, imported only when a job builds it),
its options' defaults and checks, checks between its options, whether it needs the model's CAM of
each batch (saliency-guided) and whether it mixes labels (soft targets). Everything else is derived
from this table: the option checks (:mod:`.options`, read when the workflow loads), the registry
(:func:`.registry.build_augmentation`), :func:`.names.needs_cam`, the class's ``name``,
``needs_cam`` and ``soft_targets`` (:class:`.base.BatchAugmentation`) and the names the config
accepts (the schema leaves them open; :func:`.options.check_names` checks them).

Adding a method: one row here and one :class:`~.base.BatchAugmentation` subclass (plus a line in
docs/augmentations.md). The names are fixed once results exist: a path names its arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

from proxy_attention.augment.checks import ALPHA, FRACTION, MINMAX, PROB, Check, at_least, choice, integer, real
from proxy_attention.errors import ConfigError

Joint = Callable[[dict], Optional[tuple[str, str]]]


@dataclass(frozen=True)
class Method:
    name: str
    cls: str  # "package.module:Class" of its BatchAugmentation; "" for none (crop and flip only)
    defaults: Mapping[str, Any]
    checks: Mapping[str, Check]
    needs_cam: bool = False  # needs the model's CAM of each batch (the trainer passes cam_fn)
    soft_targets: bool = False  # mixes labels: built with num_classes and label_smoothing
    joint: tuple[Joint, ...] = ()  # checks between options, on the full options: (key, what) when broken

    def __post_init__(self):
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "checks", MappingProxyType(dict(self.checks)))
        if set(self.defaults) != set(self.checks):
            raise ValueError(f"augmentation {self.name!r}: options with defaults {sorted(self.defaults)} "
                             f"but checks {sorted(self.checks)}")


def _top_k_fits(options: dict):
    if options["top_k"] > options["grid"] ** 2:
        return "top_k", f"must be an integer in [1, grid**2 = {options['grid'] ** 2}]"
    return None


_A = "proxy_attention.augment"
METHODS: tuple[Method, ...] = (
    Method("none", "", {}, {}),
    Method("mixup", f"{_A}.mixing:MixUp", {"alpha": 1.0, "prob": 1.0}, {"alpha": ALPHA, "prob": PROB},
           soft_targets=True),
    Method("cutmix", f"{_A}.mixing:CutMix", {"alpha": 1.0, "prob": 1.0, "minmax": None},
           {"alpha": ALPHA, "prob": PROB, "minmax": MINMAX}, soft_targets=True),
    Method("cutout", f"{_A}.erasing:Cutout", {"size": 0.5, "prob": 1.0}, {"size": FRACTION, "prob": PROB}),
    Method("random_erasing", f"{_A}.erasing:RandomErasing",
           {"probability": 0.25, "mode": "pixel", "max_count": 1, "min_area": 0.02, "max_area": 0.3333},
           {"probability": PROB, "mode": choice("pixel", "rand", "const"), "max_count": integer(1),
            "min_area": FRACTION, "max_area": FRACTION},
           joint=(at_least("max_area", "min_area"),)),
    Method("randaugment", f"{_A}.policies:RandAugment", {"num_ops": 2, "magnitude": 9},
           {"num_ops": integer(1), "magnitude": integer(0, 30)}),
    Method("trivialaugment", f"{_A}.policies:TrivialAugment", {"num_magnitude_bins": 31},
           {"num_magnitude_bins": integer(2)}),
    Method("augmix", f"{_A}.policies:AugMix", {"severity": 3, "mixture_width": 3, "chain_depth": -1, "alpha": 1.0},
           {"severity": integer(1, 10), "mixture_width": integer(1), "chain_depth": integer(1, also=(-1,)),
            "alpha": ALPHA}),
    Method("saliencymix", f"{_A}.saliency:SaliencyMix", {"alpha": 1.0, "prob": 1.0}, {"alpha": ALPHA, "prob": PROB},
           needs_cam=True, soft_targets=True),
    Method("attentive_cutmix", f"{_A}.saliency:AttentiveCutMix", {"grid": 7, "top_k": 6, "prob": 1.0},
           {"grid": integer(1), "top_k": integer(1), "prob": PROB}, needs_cam=True, soft_targets=True,
           joint=(_top_k_fits,)),
    Method("keepaugment", f"{_A}.saliency:KeepAugment", {"size": 0.5, "prob": 1.0, "tau": 0.1, "trials": 10},
           {"size": FRACTION, "prob": PROB, "tau": real(0, 1, lo_open=True), "trials": integer(1)}, needs_cam=True),
    # the official ImageNet run (d 96..224 px of a 224 px crop, ratio 0.6, mode 1, rotate 360,
    # prob ramped to 0.8): docs/augmentations.md
    Method("gridmask", f"{_A}.erasing:GridMask",
           {"d_min": 0.43, "d_max": 1.0, "ratio": 0.6, "mode": 1, "rotate": 360, "prob": 0.8},
           {"d_min": FRACTION, "d_max": FRACTION, "ratio": real(0, 1, lo_open=True, hi_open=True),
            "mode": integer(0, 1), "rotate": real(0, 360), "prob": PROB},
           joint=(at_least("d_max", "d_min"),)),
)


def names() -> tuple[str, ...]:
    """The methods' names, in the table's order."""
    return tuple(m.name for m in METHODS)


def method(name: str) -> Method:
    """The row of ``name``; a :class:`ConfigError` listing the table's names if there is none."""
    for m in METHODS:
        if m.name == name:
            return m
    raise ConfigError(f"config key 'augmentation': unknown augmentation {name!r}; allowed: {', '.join(names())}")


def method_of_class(cls: type) -> Method:
    """The row whose ``cls`` is the class ``cls``."""
    where = f"{cls.__module__}:{cls.__qualname__}"
    for m in METHODS:
        if m.cls == where:
            return m
    raise LookupError(f"{where} is not the class of a row of proxy_attention.augment.table")
