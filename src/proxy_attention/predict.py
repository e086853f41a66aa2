"""Inference (thesis 4.17): a checkpoint and a folder of images -> predictions with probabilities and CAM overlays.

Images are found recursively, decoded and resized exactly as the training cache
does (shorter side to the checkpoint's ``img_size``, centre crop). Outputs in
``out_dir``:

- ``predictions.csv``: file (relative to the image folder), predicted class,
  its probability, and the top-k classes with their probabilities
  (``top1_class``, ``top1_prob``, ..., ``topk_prob``); files that cannot be
  read as images are listed with an empty prediction and the reason
- ``cams/<file>.png``: the image with the CAM of the predicted class overlaid
  (pytorch-grad-cam's ``show_cam_on_image``)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from pytorch_grad_cam.utils.image import show_cam_on_image

from proxy_attention import atomic
from proxy_attention.cams import check_cam_grid, compute_cams
from proxy_attention.data.imagecache import decode_resized
from proxy_attention.data.tensors import Normalize
from proxy_attention.devices import resolve_device
from proxy_attention.models import cam_target, load_checkpoint, model_from_checkpoint

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def find_images(folder: Path, exclude: Path | None = None) -> list[Path]:
    """The image files under ``folder``, recursively; none under ``exclude`` (the output folder)."""
    if not folder.exists():
        raise FileNotFoundError(f"the --images folder {folder} does not exist")
    if not folder.is_dir():
        raise FileNotFoundError(f"--images {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if exclude is not None:
        files = [p for p in files if not p.resolve().is_relative_to(exclude.resolve())]
    if not files:
        raise FileNotFoundError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    return files


def check_out_dir(images: Path, out_dir: Path) -> Path | None:
    """Refuse an output folder that holds the images; return it when it lies inside them (its
    overlays are then left out of the search, so a second run never predicts its own CAMs)."""
    img, out = images.resolve(), out_dir.resolve()
    if img == out or img.is_relative_to(out):
        raise ValueError(f"--out {out_dir} would hold the --images folder {images}: its cams/ and predictions.csv "
                         "would mix with the images; choose a folder outside it")
    return out_dir if out.is_relative_to(img) else None


def predict_folder(
    checkpoint: str | Path,
    images: str | Path,
    out_dir: str | Path,
    cam_method: str = "gradcam",
    cam_target_layer: str | None = None,
    top_k: int = 3,
    batch_size: int = 32,
    device: str = "auto",
    cams: bool = True,
) -> pd.DataFrame:
    images, out_dir = Path(images), Path(out_dir)
    inside = check_out_dir(images, out_dir)
    files = find_images(images, exclude=inside)
    if inside is not None:
        log.info("leaving out %s (the output folder, inside --images) from the images", out_dir)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, map_location=dev)
    model = model_from_checkpoint(ckpt).to(dev).float().eval()
    normalize = Normalize(ckpt["mean"], ckpt["std"], device=dev)
    classes, size = list(ckpt["classes"]), int(ckpt["img_size"])
    k = min(top_k, len(classes))

    arrays, ok, problems = [], [], {}
    for f in files:
        try:
            arrays.append(decode_resized(f, size))
            ok.append(f)
        except Exception as e:  # noqa: BLE001 - an unreadable file is reported, not fatal
            problems[f] = f"{type(e).__name__}: {e}"
            log.warning("skipping %s: %s", f, problems[f])
    if not ok:
        raise ValueError(f"none of the {len(files)} files under {images} could be read as an image")
    x_u8 = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()

    probs = []
    with torch.no_grad():
        for i in range(0, len(x_u8), batch_size):
            xb = normalize(x_u8[i : i + batch_size].to(dev).float().div_(255))
            probs.append(model(xb).float().softmax(1).cpu())
    probs = torch.cat(probs)
    top_p, top_i = probs.topk(k, dim=1)

    rows = []
    for n, f in enumerate(ok):
        row = {"file": str(f.relative_to(images)), "predicted": classes[int(top_i[n, 0])],
               "probability": float(top_p[n, 0]), "problem": ""}
        for j in range(k):
            row[f"top{j + 1}_class"] = classes[int(top_i[n, j])]
            row[f"top{j + 1}_prob"] = float(top_p[n, j])
        rows.append(row)
    for f, why in problems.items():
        rows.append({"file": str(f.relative_to(images)), "predicted": "", "probability": float("nan"), "problem": why})
    table = pd.DataFrame(rows).sort_values("file", kind="stable").reset_index(drop=True)

    if cams:
        layer_name, layer, reshape = cam_target(model, cam_target_layer)
        first = normalize(x_u8[:1].to(dev).float().div_(255))
        check_cam_grid(model, layer_name, layer, reshape, first)
        with atomic.atomic_dir(out_dir / "cams") as tmp:
            for i in range(0, len(x_u8), batch_size):
                xb = normalize(x_u8[i : i + batch_size].to(dev).float().div_(255))
                maps = compute_cams(model, xb, top_i[i : i + batch_size, 0].numpy(), cam_method, layer_name, layer,
                                    reshape, batch_size)
                for n, m in enumerate(maps, start=i):
                    overlay = show_cam_on_image(arrays[n].astype(np.float32) / 255, m, use_rgb=True)
                    dest = tmp / ok[n].relative_to(images).with_suffix(".png")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(overlay).save(dest)
        table["cam_file"] = [f"cams/{Path(p).with_suffix('.png')}" if not why else ""
                             for p, why in zip(table["file"], table["problem"])]
    table = table[[c for c in table.columns if c != "problem"] + ["problem"]]
    atomic.write_csv(out_dir / "predictions.csv", table)
    log.info("predicted %d images (%d unreadable) with %s; results in %s", len(ok), len(problems),
             ckpt["model_name"], out_dir)
    return table
