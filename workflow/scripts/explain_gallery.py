"""The same test images with the CAM of the baseline's and each proxy run's final model, side by side."""

import numpy as np
import pandas as pd

from proxy_attention.data.imagecache import load_cache
from proxy_attention.logs import setup_logging
from proxy_attention.report.plots import plot_cam_gallery, short_config

setup_logging(snakemake.log[0])
split = pd.read_csv(snakemake.input.split)
classes = split.drop_duplicates("label_idx").sort_values("label_idx")["label"].astype(str).tolist()
cache = load_cache(snakemake.input.cache)
n = snakemake.params.n_images
columns, rows = [], None
for title, scores in zip(snakemake.params.titles, snakemake.params.scores, strict=True):
    cams = scores.removesuffix(".csv") + ".npz"  # in the fold's explain/ folder, beside its scores
    table = pd.read_csv(scores)
    saved = np.load(cams)
    if rows is None:
        rows = saved["index_row"][:n]
        labels = [classes[i] for i in saved["label_idx"][:n]]
    if not np.array_equal(saved["index_row"][:n], rows):
        raise ValueError(f"{cams} explains other test images than the baseline; rerun its explain job")
    columns.append({
        "title": short_config(title),
        "cams": saved["cam"][:n].astype(np.float32),
        "preds": [classes[i] for i in saved["pred_idx"][:n]],
        "scores": table["road_combined"].to_numpy()[:n],
    })
plot_cam_gallery(np.asarray(cache[rows]), labels, columns, snakemake.output[0])
