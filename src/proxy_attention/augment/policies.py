"""Automatic augmentation policies: RandAugment (Cubuk et al. 2020), TrivialAugment Wide (Müller &
Hutter 2021) and AugMix (Hendrycks et al. 2020), as :mod:`torchvision.transforms.v2` defines them,
on the whole batch at once with each image's own draw.

torchvision's v2 policies draw ONE op for a whole batch (pytorch/vision#8484), and calling them
image by image costs a Python loop over the batch on the device. Here every image's parameters
(ops, magnitudes, signs; AugMix's chain depths and mixing weights) are drawn on the CPU from the
job's generator ``gen``, with torchvision's op sets, magnitude tables and distributions, and the ops
run on the batch grouped by op (:mod:`.policy_ops`); no global RNG is touched. The batch goes x01
-> uint8 (rounded) -> ops -> float / 255, so the output is quantised to 1/255, as with torchvision's
uint8 policies. tests/unit/test_augment_policies.py checks the draws' distributions and each op against
torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torchvision.transforms import v2

from .base import BatchAugmentation, CamFn
from .policy_ops import Space, apply_ops, draw, space


@dataclass
class Slot:
    """One op per image: ``ops`` (N,) int64 index into the space (-1: none), ``mags`` (N,) float64."""

    ops: torch.Tensor
    mags: torch.Tensor


class _BatchedPolicy(BatchAugmentation):
    _space_of: dict  # torchvision's _AUGMENTATION_SPACE
    _num_bins: int
    interpolation = "nearest"

    def _space(self, height: int, width: int) -> Space:
        cache = self.__dict__.setdefault("_spaces", {})
        if (height, width) not in cache:
            cache[height, width] = space(self._space_of, self._num_bins, height, width)
        return cache[height, width]

    def __call__(
        self, x01: torch.Tensor, y: torch.Tensor, gen: torch.Generator, cam_fn: Optional[CamFn] = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        u8 = (x01 * 255.0).round().clamp(0, 255).to(torch.uint8)
        n, _, h, w = u8.shape
        out = self.apply(u8, self.draw(n, h, w, gen))
        return out.to(x01.dtype) / 255.0, y

    def draw(self, n: int, height: int, width: int, gen: torch.Generator):
        raise NotImplementedError

    def apply(self, u8: torch.Tensor, params: list[Slot]) -> torch.Tensor:
        """The drawn slots, one after the other."""
        sp = self._space(*u8.shape[-2:])
        for slot in params:
            u8 = apply_ops(u8, sp, slot.ops, slot.mags, self.interpolation)
        return u8


class RandAugment(_BatchedPolicy):
    """RandAugment: ``num_ops`` ops drawn per image, at ``magnitude`` of 31 bins (0..30)
    (``v2.RandAugment(num_ops, magnitude, num_magnitude_bins=31)``, nearest interpolation)."""

    _space_of = v2.RandAugment._AUGMENTATION_SPACE
    _num_bins = 31

    def __init__(self, num_ops: int = 2, magnitude: int = 9):
        self.num_ops, self.magnitude = int(num_ops), int(magnitude)

    def draw(self, n, height, width, gen) -> list[Slot]:
        sp = self._space(height, width)
        return [Slot(*draw(sp, n, gen, self.magnitude)) for _ in range(self.num_ops)]


class TrivialAugment(_BatchedPolicy):
    """TrivialAugment Wide: one op per image at a magnitude bin uniform over ``num_magnitude_bins``
    (``v2.TrivialAugmentWide``, nearest interpolation)."""

    _space_of = v2.TrivialAugmentWide._AUGMENTATION_SPACE

    def __init__(self, num_magnitude_bins: int = 31):
        self.num_magnitude_bins = int(num_magnitude_bins)
        self._num_bins = self.num_magnitude_bins

    def draw(self, n, height, width, gen) -> list[Slot]:
        sp = self._space(height, width)
        return [Slot(*draw(sp, n, gen, torch.randint(self._num_bins, (n,), generator=gen)))]


@dataclass
class AugMixDraw:
    """AugMix's draw for a batch: ``m`` (N, 2) Beta(alpha, alpha) weights of (original, mixture);
    ``weights`` (N, width) the chains' Dirichlet(alpha) weights times ``m[:, 1]``; ``chains[i]`` the
    slots of chain ``i`` (ops -1 past an image's depth)."""

    m: torch.Tensor
    weights: torch.Tensor
    chains: list[list[Slot]]


class AugMix(_BatchedPolicy):
    """AugMix: ``mixture_width`` chains of ``chain_depth`` ops (-1: 1..3 at random, per image and
    chain) at ``severity`` (magnitude bin uniform in 0..severity-1 of 10), mixed with Dirichlet(alpha)
    weights and blended with the original by Beta(alpha, alpha); the mixture is truncated to uint8,
    as torchvision's. Only the augmented image is returned (no Jensen-Shannon loss).
    (``v2.AugMix`` with all ops, bilinear interpolation.)"""

    _space_of = v2.AugMix._AUGMENTATION_SPACE
    _num_bins = 10  # torchvision's _PARAMETER_MAX
    interpolation = "bilinear"

    def __init__(self, severity: int = 3, mixture_width: int = 3, chain_depth: int = -1, alpha: float = 1.0):
        self.severity, self.mixture_width = int(severity), int(mixture_width)
        self.chain_depth, self.alpha = int(chain_depth), float(alpha)

    def draw(self, n, height, width, gen) -> AugMixDraw:
        sp = self._space(height, width)
        m = torch._sample_dirichlet(torch.full((n, 2), self.alpha), generator=gen)
        mix = torch._sample_dirichlet(torch.full((n, self.mixture_width), self.alpha), generator=gen)
        chains = []
        for _ in range(self.mixture_width):
            if self.chain_depth > 0:
                depth, steps = torch.full((n,), self.chain_depth), self.chain_depth
            else:
                depth, steps = torch.randint(1, 4, (n,), generator=gen), 3
            chain = []
            for step in range(steps):
                ops, mags = draw(sp, n, gen, torch.randint(self.severity, (n,), generator=gen))
                chain.append(Slot(torch.where(step < depth, ops, -1), mags))
            chains.append(chain)
        return AugMixDraw(m, mix * m[:, 1:], chains)

    def apply(self, u8, params: AugMixDraw) -> torch.Tensor:
        sp = self._space(*u8.shape[-2:])
        def per_image(v):
            return v.view(-1, 1, 1, 1).to(u8.device, non_blocking=True)
        mix = per_image(params.m[:, 0]) * u8
        for i, chain in enumerate(params.chains):
            aug = u8
            for slot in chain:
                aug = apply_ops(aug, sp, slot.ops, slot.mags, self.interpolation)
            mix.add_(per_image(params.weights[:, i]) * aug)
        return mix.to(torch.uint8)
