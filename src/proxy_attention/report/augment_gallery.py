"""A gallery of one batch of training images under each augmentation arm, so that users see what
each method does to their images (the report's ``augmentations.png``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from proxy_attention.augment.names import needs_cam
from proxy_attention.augment.registry import build_augmentation
from proxy_attention.data.imagecache import load_cache
from proxy_attention.data.split import fold_rows
from proxy_attention.data.tensors import Normalize, to_nchw
from proxy_attention.report.arms import plot_augmentation_gallery


def _captions(target: torch.Tensor, classes: list[str]) -> list[str]:
    if target.dim() == 1:
        return [classes[int(t)] for t in target]
    out = []
    for row in target:
        top = torch.topk(row, k=min(2, len(row)))
        out.append(" ".join(f"{classes[int(i)]}:{float(v):.2f}" for v, i in zip(top.values, top.indices) if v > 0.005))
    return out


def _cam_fn(checkpoint, saliency_layer):
    """GradCAM of the true class by the checkpoint's model (the saliency-guided methods' map)."""
    from proxy_attention.cams import compute_cams
    from proxy_attention.models import (
        cam_target,
        load_checkpoint,
        model_from_checkpoint,
    )

    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    normalize = Normalize(ckpt["mean"], ckpt["std"])
    name, layer, reshape = cam_target(model, saliency_layer)

    def cam_fn(x01, y):
        cams = compute_cams(model, normalize(x01), y.tolist(), "gradcam", name, layer, reshape, batch_size=len(x01))
        return torch.from_numpy(cams)

    return cam_fn


def augmentation_gallery(split_csv, cache_npy, augmentations, options, out, seed: int = 0, n_images: int = 8,
                         label_smoothing: float = 0.0, checkpoint=None, saliency_layer=None, title: str = "") -> None:
    split = pd.read_csv(split_csv)
    cache = load_cache(cache_npy)
    train = fold_rows(split, 0)["train"]
    # spread over the (class-sorted) training part, so that mixed labels show two classes
    rows = train[np.linspace(0, len(train) - 1, min(n_images, len(train))).astype(int)]
    classes = split.drop_duplicates("label_idx").sort_values("label_idx")["label"].astype(str).tolist()
    x = to_nchw(cache[rows]).float().div_(255)
    y = torch.from_numpy(split["label_idx"].to_numpy()[rows].astype(np.int64))
    cam_fn = _cam_fn(checkpoint, saliency_layer) if checkpoint and any(needs_cam(a) for a in augmentations) else None
    batches = {}
    for name in augmentations:
        gen = torch.Generator().manual_seed(seed)
        aug = build_augmentation(name, (options or {}).get(name) or {}, len(classes), label_smoothing=label_smoothing)
        xa, target = (x, y) if aug is None else aug(x.clone(), y, gen, cam_fn=cam_fn if aug.needs_cam else None)
        batches[name] = (xa.permute(0, 2, 3, 1).numpy(), _captions(target, classes))
    plot_augmentation_gallery(batches, out, title=title)
