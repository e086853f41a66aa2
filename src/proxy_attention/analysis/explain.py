"""Explanation quality of a final model: its CAMs on a fixed sample of test images, scored (thesis 4.8.1, 5.2).

Every final model (the last round of the baseline and of each proxy run) is
scored on the *same* test images -- a sample drawn with the config's ``seed``
from the held-out test split -- so that models trained with and without Proxy
Attention can be compared on their explanations, not only on accuracy.
pytorch-grad-cam's metrics do the scoring, with the softmax probability of the
explained class as the score:

- ``road_combined``: ROAD (Rong et al. 2022), the mean over the removal
  percentiles of (probability drop when the *least* relevant pixels are
  imputed - drop when the *most* relevant are) / 2. Higher is better: the
  CAM's high values mark pixels the model needs.
- ``cam_conf_change``: the change of the probability when the image is
  multiplied by its CAM, i.e. only the CAM's region is kept. Higher (closer to
  zero or positive) is better: the region alone carries the decision.

Outputs: ``explain.csv`` (one row per image; ``cam_flat`` marks a constant CAM, e.g. all zero
when no activation supports the class, whose scores are about 0 by construction) and
``explain.npz`` (the CAMs, for the gallery).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

from proxy_attention import atomic
from proxy_attention.analysis.aggregate import EXPLAIN_SCORES
from proxy_attention.cams import check_cam_grid, compute_cams
from proxy_attention.data.tensors import Normalize
from proxy_attention.devices import resolve_device
from proxy_attention.models import cam_target, load_checkpoint, model_from_checkpoint

log = logging.getLogger(__name__)

SCORES = EXPLAIN_SCORES


@dataclass
class ExplainSettings:
    n_images: int = 32
    cam_method: str = "gradcam"
    cam_target: str = "label"  # label (the true class) | predicted
    percentiles: list[int] = field(default_factory=lambda: [20, 40, 60, 80])
    cam_target_layer: str | None = None
    batch_size: int = 32


def sample_rows(n_test: int, n_images: int, seed: int) -> np.ndarray:
    """Positions (sorted) of the scored images in the test split: the same for every model of a config seed."""
    rng = np.random.default_rng([seed, 0x5EED])
    return np.sort(rng.choice(n_test, size=min(n_images, n_test), replace=False))


def explain_checkpoint(
    checkpoint: str | Path,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    test_rows: np.ndarray,
    settings: ExplainSettings,
    seed: int,
    out_csv: str | Path,
    out_npz: str | Path,
    device: str = "auto",
    threads: int | None = None,
) -> pd.DataFrame:
    """Score the CAMs of ``checkpoint`` on the sampled test images; write one row per image and the CAMs."""
    t0 = time.time()
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    ckpt = load_checkpoint(checkpoint, map_location=dev)
    model = model_from_checkpoint(ckpt).to(dev).float().eval()
    normalize = Normalize(ckpt["mean"], ckpt["std"], device=dev)

    pick = sample_rows(len(test_x), settings.n_images, seed)
    n, bs = len(pick), settings.batch_size
    y = test_y[pick].to(dev)

    def inputs(sl: slice) -> torch.Tensor:
        """The normalised images of one batch, on the device (one batch at a time, never all of them)."""
        return normalize(test_x[pick[sl]].to(dev).float().div_(255))

    layer_name, layer, reshape = cam_target(model, settings.cam_target_layer)
    check_cam_grid(model, layer_name, layer, reshape, inputs(slice(0, 1)))

    # Batch by batch: probabilities, the CAMs of the explained class, then their scores. The same
    # batches as when every image was normalised first, and nothing but ROAD's imputer draws random
    # numbers, so its noise and the scores are the same too.
    torch.manual_seed(seed)  # ROAD's imputer adds noise from torch's global generator
    road = ROADCombined(percentiles=list(settings.percentiles))
    keep = CamMultImageConfidenceChange()
    cams = np.empty((n,) + tuple(test_x.shape[2:]), np.float16)  # as explain.npz stores them
    cam_flat = np.empty(n, bool)
    pred = torch.empty(n, dtype=torch.long, device=dev)
    prob_target = np.empty(n, np.float32)
    road_scores, conf_scores = [], []
    for i in range(0, n, bs):
        sl = slice(i, i + bs)
        x = inputs(sl)
        with torch.no_grad():
            probs = model(x).float().softmax(1)
        pred[sl] = probs.argmax(1)
        targets = (y[sl] if settings.cam_target == "label" else pred[sl]).cpu().numpy()
        prob_target[sl] = probs[torch.arange(len(x)), torch.as_tensor(targets, device=dev)].cpu().numpy()
        cams_b = compute_cams(model, x, targets, settings.cam_method, layer_name, layer, reshape, bs)
        tg = [ClassifierOutputSoftmaxTarget(int(t)) for t in targets]
        road_scores.append(np.asarray(road(x, cams_b, tg, model), dtype=np.float64).reshape(-1))
        conf_scores.append(np.asarray(keep(x, cams_b, tg, model), dtype=np.float64).reshape(-1))
        cams[sl] = cams_b
        cam_flat[sl] = np.ptp(cams_b.reshape(len(cams_b), -1), axis=1) == 0

    rows = test_rows[pick]
    table = pd.DataFrame({
        "index_row": rows.astype(np.int64),
        "label_idx": y.cpu().numpy(),
        "pred_idx": pred.cpu().numpy(),
        "prob_target": prob_target,
        "correct": (pred == y).cpu().numpy(),
        "road_combined": np.concatenate(road_scores) if road_scores else np.empty(0),
        "cam_conf_change": np.concatenate(conf_scores) if conf_scores else np.empty(0),
        "cam_flat": cam_flat,
        "cam_method": settings.cam_method,
        "cam_target": settings.cam_target,
        "cam_layer": layer_name,
    })
    with atomic.atomic_path(out_npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, index_row=rows.astype(np.int64), cam=cams,
                                pred_idx=pred.cpu().numpy(), label_idx=y.cpu().numpy())
    atomic.write_csv(out_csv, table)
    log.info("%s: explained %d test images with %s at '%s': ROAD combined %.4f, confidence change %.4f (%.1fs)",
             checkpoint, len(table), settings.cam_method, layer_name, table["road_combined"].mean(),
             table["cam_conf_change"].mean(), time.time() - t0)
    return table
