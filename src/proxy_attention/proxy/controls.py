"""Controls that say which part of Proxy Attention does the work (issue 24).

Each control is a run beside a proxy run, on the same fold, seed, schedule and augmentation arm,
that sees the same number of images; it differs from the proxy run in one thing only:

- ``baseline_matched`` (the compute-matched baseline): as many extra *original* training images,
  drawn at random, as the proxy run had proxies. Proxy - matched is the value of the proxies beyond
  more updates.
- ``replay``: exactly the images the proxy run selected at each proxy step (the same misclassified
  subset), added *unmodified* with their true labels. Proxy - replay is the value of the edit.
- ``random_location``: the same selected images, the same formula, threshold and weight, and the
  same CAM values -- so the same number of changed pixels and the same change per pixel -- but with
  the CAM moved to another place of the image: a cyclic shift by a random offset of between a
  quarter and three quarters of the image in each direction. Proxy - random_location is the value
  of the CAM's *where*.

The first proxy step of every configuration searches the same shared round-0 model, so the images
it selects depend only on ``subset_wrong`` and ``subset_order`` (and its count only on
``subset_wrong``): the first round of the matched baseline and of the replay are trained once per
such key and shared by every configuration that has it (:func:`first_step_rows`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from proxy_attention import atomic

# Salt of the random-location offsets, apart from every other random stream of a run.
RANDOM_LOCATION_SALT = 0x5A17


def first_step_rows(checkpoint: str | Path, split_csv, cache_npy, fold: int, protocol: str, seed: int,
                    subset_wrong: float, subset_order: str, batch_size: int = 256, device: str = "auto") -> np.ndarray:
    """Index rows the first proxy step of any configuration with ``subset_wrong`` and ``subset_order``
    selects: the same search of round 0's model and the same seeded choice as the proxy step."""
    from proxy_attention.data.tensors import Normalize
    from proxy_attention.devices import resolve_device
    from proxy_attention.models import load_checkpoint, model_from_checkpoint
    from proxy_attention.proxy.selection import select_wrong
    from proxy_attention.train.predictions import predict_with_loss, recorded_predictions
    from proxy_attention.train.trainset import proxy_candidates

    x, y, rows, _, _ = proxy_candidates(split_csv, cache_npy, fold, protocol, seed, 1)
    ckpt = load_checkpoint(checkpoint)
    recorded = recorded_predictions(ckpt, rows)
    if recorded is None:
        dev = resolve_device(device)
        model = model_from_checkpoint(ckpt).to(dev).float()
        recorded = predict_with_loss(model, x, y, Normalize(ckpt["mean"], ckpt["std"], device=dev), batch_size, dev)
    preds, losses = recorded
    _, chosen = select_wrong(preds, losses, y, subset_wrong, subset_order, seed, 1)
    return np.asarray(rows)[chosen]


def manifest_rows(manifests: list[str | Path]) -> np.ndarray:
    """The source index rows of the images listed by proxy-step manifests, in order."""
    frames = [pd.read_csv(m, usecols=["index_row"])["index_row"].to_numpy() for m in manifests]
    return np.concatenate(frames).astype(np.int64) if frames else np.empty(0, np.int64)


def shift_offsets(n: int, height: int, width: int, seed: int, round_: int) -> np.ndarray:
    """(n, 2) cyclic offsets (dy, dx), each between a quarter and three quarters of the image side,
    so that the moved map lies away from where the CAM put it."""
    rng = np.random.default_rng([seed, round_, RANDOM_LOCATION_SALT])

    def side(s: int) -> np.ndarray:
        low, high = max(1, s // 4), max(1, (3 * s) // 4)
        return rng.integers(low, high + 1, size=n)

    dy = side(height)
    dx = side(width)
    return np.stack([dy, dx], axis=1)


def random_location_maps(cams: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each CAM cyclically shifted by its offset: the same values, so the same pixels pass any threshold
    and each is changed by the same amount, at another place."""
    out = np.empty_like(cams)
    for i, (dy, dx) in enumerate(offsets):
        out[i] = np.roll(cams[i], shift=(int(dy), int(dx)), axis=(0, 1))
    return out


def write_random_location_step(proxy_step_dir: str | Path, cache_npy: str | Path, out_dir: str | Path,
                               proxy: dict, seed: int, round_: int) -> str:
    """The random-location control of proxy step ``round_``: the proxy run's selected images and CAMs
    (``proxy_step_dir``), each CAM moved (:func:`random_location_maps`), the same formula; written like
    a proxy step (``images/``, ``manifest.csv``, ``cams.npz``, ``stats.json``). Returns the manifest."""
    from proxy_attention.data.imagecache import load_cache
    from proxy_attention.data.tensors import to_nchw
    from proxy_attention.proxy.replacement import proxy_images
    from proxy_attention.proxy.step import save_pngs

    t0 = time.time()
    step, out_dir = Path(proxy_step_dir), Path(out_dir)
    manifest = pd.read_csv(step / "manifest.csv")
    with np.load(step / "cams.npz") as z:
        rows, cams = z["index_row"].astype(np.int64), z["cam"].astype(np.float32)
    if not np.array_equal(rows, manifest["index_row"].to_numpy()):
        raise ValueError(f"{step}: cams.npz and manifest.csv list other images")
    n = len(rows)
    h, w = (cams.shape[1], cams.shape[2]) if n else (0, 0)
    offsets = shift_offsets(n, h, w, seed, round_)
    moved = random_location_maps(cams, offsets)
    cache = load_cache(cache_npy)
    names = [f"r{round_}_{int(r):07d}.png" for r in rows]
    frac = np.zeros(n)
    overlap = np.zeros(n)
    t, wt, how = float(proxy["proxy_threshold"]), float(proxy["proxy_image_weight"]), proxy.get("replacement", "multiply")
    with atomic.atomic_dir(out_dir / "images") as tmp:
        for start in range(0, n, 256):
            stop = min(n, start + 256)
            x01 = to_nchw(cache[rows[start:stop]]).float().div_(255)
            out, mask = proxy_images(x01, torch.from_numpy(moved[start:stop]), t, wt, how)
            _, cam_mask = proxy_images(x01[:, :1], torch.from_numpy(cams[start:stop]), t, wt, how)
            frac[start:stop] = mask.float().mean(dim=(1, 2)).numpy()
            both = (mask & cam_mask).float().sum(dim=(1, 2))
            overlap[start:stop] = (both / mask.float().sum(dim=(1, 2)).clamp(min=1)).numpy()
            png = (out * 255).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
            save_pngs([tmp / names[i] for i in range(start, stop)], png)
    with atomic.atomic_path(out_dir / "cams.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, index_row=rows, cam=moved, offset=offsets.astype(np.int64))
    out = manifest.copy()
    out["proxy_file"] = [f"images/{n_}" for n_ in names]
    out["frac_changed"] = frac
    out["frac_overlap_cam"] = overlap
    atomic.write_csv(out_dir / "manifest.csv", out)
    atomic.write_json(out_dir / "stats.json", {
        "round": round_, "control": "random_location", "of": str(step),
        "n_chosen": int(n), "n_written": int(n),
        "mean_frac_changed": float(frac.mean()) if n else None,
        "mean_frac_changed_proxy": float(manifest["frac_changed"].mean()) if n else None,
        "mean_frac_overlap_cam": float(overlap.mean()) if n else None,
        "wall_s": time.time() - t0,
    })
    return str(out_dir / "manifest.csv")
