"""In-memory tensors for one fold, proxy images, normalisation and batched augmentation.

Images stay uint8 (N, C, H, W) until a batch is taken; a batch is turned into
floats, augmented on the whole batch at once (no per-image Python), and
normalised with the model's mean and std.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_nchw(arr: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 array -> contiguous (N, C, H, W) uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(arr).transpose(0, 3, 1, 2)))


def read_png_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def load_proxies(manifests: list[str | Path], img_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Proxy images and their (true) labels listed by proxy-step manifests."""
    paths: list[Path] = []
    labels: list[int] = []
    for m in manifests:
        df = pd.read_csv(m)
        base = Path(m).parent
        paths.extend(base / p for p in df["proxy_file"])
        labels.extend(df["label_idx"].astype(int).tolist())
    if not paths:
        return torch.empty((0, 3, img_size, img_size), dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    with ThreadPoolExecutor(max_workers=4) as pool:
        arrays = list(pool.map(read_png_rgb, paths))
    return to_nchw(np.stack(arrays)), torch.tensor(labels, dtype=torch.int64)


class Normalize:
    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, device="cpu"):
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def __call__(self, x01: torch.Tensor) -> torch.Tensor:
        return (x01 - self.mean) / self.std


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
