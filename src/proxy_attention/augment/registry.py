"""``build_augmentation``: a method of :mod:`.table` built from its name and options.

The options are checked by :mod:`.options` (torch-free, for the workflow's load-time check);
the class is imported from the row's ``cls`` only when a job builds it. A bad name or option
raises :class:`~proxy_attention.errors.ConfigError` naming ``augmentation_options.<name>.<key>``
and what is allowed.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Mapping, Optional

from .base import BatchAugmentation
from .options import validate_options
from .table import method

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "augmentation_class", "build_augmentation", "validate_options"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def augmentation_class(name: str) -> Optional[type[BatchAugmentation]]:
    """The class of the method ``name`` (imported now), None for ``'none'``."""
    where = method(name).cls
    if not where:
        return None
    module, _, cls = where.partition(":")
    return getattr(importlib.import_module(module), cls)


def build_augmentation(
    name: str,
    options: Optional[Mapping[str, Any]],
    num_classes: int,
    label_smoothing: float = 0.0,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
) -> Optional[BatchAugmentation]:
    """The augmentation ``name`` with ``options`` over its defaults; None for ``'none'``.

    Besides its options a class gets those of ``num_classes`` and ``label_smoothing`` (the
    soft-target methods) and ``mean`` and ``std`` (the model's normalisation: random_erasing)
    that its ``__init__`` names.
    """
    full = validate_options(name, options)
    cls = augmentation_class(name)
    if cls is None:
        return None
    given = {"num_classes": num_classes, "label_smoothing": label_smoothing, "mean": mean, "std": std}
    wanted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in given.items() if k in wanted}, **full)
