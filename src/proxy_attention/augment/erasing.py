"""Erasing: timm's Random Erasing and DeVries & Taylor's Cutout.

- :class:`RandomErasing` (Zhong et al. 2020) through
  :class:`timm.data.random_erasing.RandomErasing`, which works on *normalised* tensors and
  draws from python's ``random`` (box) and torch's global RNG (noise fill): the batch is
  normalised with ``mean``/``std``, erased, and de-normalised; both RNGs are seeded from
  ``gen`` and restored. Pixels outside the boxes are returned bit-identical. In the
  ``pixel``/``rand`` modes the fill is timm's N(0, 1) noise in normalised space, so erased
  pixels may lie outside [0, 1] after de-normalisation (the trainer normalises again, and the
  model sees exactly timm's values).
- :class:`Cutout` (DeVries & Taylor 2017): one box per image of side ``size`` x the image
  side, centre uniform over the image, clipped at the border, filled with 0; batched.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from timm.data.random_erasing import RandomErasing as _TimmRandomErasing

from .base import (
    BatchAugmentation,
    CamFn,
    box_bounds,
    box_mask,
    seeded_python_numpy,
    seeded_torch,
)


class RandomErasing(BatchAugmentation):
    """Random Erasing: per image with probability ``probability``, 1..``max_count`` boxes of
    area fraction in [min_area, max_area] (split by count), aspect in [0.3, 1/0.3]."""

    name = "random_erasing"

    def __init__(
        self, probability: float = 0.25, mode: str = "pixel", max_count: int = 1, min_area: float = 0.02,
        max_area: float = 1 / 3, mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
    ):
        self.probability, self.mode, self.max_count = float(probability), str(mode), int(max_count)
        self.min_area, self.max_area = float(min_area), float(max_area)
        self.mean, self.std = tuple(float(v) for v in mean), tuple(float(v) for v in std)

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1)
        before = (x01 - mean) / std
        erased = before.clone()
        eraser = _TimmRandomErasing(
            probability=self.probability, min_area=self.min_area, max_area=self.max_area,
            mode=self.mode, min_count=1, max_count=self.max_count, device=x01.device,
        )
        with seeded_python_numpy(gen), seeded_torch(gen, x01.device):
            eraser(erased)
        return torch.where(erased != before, erased * std + mean, x01), y


class Cutout(BatchAugmentation):
    """Cutout: with probability ``prob`` per image, a zero box of ``round(size*H) x round(size*W)``
    pixels centred uniformly over the image (clipped at the border)."""

    name = "cutout"

    def __init__(self, size: float = 0.5, prob: float = 1.0):
        self.size, self.prob = float(size), float(prob)

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = x01.shape
        cy = torch.randint(0, h, (n,), generator=gen)
        cx = torch.randint(0, w, (n,), generator=gen)
        apply = torch.rand(n, generator=gen) < self.prob
        yl, yh = box_bounds(cy, max(1, round(self.size * h)), h)
        xl, xh = box_bounds(cx, max(1, round(self.size * w)), w)
        mask = box_mask(yl, yh, xl, xh, h, w, "cpu") & apply.view(n, 1, 1)
        mask = mask.to(x01.device)[:, None]
        return x01.masked_fill(mask, 0.0), y
