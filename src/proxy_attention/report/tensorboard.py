"""Optional TensorBoard event files of the per-epoch curves (replaces the thesis's TensorBoard-to-DataFrame step:
the CSVs are the record; event files are only for browsing them in TensorBoard).

Needs the ``tensorboard`` package, which is not a dependency of this project.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from proxy_attention.atomic import atomic_dir

SCALARS = ["train_loss", "train_acc", "val_loss", "val_acc", "lr"]


# What makes a training run: the protocol too, so that the honest and the thesis protocol's runs of
# one configuration are two TensorBoard runs, not one.
RUN_KEYS = ["dataset", "model", "schedule", "protocol", "seed", "fold", "method", "config"]


def run_name(row) -> str:
    """``digits/resnet18/2p2p2/honest/seed0/fold0/baseline`` or ``.../proxy/cam_method~gradcam/...``."""
    tail = row["config"] if row["method"] == row["config"] else f"{row['method']}/{row['config']}"
    return (f"{row['dataset']}/{row['model']}/{row['schedule']}/{row['protocol']}/"
            f"seed{row['seed']}/fold{row['fold']}/{tail}")


def write_event_files(epochs: pd.DataFrame, out_dir: str | Path) -> int:
    """One TensorBoard run per training run, scalars ``SCALARS`` by global epoch; returns the number of runs."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError("TensorBoard event files need the tensorboard package: pip install tensorboard") from e
    n = 0
    with atomic_dir(out_dir) as tmp:
        for _, run in epochs.groupby(RUN_KEYS, sort=True):
            writer = SummaryWriter(log_dir=str(Path(tmp) / run_name(run.iloc[0])))
            for row in run.sort_values("epoch").itertuples():
                for key in SCALARS:
                    if hasattr(row, key) and pd.notna(getattr(row, key)):
                        writer.add_scalar(key, float(getattr(row, key)), int(row.epoch))
            writer.close()
            n += 1
    return n
