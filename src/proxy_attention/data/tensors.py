"""In-memory tensors for one fold: uint8 NCHW images, proxy images read from their
manifests, and normalisation with the model's mean and std.

Images stay uint8 (N, C, H, W) until a batch is taken; a batch is turned into
floats, augmented on the whole batch at once (:mod:`proxy_attention.augment`), and
normalised.
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
