"""Pixel replacement methods that turn an image and its CAM into a proxy image (thesis 4.4.1).

All functions take ``x`` (N, C, H, W) in [0, 1] image space and ``cam`` (N, H, W)
in [0, 1] and return the proxy images in [0, 1] plus the boolean mask of
pixels that were changed (N, H, W).

- ``multiply`` (default, thesis Algorithm 1): ``where(cam >= t, (1 - w) * cam * x, x)``
- ``multiply_inverse`` (the author's public code): ``where(cam > t, (1 - w * cam) * x, x)``
- ``mean`` / ``max`` / ``min``: replace with the image's per-channel statistic where ``cam >= t``
- ``black`` / ``white``: replace with 0 / 1 where ``cam >= t``

The statistic-based methods replace pixels outright, so the weight ``w`` does not apply to them.

``t = 1`` means the CAM's maximum, for every method: CAMs are scaled to peak just
below 1.0 (0.99999988: pytorch-grad-cam divides by ``max + 1e-7``), so ``cam >= 1``
would change no pixel at all. At ``t >= 1`` the pixels at the CAM's maximum are
changed (none of an all-zero CAM).
"""

from __future__ import annotations

import torch

REPLACEMENTS = ("multiply", "multiply_inverse", "mean", "max", "min", "black", "white")


def proxy_images(x: torch.Tensor, cam: torch.Tensor, threshold: float, weight: float, method: str = "multiply"):
    if method not in REPLACEMENTS:
        raise ValueError(f"unknown replacement '{method}'; choose one of {list(REPLACEMENTS)}")
    if x.ndim != 4 or cam.ndim != 3 or x.shape[0] != cam.shape[0] or x.shape[2:] != cam.shape[1:]:
        raise ValueError(f"shapes do not match: images {tuple(x.shape)}, cams {tuple(cam.shape)}")
    c = cam.unsqueeze(1).to(x.dtype)  # (N, 1, H, W), broadcast over channels
    if threshold >= 1:  # the CAM's maximum (module docstring); cam >= 1 is never true
        peak = c.amax(dim=(2, 3), keepdim=True)
        mask = (c >= peak) & (peak > 0)
    elif method == "multiply_inverse":
        mask = c > threshold
    else:
        mask = c >= threshold
    if method == "multiply_inverse":
        replaced = (1 - weight * c) * x
    else:
        if method == "multiply":
            replaced = (1 - weight) * c * x
        elif method == "mean":
            replaced = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
        elif method == "max":
            replaced = x.amax(dim=(2, 3), keepdim=True).expand_as(x)
        elif method == "min":
            replaced = x.amin(dim=(2, 3), keepdim=True).expand_as(x)
        elif method == "black":
            replaced = torch.zeros_like(x)
        else:  # white
            replaced = torch.ones_like(x)
    out = torch.where(mask, replaced, x).clamp_(0, 1)
    return out, mask.squeeze(1)
