"""The augmentation methods by name, and what each needs: a light module (no torch), read by
the workflow when it loads. The methods themselves: :mod:`proxy_attention.augment.registry`."""

from __future__ import annotations

from proxy_attention.augment.options import NAMES as METHODS  # noqa: F401  fixed names: results stay comparable

NONE = "none"
# Methods that need the model's own CAM of each batch (saliency-guided).
SALIENCY_METHODS = frozenset({"saliencymix", "attentive_cutmix", "keepaugment"})


def needs_cam(name: str) -> bool:
    return name in SALIENCY_METHODS


def arm_dir(name: str) -> str:
    """The path segment of an augmentation arm below the protocol: '' for none (today's paths,
    unchanged), ``/aug~<name>`` otherwise."""
    return "" if name == NONE else f"/aug~{name}"


def arm_name(segment: str) -> str:
    """Inverse of :func:`arm_dir`."""
    return segment.removeprefix("/aug~") if segment else NONE
