"""Optional TensorBoard event files: one run per training run, the epoch scalars readable back."""

import pandas as pd
import pytest

from proxy_attention.report.tensorboard import run_name, write_event_files

pytest.importorskip("torch.utils.tensorboard", reason="tensorboard is optional and not installed")


def test_event_files_hold_every_epoch(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ident = dict(dataset="d", model="m", schedule="1p1", seed=0, fold=0)
    epochs = pd.DataFrame([
        {**ident, "method": "baseline", "config": "baseline", "epoch": 1, "val_acc": 0.5, "train_loss": 1.0},
        {**ident, "method": "baseline", "config": "baseline", "epoch": 2, "val_acc": 0.7, "train_loss": 0.5},
        {**ident, "method": "proxy", "config": "cam_method~gradcam", "epoch": 1, "val_acc": 0.5, "train_loss": 1.0},
    ])
    assert write_event_files(epochs, tmp_path / "tb") == 2
    acc = EventAccumulator(str(tmp_path / "tb" / run_name(epochs.iloc[0])))
    acc.Reload()
    assert [(e.step, round(e.value, 3)) for e in acc.Scalars("val_acc")] == [(1, 0.5), (2, 0.7)]
    assert (tmp_path / "tb" / "d/m/1p1/seed0/fold0/proxy/cam_method~gradcam").is_dir()
