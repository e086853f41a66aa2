"""Proxy gallery: for a few images of each proxy step, the original | its CAM | the proxy image written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from proxy_attention.report.plots import empty_figure, plt, save


def gallery_items(step_dirs: list[str | Path], images_per_step: int) -> pd.DataFrame:
    """``images_per_step`` manifest rows of every step, spread evenly over its rows in index order
    (so over the classes, where the index is sorted by class), with their CAMs."""
    rows = []
    for r, step in enumerate(step_dirs, start=1):
        step = Path(step)
        manifest = pd.read_csv(step / "manifest.csv")
        if manifest.empty:
            continue
        cams = np.load(step / "cams.npz")
        cam_of = {int(i): c for i, c in zip(cams["index_row"], cams["cam"])}
        manifest = manifest.sort_values("index_row", kind="stable").reset_index(drop=True)
        pick = np.unique(np.linspace(0, len(manifest) - 1, min(images_per_step, len(manifest))).round().astype(int))
        for row in manifest.iloc[pick].itertuples():
            rows.append({"step": r, "index_row": int(row.index_row), "label": row.label, "pred": row.pred_label,
                         "frac_changed": row.frac_changed, "proxy_file": step / row.proxy_file,
                         "cam": cam_of[int(row.index_row)]})
    return pd.DataFrame(rows)


def plot_gallery(step_dirs: list[str | Path], originals: np.ndarray, threshold: float, title: str, out,
                 images_per_step: int = 4, per_row: int = 2) -> None:
    """Per proxy step a block of rows, ``per_row`` images to a row; per image three panels:
    original (true and predicted label), CAM overlay (white contour at the threshold), proxy image.

    ``originals`` is the image cache (N, H, W, 3 uint8) indexed by the manifests' ``index_row``.
    """
    from PIL import Image

    items = gallery_items(step_dirs, images_per_step)
    if items.empty:
        return empty_figure(f"{title}: no proxy images were written", out)
    steps = sorted(items["step"].unique())
    k = int(items.groupby("step").size().max())
    per_row = min(per_row, k)
    rows_per_step = -(-k // per_row)
    fig, axes = plt.subplots(len(steps) * rows_per_step, 3 * per_row, squeeze=False,
                             figsize=(1.35 * 3 * per_row, 1.65 * len(steps) * rows_per_step + 0.5))
    for ax in axes.flat:
        ax.set_axis_off()
    for i, step in enumerate(steps):
        for j, it in enumerate(items[items["step"] == step].itertuples()):
            row, col = i * rows_per_step + j // per_row, 3 * (j % per_row)
            orig = originals[it.index_row]
            with Image.open(it.proxy_file) as im:
                proxy = np.asarray(im.convert("RGB"))
            a, b, c = axes[row][col: col + 3]
            a.imshow(orig, interpolation="nearest")
            b.imshow(orig, interpolation="nearest")
            b.imshow(it.cam, cmap="jet", alpha=0.5, vmin=0, vmax=1, interpolation="bilinear")
            if it.cam.min() < threshold <= it.cam.max():
                b.contour(it.cam, levels=[threshold], colors="white", linewidths=1)
            c.imshow(proxy, interpolation="nearest")
            a.set_title(f"true {it.label}, pred {it.pred}", fontsize=8)
            b.set_title("CAM", fontsize=8)
            c.set_title(f"proxy, {100 * it.frac_changed:.0f}% changed", fontsize=8)
        axes[i * rows_per_step][0].text(-0.12, 0.5, f"proxy step {step}", transform=axes[i * rows_per_step][0].transAxes,
                                        rotation=90, va="center", ha="right", fontsize=9, weight="bold")
    fig.suptitle(title, fontsize=9)
    save(fig, out)
