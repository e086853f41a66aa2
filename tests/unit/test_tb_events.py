"""Optional TensorBoard event files: one run per training run, the epoch scalars readable back.

tensorboard is optional for a user (`tensorboard: true`) but part of the test extra and pinned in
constraints.txt, so this test runs (never skips) in CI and after the README's install.
"""

import pandas as pd

from proxy_attention.report.tensorboard import RUN_KEYS, run_name, write_event_files

IDENT = dict(dataset="d", model="m", schedule="1p1", protocol="honest", seed=0, fold=0)


def test_run_names_keep_protocols_apart():
    """The honest and the thesis protocol's runs of one configuration are two runs, not one."""
    honest = {**IDENT, "method": "proxy", "config": "cam_method~gradcam"}
    thesis = {**honest, "protocol": "thesis"}
    assert run_name(honest) == "d/m/1p1/honest/seed0/fold0/proxy/cam_method~gradcam"
    assert run_name(thesis) != run_name(honest)
    assert "protocol" in RUN_KEYS


def test_event_files_hold_every_epoch(tmp_path):
    # no importorskip: a missing tensorboard is a broken test install (pip install -c constraints.txt -e ".[test]")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    epochs = pd.DataFrame([
        {**IDENT, "method": "baseline", "config": "baseline", "epoch": 1, "val_acc": 0.5, "train_loss": 1.0},
        {**IDENT, "method": "baseline", "config": "baseline", "epoch": 2, "val_acc": 0.7, "train_loss": 0.5},
        {**IDENT, "method": "proxy", "config": "cam_method~gradcam", "epoch": 1, "val_acc": 0.5, "train_loss": 1.0},
        {**IDENT, "protocol": "thesis", "method": "proxy", "config": "cam_method~gradcam", "epoch": 1,
         "val_acc": 0.6, "train_loss": 1.0},
    ])
    assert write_event_files(epochs, tmp_path / "tb") == 3
    acc = EventAccumulator(str(tmp_path / "tb" / run_name(epochs.iloc[0])))
    acc.Reload()
    assert [(e.step, round(e.value, 3)) for e in acc.Scalars("val_acc")] == [(1, 0.5), (2, 0.7)]
    assert (tmp_path / "tb" / "d/m/1p1/honest/seed0/fold0/proxy/cam_method~gradcam").is_dir()
    assert (tmp_path / "tb" / "d/m/1p1/thesis/seed0/fold0/proxy/cam_method~gradcam").is_dir()
