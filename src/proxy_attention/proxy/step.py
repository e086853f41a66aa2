"""One proxy step: find the misclassified training images, CAM them, write proxy images.

Only the fold's *training* part is searched (eval mode, no augmentation,
no proxies of earlier steps), so validation and test images can never become
proxies. Outputs, in the step's directory:

- ``images/*.png``  lossless proxy images, ``where(cam >= t, (1 - w) * cam * x, x)`` by default
- ``cams.npz``      the CAM of every proxy image (and its index row), to audit the formula
- ``manifest.csv``  source image, true and predicted label, proxy file, fraction of pixels changed
- ``stats.json``    counts of the step (training images searched, wrong, chosen, written), CAM layer and grid, time

Zero wrong images is a valid step: the manifest is empty and training goes on.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from proxy_attention import atomic
from proxy_attention.data.tensors import Normalize
from proxy_attention.devices import resolve_device
from proxy_attention.models import cam_target, load_checkpoint, model_from_checkpoint
from proxy_attention.npzstream import NpzWriter
from proxy_attention.proxy.cams import cam_maps, check_cam_grid
from proxy_attention.proxy.replacement import proxy_images
from proxy_attention.proxy.search import predict_with_loss, recorded_predictions
from proxy_attention.proxy.selection import select_wrong

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    "source", "index_row", "label", "label_idx", "pred_label", "pred_idx", "loss", "proxy_file", "frac_changed",
]


@dataclass
class ProxySettings:
    cam_method: str = "gradcampp"
    proxy_threshold: float = 0.8
    proxy_image_weight: float = 0.1
    subset_wrong: float = 1.0
    subset_order: str = "random"  # random | loss
    replacement: str = "multiply"
    cam_target: str = "predicted"  # predicted | label (the true class)
    cam_target_layer: str | None = None
    batch_size: int = 64


def _save_png(path: Path, arr: np.ndarray) -> None:
    Image.fromarray(arr).save(path, format="PNG", compress_level=1)


class PngWriters:
    """Lossless PNGs written on 4 threads while the next batch is computed.

    At most two batches are in flight: :meth:`write` first waits for the batch before the one
    it was last given, so that neither their pixels nor the writers' finished futures pile up
    with the number of images (kept, they cost about 100 KB per image in resident memory).
    A failed write fails the step.
    """

    def __init__(self, folder: Path, threads: int = 4):
        self.folder = folder
        self._pool = ThreadPoolExecutor(max_workers=threads)
        self._pending: list = []

    def write(self, names: list[str], images: np.ndarray) -> None:
        """Write ``images[i]`` (H, W, 3) uint8 to ``folder / names[i]``."""
        submitted = [self._pool.submit(_save_png, self.folder / n, images[i]) for i, n in enumerate(names)]
        self._wait()
        self._pending = submitted

    def _wait(self) -> None:
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()

    def __enter__(self) -> "PngWriters":
        return self

    def __exit__(self, exc_type, *_) -> None:
        try:
            if exc_type is None:
                self._wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def save_pngs(paths: list[Path], arrays: np.ndarray) -> None:
    """Lossless PNGs of (N, H, W, 3) uint8 ``arrays``, written the way the proxy step writes its images."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(_save_png, paths, arrays))


