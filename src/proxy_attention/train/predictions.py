"""The misclassified search: eval-mode predictions and losses of a fold's training images.

A proxy step needs the predicted class and the loss of every original training image
of the round before it. The training job of that round already holds the trained model
in memory, so it records them in its checkpoint (``record_predictions``); the proxy step
reads them back (``recorded_predictions``) instead of loading the images and running the
forward pass again. That also makes the shared round 0 searched once per fold, not once
per proxy configuration. A checkpoint without a record (written by another tool, or by an
older version) is searched in the proxy step as before.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from proxy_attention.data.tensors import Normalize

KEY = "train_predictions"


@torch.no_grad()
def predict_with_loss(model, x_u8: torch.Tensor, y: torch.Tensor, normalize: Normalize, batch_size: int, device):
    """Predicted class and per-image loss, eval mode, float32, no augmentation."""
    was_training = model.training
    model.eval()
    preds, losses = [], []
    for start in range(0, len(x_u8), batch_size):
        xb = normalize(x_u8[start : start + batch_size].to(device).float().div_(255))
        logits = model(xb).float()
        yb = y[start : start + batch_size].to(device)
        preds.append(logits.argmax(1).cpu())
        losses.append(F.cross_entropy(logits, yb, reduction="none").cpu())
    model.train(was_training)
    if not preds:
        return torch.empty(0, dtype=torch.long), torch.empty(0)
    return torch.cat(preds), torch.cat(losses)


def record_predictions(model, x_u8: torch.Tensor, y: torch.Tensor, rows: np.ndarray, normalize: Normalize,
                       batch_size: int, device) -> dict:
    """The search's result for the images ``x_u8`` (index rows ``rows``), to store in a checkpoint under ``KEY``."""
    if len(rows) != len(x_u8):
        raise ValueError(f"{len(rows)} index rows for {len(x_u8)} images")
    pred, loss = predict_with_loss(model, x_u8, y, normalize, batch_size, device)
    return {"rows": torch.as_tensor(np.asarray(rows, dtype=np.int64)), "pred": pred, "loss": loss,
            "batch_size": int(batch_size)}


def recorded_predictions(ckpt: dict, rows: np.ndarray):
    """``(pred, loss)`` recorded in ``ckpt`` for exactly the index rows ``rows``, or None if nothing is recorded.

    A record for other rows means the training job and the proxy step disagree on the
    fold's training images: that is a bug, so it raises instead of searching quietly.
    """
    rec = ckpt.get(KEY)
    if rec is None:
        return None
    have = np.asarray(rec["rows"], dtype=np.int64)
    if not np.array_equal(have, np.asarray(rows, dtype=np.int64)):
        raise ValueError(f"the checkpoint records predictions for {len(have)} training images, but this proxy step "
                         f"searches {len(rows)} other ones (the round's training images differ from the proxy "
                         "step's candidates)")
    return torch.as_tensor(rec["pred"]).cpu(), torch.as_tensor(rec["loss"]).cpu()
