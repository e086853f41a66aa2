"""Mixup and CutMix, through :class:`timm.data.Mixup` (batch mode: one lambda per batch,
image ``i`` mixed with image ``m-1-i``; CutMix's lambda corrected by the clipped box area).

timm's Mixup draws from numpy's global RNG and needs an even batch. Here numpy's (and
python's) global RNG is seeded from ``gen`` for the call and restored afterwards; an odd
batch mixes its largest even prefix and leaves the last image unmixed, with its one-hot
(smoothed) target; the workflow warns about an odd ``training.batch_size`` when it loads
(:func:`proxy_attention.config.warn_odd_batch`, docs/augmentations.md). Targets are soft (N, num_classes) with
``label_smoothing`` applied.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from timm.data import Mixup

from .base import BatchAugmentation, CamFn, seeded_python_numpy, smooth_one_hot


class _TimmMix(BatchAugmentation):
    def __init__(self, num_classes: int, label_smoothing: float, **mixup_kwargs):
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self._mixup = Mixup(
            mode="batch", correct_lam=True, label_smoothing=self.label_smoothing,
            num_classes=self.num_classes, **mixup_kwargs,
        )

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = x01.shape[0]
        m = n - n % 2
        out = x01.clone()
        targets = smooth_one_hot(y, self.num_classes, self.label_smoothing)
        if m:
            with seeded_python_numpy(gen):
                mixed, t = self._mixup(out[:m], y[:m])  # mixes the view in place
            out[:m] = mixed
            targets[:m] = t.to(targets.dtype)
        return out, targets


class MixUp(_TimmMix):
    """Mixup (Zhang et al. 2018): ``lam * x + (1 - lam) * x[partner]``, lam ~ Beta(alpha, alpha);
    the batch is mixed with probability ``prob``."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, alpha: float = 1.0, prob: float = 1.0):
        self.alpha, self.prob = float(alpha), float(prob)
        super().__init__(num_classes, label_smoothing, mixup_alpha=self.alpha, cutmix_alpha=0.0, prob=self.prob)


class CutMix(_TimmMix):
    """CutMix (Yun et al. 2019): a box of the partner pasted into each image, area ``1 - lam``
    with lam ~ Beta(alpha, alpha) (or side fractions uniform in ``minmax``); target weights
    by the clipped box area. The batch is mixed with probability ``prob``."""

    def __init__(
        self, num_classes: int, label_smoothing: float = 0.0, alpha: float = 1.0, prob: float = 1.0,
        minmax: Optional[Sequence[float]] = None,
    ):
        self.alpha, self.prob = float(alpha), float(prob)
        self.minmax = None if minmax is None else tuple(float(v) for v in minmax)
        super().__init__(
            num_classes, label_smoothing, mixup_alpha=0.0, cutmix_alpha=self.alpha,
            cutmix_minmax=self.minmax, prob=self.prob,
        )
