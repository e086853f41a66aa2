"""The batch augmentations by name, and ``build_augmentation``.

Option defaults and checks live in :mod:`.options` (torch-free, for the workflow's load-time
check); ``build_augmentation`` validates and builds. A bad name or option raises
:class:`~proxy_attention.errors.ConfigError` naming ``augmentation_options.<name>.<key>`` and
what is allowed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .base import BatchAugmentation
from .erasing import Cutout, GridMask, RandomErasing
from .mixing import CutMix, MixUp
from .options import DEFAULT_OPTIONS, validate_options
from .policies import AugMix, RandAugment, TrivialAugment
from .saliency import AttentiveCutMix, KeepAugment, SaliencyMix

__all__ = ["AUGMENTATIONS", "DEFAULT_OPTIONS", "IMAGENET_MEAN", "IMAGENET_STD", "build_augmentation", "validate_options"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

AUGMENTATIONS: dict[str, Optional[type[BatchAugmentation]]] = {
    "none": None,
    "mixup": MixUp,
    "cutmix": CutMix,
    "cutout": Cutout,
    "random_erasing": RandomErasing,
    "randaugment": RandAugment,
    "trivialaugment": TrivialAugment,
    "augmix": AugMix,
    "saliencymix": SaliencyMix,
    "attentive_cutmix": AttentiveCutMix,
    "keepaugment": KeepAugment,
    "gridmask": GridMask,
}


def build_augmentation(
    name: str,
    options: Optional[Mapping[str, Any]],
    num_classes: int,
    label_smoothing: float = 0.0,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
) -> Optional[BatchAugmentation]:
    """The augmentation ``name`` with ``options`` over its defaults; None for ``'none'``.

    ``num_classes`` and ``label_smoothing`` are used by the soft-target methods; ``mean`` and
    ``std`` (the model's normalisation) by random_erasing.
    """
    full = validate_options(name, options)
    cls = AUGMENTATIONS[name]
    if cls is None:
        return None
    if cls.soft_targets:  # mixed labels: num_classes and label smoothing
        return cls(num_classes=num_classes, label_smoothing=label_smoothing, **full)
    if name == "random_erasing":
        return cls(mean=mean, std=std, **full)
    return cls(**full)
