"""What the workflow asks of an augmentation arm by its name when it loads (no torch): whether it
needs CAMs, its path segment. The methods and their properties: :mod:`proxy_attention.augment.table`."""

from __future__ import annotations

from proxy_attention.augment import table

NONE = "none"


def needs_cam(name: str) -> bool:
    """Whether the method ``name`` needs the model's own CAM of each batch (saliency-guided)."""
    return table.method(name).needs_cam


def arm_dir(name: str) -> str:
    """The path segment of an augmentation arm below the protocol: '' for none (today's paths,
    unchanged), ``/aug~<name>`` otherwise."""
    return "" if name == NONE else f"/aug~{name}"


def arm_name(segment: str) -> str:
    """Inverse of :func:`arm_dir`."""
    return segment.removeprefix("/aug~") if segment else NONE
