"""The base augmentation of every training batch: random crop with zero padding and
horizontal flip, on the whole batch at once (no per-image Python)."""

from __future__ import annotations

import torch


def augment(x01: torch.Tensor, gen: torch.Generator, hflip: bool, crop_pad: int) -> torch.Tensor:
    """Random horizontal flip and random crop with zero padding, for a whole batch at once.

    Random numbers come from the CPU generator ``gen``, so results do not depend on the device.
    """
    n, _, h, w = x01.shape
    if crop_pad > 0:
        padded = torch.nn.functional.pad(x01, (crop_pad,) * 4)
        dy = torch.randint(0, 2 * crop_pad + 1, (n,), generator=gen).to(x01.device)
        dx = torch.randint(0, 2 * crop_pad + 1, (n,), generator=gen).to(x01.device)
        ys = dy[:, None] + torch.arange(h, device=x01.device)[None, :]  # (N, H)
        xs = dx[:, None] + torch.arange(w, device=x01.device)[None, :]  # (N, W)
        batch = torch.arange(n, device=x01.device)[:, None, None]
        x01 = padded.permute(0, 2, 3, 1)[batch, ys[:, :, None], xs[:, None, :]].permute(0, 3, 1, 2)
    if hflip:
        flip = (torch.rand(n, generator=gen) < 0.5).to(x01.device).view(n, 1, 1, 1)
        x01 = torch.where(flip, x01.flip(3), x01)
    return x01.contiguous()
