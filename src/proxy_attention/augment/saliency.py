"""Saliency-guided augmentations, implemented here from their papers (no well-kept library
ships them for a current stack), batched over the images.

The saliency map of all three is the CAM of the model being trained, for the true label,
given by the trainer as ``cam_fn(x01, y) -> (N, H, W)`` in [0, 1]. This differs from the
papers: SaliencyMix (Uddin et al. 2021) uses OpenCV's static fine-grained saliency, Attentive
CutMix (Walawalkar et al. 2020) the feature map of a pretrained ResNet-50, KeepAugment (Gong
et al. 2021) the model's gradient saliency. ``cam_fn`` is called once per batch, and only
when at least one image is augmented.

- :class:`SaliencyMix`: per image, lam ~ Beta(alpha, alpha) and a partner (source) from a
  permutation of the batch; a box of ``int(sqrt(1-lam)*H) x int(sqrt(1-lam)*W)`` centred on
  the argmax of the *source's* map (clipped) is pasted from the source at the same place;
  target weights by the clipped box area. Soft targets.
- :class:`AttentiveCutMix`: the source's map averaged over a ``grid x grid`` of cells (cell
  edges at integer pixels, ``floor(i*H/grid)``); its ``top_k`` cells pasted into the target at
  the same cells; weights by the pasted pixel area. Soft targets.
- :class:`KeepAugment`: selective Cutout. Per image, ``trials`` candidate Cutout boxes; the
  first whose saliency sum is below ``tau`` x the image's total saliency is erased (filled
  with 0); if none qualifies nothing is erased (a map that is all zero protects nothing, so
  the first box is taken). Hard targets. Only the paper's selective-cut, not selective-paste.
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np
import torch

from .base import (
    BatchAugmentation,
    CamFn,
    box_bounds,
    box_mask,
    draw_seed,
    mixed_targets,
    require_cam,
    smooth_one_hot,
)


def _cams(aug: BatchAugmentation, cam_fn: Optional[CamFn], x01: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    cams = require_cam(aug, cam_fn)(x01, y)
    n, _, h, w = x01.shape
    if tuple(cams.shape) != (n, h, w):
        raise ValueError(f"cam_fn returned shape {tuple(cams.shape)}, expected {(n, h, w)}")
    return cams.detach().float().cpu()


class _SaliencyPaste(BatchAugmentation):
    """Shared by SaliencyMix and Attentive CutMix: paste ``mask`` of the partner into each image."""

    def _finish(self, x01, y, partner, mask):
        n, _, h, w = x01.shape
        w_partner = mask.flatten(1).sum(1).double() / (h * w)
        mask_d = mask.to(x01.device)[:, None]
        out = torch.where(mask_d, x01.index_select(0, partner.to(x01.device)), x01)
        return out, mixed_targets(y, partner, w_partner.float(), self.num_classes, self.label_smoothing)

    def _identity(self, x01, y):
        return x01.clone(), smooth_one_hot(y, self.num_classes, self.label_smoothing)


class SaliencyMix(_SaliencyPaste):
    """SaliencyMix with the trained model's CAM as the saliency map (see the module docstring)."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, alpha: float = 1.0, prob: float = 1.0):
        self.num_classes, self.label_smoothing = int(num_classes), float(label_smoothing)
        self.alpha, self.prob = float(alpha), float(prob)

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = x01.shape
        lam = torch.from_numpy(np.random.default_rng(draw_seed(gen)).beta(self.alpha, self.alpha, size=n))
        partner = torch.randperm(n, generator=gen)
        apply = torch.rand(n, generator=gen) < self.prob
        if not bool(apply.any()):
            return self._identity(x01, y)
        # the peak of the source image's map: each map's peak, then the partner's
        peak = _cams(self, cam_fn, x01, y).flatten(1).argmax(1)[partner]
        cy, cx = peak // w, peak % w
        ratio = torch.sqrt(1.0 - lam)
        cut_h = (h * ratio).long()
        cut_w = (w * ratio).long()
        yl, yh = box_bounds(cy, cut_h, h)
        xl, xh = box_bounds(cx, cut_w, w)
        mask = box_mask(yl, yh, xl, xh, h, w, "cpu") & apply.view(n, 1, 1)
        return self._finish(x01, y, partner, mask)


