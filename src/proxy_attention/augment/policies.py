"""Automatic augmentation policies through :mod:`torchvision.transforms.v2`: RandAugment
(Cubuk et al. 2020), TrivialAugment Wide (Müller & Hutter 2021) and AugMix (Hendrycks et al.
2020), on uint8 images.

Applied to a batch, v2 draws ONE op for all images (pytorch/vision#8484), so each image is
transformed on its own. v2 draws from torch's global RNG: it is seeded from ``gen`` inside
:func:`torch.random.fork_rng`, so the caller's global stream (dropout) is untouched. The
batch goes x01 -> uint8 (rounded) -> op -> float / 255, so the output is quantised to 1/255.
"""

from __future__ import annotations

from typing import Optional

import torch
from torchvision.transforms import v2

from .base import BatchAugmentation, CamFn, seeded_torch


class _PerImagePolicy(BatchAugmentation):
    _op: v2.Transform

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        u8 = (x01 * 255.0).round().clamp(0, 255).to(torch.uint8)
        with seeded_torch(gen, x01.device):
            out = torch.stack([self._op(img) for img in u8])
        return out.to(x01.dtype) / 255.0, y


class RandAugment(_PerImagePolicy):
    """RandAugment: ``num_ops`` ops drawn per image, at ``magnitude`` of 31 bins (0..30)."""

    name = "randaugment"

    def __init__(self, num_ops: int = 2, magnitude: int = 9):
        self.num_ops, self.magnitude = int(num_ops), int(magnitude)
        self._op = v2.RandAugment(num_ops=self.num_ops, magnitude=self.magnitude, num_magnitude_bins=31)


class TrivialAugment(_PerImagePolicy):
    """TrivialAugment Wide: one op per image at a magnitude uniform over ``num_magnitude_bins``."""

    name = "trivialaugment"

    def __init__(self, num_magnitude_bins: int = 31):
        self.num_magnitude_bins = int(num_magnitude_bins)
        self._op = v2.TrivialAugmentWide(num_magnitude_bins=self.num_magnitude_bins)


class AugMix(_PerImagePolicy):
    """AugMix: ``mixture_width`` chains of ``chain_depth`` ops (-1: 1..3 at random) at
    ``severity`` (1..10), mixed with Dirichlet(alpha) weights and blended with the original by
    Beta(alpha, alpha). Only the augmented image is returned (no Jensen-Shannon loss)."""

    name = "augmix"

    def __init__(self, severity: int = 3, mixture_width: int = 3, chain_depth: int = -1, alpha: float = 1.0):
        self.severity, self.mixture_width = int(severity), int(mixture_width)
        self.chain_depth, self.alpha = int(chain_depth), float(alpha)
        self._op = v2.AugMix(
            severity=self.severity, mixture_width=self.mixture_width, chain_depth=self.chain_depth, alpha=self.alpha,
        )
