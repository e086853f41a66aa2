"""The interface of a batch augmentation, and the random-number plumbing they share.

A batch augmentation runs on a training batch after the base crop/flip
(:mod:`.basic`) and before normalisation. All of its randomness comes from the CPU
generator ``gen`` handed in by the trainer: libraries that draw from a global RNG
(numpy's, python's ``random``, torch's) are seeded from ``gen`` and their previous
global state is restored afterwards, so a call changes no global RNG stream (the
trainer's dropout, for one) and the same ``gen`` state gives the same output.
"""

from __future__ import annotations

import contextlib
import random
from typing import Callable, Iterator, Optional

import numpy as np
import torch

CamFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``cam_fn(x01, y) -> (N, H, W)`` float in [0, 1]: the current model's CAM for the true labels."""


class BatchAugmentation:
    """One augmentation method applied to a whole batch.

    ``__call__(x01, y, gen, cam_fn=None) -> (x01_aug, targets)``

    - ``x01``: float (N, 3, H, W) in [0, 1], any device; ``y``: int64 (N,) labels.
    - ``gen``: a CPU :class:`torch.Generator`, the only source of randomness.
    - ``cam_fn``: needed when ``needs_cam`` is True (see :data:`CamFn`).
    - returns the augmented batch (same shape, dtype and device; the input is not
      modified) and the targets: ``y`` itself when ``soft_targets`` is False, else a
      float (N, num_classes) tensor whose rows sum to 1.
    """

    # name, needs_cam and soft_targets are the class's row of the table (proxy_attention.augment.table)
    @property
    def method(self):
        from .table import method_of_class

        return method_of_class(type(self))

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def soft_targets(self) -> bool:
        return self.method.soft_targets

    @property
    def needs_cam(self) -> bool:
        return self.method.needs_cam

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()) if not k.startswith("_"))
        return f"{type(self).__name__}({opts})"


def draw_seed(gen: torch.Generator) -> int:
    """A 63-bit seed drawn from ``gen`` (advances it)."""
    return int(torch.randint(0, 2**63 - 1, (1,), generator=gen).item())


@contextlib.contextmanager
def seeded_python_numpy(gen: torch.Generator) -> Iterator[None]:
    """Seed python's ``random`` and numpy's global RNG from ``gen``; restore both on exit."""
    seed = draw_seed(gen)
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@contextlib.contextmanager
def seeded_torch(gen: torch.Generator, device: torch.device) -> Iterator[None]:
    """Seed torch's global CPU RNG (and that of ``device`` when it is a GPU) from ``gen``
    inside :func:`torch.random.fork_rng`, so the caller's global streams are untouched."""
    seed = draw_seed(gen)
    device = torch.device(device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        if devices:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def smooth_one_hot(y: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """(N, K) float targets: ``1 - smoothing + smoothing/K`` on the label, ``smoothing/K``
    elsewhere (timm's ``mixup_target`` convention)."""
    off = smoothing / num_classes
    out = torch.full((y.shape[0], num_classes), off, dtype=torch.float32, device=y.device)
    return out.scatter_(1, y.long().view(-1, 1), 1.0 - smoothing + off)


def mixed_targets(
    y: torch.Tensor, partner: torch.Tensor, w_partner: torch.Tensor, num_classes: int, smoothing: float = 0.0
) -> torch.Tensor:
    """``(1 - w) * onehot(y) + w * onehot(y[partner])``, smoothed; ``w_partner`` is (N,)."""
    t = smooth_one_hot(y, num_classes, smoothing)
    w = w_partner.to(device=t.device, dtype=t.dtype).view(-1, 1)
    return (1.0 - w) * t + w * t[partner.to(t.device)]


def box_bounds(centre: torch.Tensor, cut: torch.Tensor | int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[lo, hi)`` of a box of side ``cut`` centred at ``centre`` along an axis of ``size``,
    clipped at the border (timm's ``rand_bbox`` convention: ``lo = c - cut//2``,
    ``hi = c + (cut+1)//2``, so an unclipped box has exactly ``cut`` pixels)."""
    lo = (centre - cut // 2).clamp(0, size)
    hi = (centre + (cut + 1) // 2).clamp(0, size)
    return lo, hi


def box_mask(yl, yh, xl, xh, h: int, w: int, device) -> torch.Tensor:
    """(N, H, W) bool masks of the boxes ``[yl, yh) x [xl, xh)`` (each (N,) or (N, 1))."""
    rows = torch.arange(h, device=device).view(1, h)
    cols = torch.arange(w, device=device).view(1, w)
    def col(v):
        return torch.as_tensor(v, device=device).reshape(-1, 1)
    in_y = (rows >= col(yl)) & (rows < col(yh))
    in_x = (cols >= col(xl)) & (cols < col(xh))
    return in_y[:, :, None] & in_x[:, None, :]


def require_cam(aug: BatchAugmentation, cam_fn: Optional[CamFn]) -> CamFn:
    if cam_fn is None:
        raise ValueError(f"augmentation {aug.name!r} needs cam_fn (the model's CAM for the true labels)")
    return cam_fn