def run_proxy_step(
    checkpoint: str | Path,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    train_rows: np.ndarray,
    index_paths: list[str],
    classes: list[str],
    settings: ProxySettings,
    seed: int,
    round_: int,
    out_dir: str | Path,
    device: str = "auto",
    threads: int | None = None,
) -> pd.DataFrame:
    """Run one proxy step and write ``out_dir/{images/, cams.npz, manifest.csv}``; return the manifest."""
    t0 = time.time()
    out_dir = Path(out_dir)
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, map_location=dev)
    model = model_from_checkpoint(ckpt).to(dev).float()
    normalize = Normalize(ckpt["mean"], ckpt["std"], device=dev)

    recorded = recorded_predictions(ckpt, train_rows)
    if recorded is None:
        preds, losses = predict_with_loss(model, train_x, train_y, normalize, settings.batch_size, dev)
    else:  # the training job ran the search with the model in memory (search.py)
        preds, losses = recorded
    wrong, chosen = select_wrong(preds, losses, train_y, settings.subset_wrong, settings.subset_order, seed, round_)
    log.info("proxy step %d: %d of %d training images misclassified (%s), %d chosen (subset %.2f, %s)",
             round_, len(wrong), len(train_x), "searched here" if recorded is None else "recorded by the training job",
             len(chosen), settings.subset_wrong, settings.subset_order)

    targets = (preds if settings.cam_target == "predicted" else train_y)[chosen].numpy()
    layer_name, layer, reshape = cam_target(model, settings.cam_target_layer)
    grid = check_cam_grid(model, layer_name, layer, reshape, normalize(train_x[:1].to(dev).float().div_(255)))
    rows = train_rows[chosen]
    names = [f"r{round_}_{int(r):07d}.png" for r in rows]
    frac_changed = np.empty(len(chosen))
    # One batch at a time: its images to float, normalised, on the device, CAM'd, edited, their PNGs
    # handed to the writers and their CAMs appended to cams.npz. Nothing the size of all chosen images
    # exists at once (the same batches, hence the same CAMs and files, as when all were converted first).
    with atomic.atomic_dir(out_dir / "images") as tmp_images, atomic.atomic_path(out_dir / "cams.npz") as tmp_cams, \
            open(tmp_cams, "wb") as fh, NpzWriter(fh) as npz, PngWriters(tmp_images) as pngs:
        npz.add("index_row", rows.astype(np.int64))
        with npz.stream("cam", (len(chosen),) + tuple(train_x.shape[2:]), np.float32) as append_cams:
            for start in range(0, len(chosen), settings.batch_size):
                stop = min(len(chosen), start + settings.batch_size)
                x01 = train_x[chosen[start:stop]].to(dev).float().div_(255)
                cams = cam_maps(model, normalize(x01), targets[start:stop], settings.cam_method,
                                layer_name, layer, reshape, batch_size=settings.batch_size)
                append_cams(cams.cpu().numpy())
                # edited on the device; only the maps (for cams.npz) and the uint8 proxies come back
                proxies, mask = proxy_images(x01, cams, settings.proxy_threshold,
                                             settings.proxy_image_weight, settings.replacement)
                frac_changed[start:stop] = mask.float().mean(dim=(1, 2)).cpu().numpy()
                png = (proxies * 255).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
                pngs.write(names[start:stop], png)
    labels = train_y[chosen].numpy()
    pred_idx = preds[chosen].numpy()
    manifest = pd.DataFrame({
        "source": [index_paths[int(r)] for r in rows],
        "index_row": rows.astype(np.int64),
        "label": [classes[i] for i in labels],
        "label_idx": labels,
        "pred_label": [classes[i] for i in pred_idx],
        "pred_idx": pred_idx,
        "loss": losses.numpy()[chosen],
        "proxy_file": [f"images/{n}" for n in names],
        "frac_changed": frac_changed,
    }, columns=MANIFEST_COLUMNS)
    atomic.write_csv(out_dir / "manifest.csv", manifest)
    n_unchanged = int((frac_changed == 0).sum())
    if n_unchanged:  # whatever the cause (threshold, a flat CAM, ...): say it where the numbers are
        log.warning("proxy step %d: %d of %d proxy images changed no pixel (%s): they are unmodified copies of "
                    "their training images, not proxies; proxy_threshold is %g (1.0 means the CAM's maximum)",
                    round_, n_unchanged, len(manifest),
                    "the step changed no pixel at all" if n_unchanged == len(manifest) else "the others did",
                    settings.proxy_threshold)
    atomic.write_json(out_dir / "stats.json", {
        "round": round_,
        "n_searched": int(len(train_x)),
        "search": "here" if recorded is None else "recorded by the training job",
        "n_wrong": int(len(wrong)),
        "n_chosen": int(len(chosen)),
        "n_written": int(len(manifest)),
        "mean_frac_changed": float(np.mean(frac_changed)) if len(frac_changed) else None,
        "n_unchanged": n_unchanged,  # proxies identical to their image: not proxies at all
        "changed_no_pixel": bool(len(manifest)) and n_unchanged == len(manifest),
        "cam_method": settings.cam_method,
        "cam_layer": layer_name,
        "cam_grid": [int(g) for g in grid],
        "wall_s": time.time() - t0,
    })
    log.info("proxy step %d: wrote %d proxy images (mean %.1f%% pixels changed) in %.1fs (%s at '%s', %dx%d grid)",
             round_, len(manifest), 100 * float(np.mean(frac_changed)) if len(frac_changed) else 0.0,
             time.time() - t0, settings.cam_method, layer_name, *grid)
    return manifest
