"""Erasing: timm's Random Erasing, DeVries & Taylor's Cutout and Chen et al.'s GridMask.

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
- :class:`GridMask` (Chen et al. 2020, arXiv:2001.04086): a periodic grid of squares removed
  (filled with 0, as Cutout) per image, with per-image period, offset and rotation; batched.
"""

from __future__ import annotations

import math
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


def grid_mask(
    h: int, w: int, d: torch.Tensor, side: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor,
    angle: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """(N, H, W) bool: the removed squares of GridMask, on the CPU.

    Per image ``i`` (all arguments (N,) tensors): an infinite grid of period ``d[i]`` pixels whose
    removed squares have side ``side[i]`` and top-left corners at ``(dy[i] + k d[i], dx[i] + m d[i])``
    for all integers k, m, so squares that cross the border wrap into partial squares on the other
    side of the unit. With ``angle`` (degrees), the grid is rotated counterclockwise by that angle
    about the image centre. Each pixel is tested at its centre: pixel ``(r, c)`` is removed when
    ``floor(v - dy) mod d < side`` and ``floor(u - dx) mod d < side``, with ``(v, u)`` its centre
    ``(r + 0.5, c + 0.5)`` carried back by the inverse rotation; without rotation that is
    ``(r - dy) mod d < side`` and ``(c - dx) mod d < side``, exactly.
    """
    n = d.shape[0]
    col = lambda t: torch.as_tensor(t, dtype=torch.float64).reshape(n, 1, 1)  # noqa: E731
    rows = torch.arange(h, dtype=torch.float64).view(1, h, 1) + 0.5
    cols = torch.arange(w, dtype=torch.float64).view(1, 1, w) + 0.5
    if angle is None:
        v, u = rows.expand(n, h, w), cols.expand(n, h, w)
    else:
        theta = col(angle) * (math.pi / 180.0)
        cos, sin = torch.cos(theta), torch.sin(theta)
        ry, rx = rows - h / 2, cols - w / 2  # row axis points down: counterclockwise on screen
        v = h / 2 + rx * sin + ry * cos
        u = w / 2 + rx * cos - ry * sin
    period, side_ = col(d), col(side)
    in_y = torch.remainder(torch.floor(v - col(dy)), period) < side_
    in_x = torch.remainder(torch.floor(u - col(dx)), period) < side_
    return in_y & in_x


class GridMask(BatchAugmentation):
    """GridMask: with probability ``prob`` per image, a grid of squares removed (set to 0).

    Per image: the period ``d`` is uniform over the integers in
    ``[round(d_min * S), round(d_max * S)]`` (``S`` the shorter image side, at least 2 pixels);
    the kept band of each unit has width ``l = floor(ratio * d + 1/2)`` clamped to
    ``[1, d - 1]``, and ``mode = 1`` (the paper's GridMask) removes in every unit the square of
    side ``d - l``, so a fraction ``(1 - ratio)**2`` of the image (the paper's keep ratio
    ``k = 1 - (1 - ratio)**2``); ``mode = 0`` (the official code's "revised GridMask") removes
    the bands instead and keeps only those squares. The offsets ``(dy, dx)`` are uniform over
    ``[0, d - 1]`` and the angle uniform in ``[0, rotate)`` degrees. See :func:`grid_mask`.
    """

    def __init__(
        self, d_min: float = 0.43, d_max: float = 1.0, ratio: float = 0.6, mode: int = 1,
        rotate: float = 360.0, prob: float = 0.8,
    ):
        self.d_min, self.d_max, self.ratio = float(d_min), float(d_max), float(ratio)
        self.mode, self.rotate, self.prob = int(mode), float(rotate), float(prob)

    def periods(self, h: int, w: int) -> tuple[int, int]:
        """The smallest and largest period in pixels for an ``h`` x ``w`` image."""
        side = min(h, w)
        lo = max(2, math.floor(self.d_min * side + 0.5))
        return lo, max(lo, math.floor(self.d_max * side + 0.5))

    def removed_side(self, d: torch.Tensor) -> torch.Tensor:
        """The side of the square removed from (mode 1), or kept in (mode 0), a unit of period ``d``."""
        kept_band = torch.floor(self.ratio * d.double() + 0.5).long().clamp(min=1).minimum(d - 1)
        return d - kept_band

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = x01.shape
        lo, hi = self.periods(h, w)
        # the same five draws in the same order whatever the options
        d = torch.randint(lo, hi + 1, (n,), generator=gen)
        dy = (torch.rand(n, generator=gen, dtype=torch.float64) * d).long().minimum(d - 1)
        dx = (torch.rand(n, generator=gen, dtype=torch.float64) * d).long().minimum(d - 1)
        angle = torch.rand(n, generator=gen, dtype=torch.float64) * self.rotate
        apply = torch.rand(n, generator=gen) < self.prob
        squares = grid_mask(h, w, d, self.removed_side(d), dy, dx, angle if self.rotate > 0 else None)
        removed = squares if self.mode == 1 else ~squares
        mask = (removed & apply.view(n, 1, 1)).to(x01.device)[:, None]
        return x01.masked_fill(mask, 0.0), y