def grid_cells(size: int, grid: int) -> torch.Tensor:
    """Cell index (0..grid-1) of each of ``size`` pixels; cell ``i`` is ``[floor(i*size/grid),
    floor((i+1)*size/grid))``."""
    edges = (torch.arange(1, grid + 1) * size) // grid
    return torch.bucketize(torch.arange(size), edges, right=True)


@functools.lru_cache(maxsize=16)
def _cell_layout(h: int, w: int, grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``grid x grid`` cell index of each of the ``h*w`` pixels (row-major) and each cell's
    pixel count (float64), made once per image size; read-only."""
    cell = (grid_cells(h, grid)[:, None] * grid + grid_cells(w, grid)[None, :]).flatten()
    counts = torch.zeros(grid * grid, dtype=torch.float64).scatter_add_(
        0, cell, torch.ones(h * w, dtype=torch.float64))
    return cell, counts


class AttentiveCutMix(_SaliencyPaste):
    """Attentive CutMix with the trained model's CAM as the attention map (see the module docstring)."""

    def __init__(
        self, num_classes: int, label_smoothing: float = 0.0, grid: int = 7, top_k: int = 6, prob: float = 1.0,
    ):
        self.num_classes, self.label_smoothing = int(num_classes), float(label_smoothing)
        self.grid, self.top_k, self.prob = int(grid), int(top_k), float(prob)

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = x01.shape
        g = self.grid
        partner = torch.randperm(n, generator=gen)
        apply = torch.rand(n, generator=gen) < self.prob
        if not bool(apply.any()):
            return self._identity(x01, y)
        cams = _cams(self, cam_fn, x01, y).double()
        cell, counts = _cell_layout(h, w, g)
        idx = cell.expand(n, -1)
        # each map's cell sums, then the source's (its rows, not its whole map, taken by partner)
        sums = torch.zeros(n, g * g, dtype=torch.float64).scatter_add_(1, idx, cams.flatten(1))[partner]
        means = torch.where(counts > 0, sums / counts.clamp(min=1), torch.full_like(sums, -1.0))  # empty cells last
        top = means.topk(min(self.top_k, g * g), dim=1).indices
        chosen = torch.zeros(n, g * g, dtype=torch.bool).scatter_(1, top, True)
        mask = chosen.gather(1, idx).view(n, h, w) & apply.view(n, 1, 1)
        return self._finish(x01, y, partner, mask)


class KeepAugment(BatchAugmentation):
    """KeepAugment's selective Cutout with the trained model's CAM (see the module docstring)."""

    def __init__(self, size: float = 0.5, prob: float = 1.0, tau: float = 0.1, trials: int = 10):
        self.size, self.prob, self.tau, self.trials = float(size), float(prob), float(tau), int(trials)

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = x01.shape
        t = self.trials
        cy = torch.randint(0, h, (n, t), generator=gen)
        cx = torch.randint(0, w, (n, t), generator=gen)
        apply = torch.rand(n, generator=gen) < self.prob
        if not bool(apply.any()):
            return x01.clone(), y
        cams = _cams(self, cam_fn, x01, y).double()
        yl, yh = box_bounds(cy, max(1, round(self.size * h)), h)
        xl, xh = box_bounds(cx, max(1, round(self.size * w)), w)
        # box sums from the integral image, (N, T)
        integral = torch.nn.functional.pad(cams.cumsum(1).cumsum(2), (1, 0, 1, 0)).flatten(1)
        def at(r, c):
            return integral.gather(1, r * (w + 1) + c)
        box_sum = at(yh, xh) - at(yl, xh) - at(yh, xl) + at(yl, xl)
        total = cams.flatten(1).sum(1, keepdim=True)
        ok = (box_sum < self.tau * total) | (total <= 0)
        first = ok.int().argmax(1, keepdim=True)  # first qualifying trial (0 when none: masked below)
        def pick(v):
            return v.gather(1, first).squeeze(1)
        mask = box_mask(pick(yl), pick(yh), pick(xl), pick(xh), h, w, "cpu")
        mask &= (apply & ok.any(1)).view(n, 1, 1)
        return x01.masked_fill(mask.to(x01.device)[:, None], 0.0), y
