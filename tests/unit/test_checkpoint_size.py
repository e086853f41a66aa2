"""What a round's checkpoint keeps (issue 28): the last round of a schedule stores no optimizer state
and still evaluates, explains and predicts as a full checkpoint does; rounds still equal one go."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_train import run, same_weights, tiny_data

from proxy_attention.analysis.explain import ExplainSettings, explain_checkpoint
from proxy_attention.errors import CheckpointError
from proxy_attention.models import load_checkpoint, model_from_checkpoint
from proxy_attention.predict import predict_folder
from proxy_attention.train.trainer import CONTINUATION_KEYS, Trainer

pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # inside pytorch-grad-cam's ROAD


def test_rounds_equal_one_go_and_only_the_last_round_drops_the_optimizer(tmp_path):
    data = tiny_data()
    one, m_one = run(tmp_path, "one", "4", 0, data)
    r0, _ = run(tmp_path, "r0", "1p1p2", 0, data)
    r1, _ = run(tmp_path, "r1", "1p1p2", 1, data, init=r0 / "checkpoint.pt")
    r2, m_split = run(tmp_path, "r2", "1p1p2", 2, data, init=r1 / "checkpoint.pt")
    assert same_weights(one / "checkpoint.pt", r2 / "checkpoint.pt")
    for key in ("val_acc", "val_loss", "test_acc", "test_loss", "images_seen", "optimizer_steps", "epoch"):
        assert m_one[key] == m_split[key], key
    for d, continued in ((r0, True), (r1, True), (r2, False), (one, False)):
        ckpt = load_checkpoint(d / "checkpoint.pt")
        assert ckpt["continuable"] is continued, d
        assert all((k in ckpt) is continued for k in CONTINUATION_KEYS), (d, sorted(ckpt))
    # AdamW keeps two tensors per weight: the last round is about a third of a continued one
    assert (r2 / "checkpoint.pt").stat().st_size < 0.4 * (r1 / "checkpoint.pt").stat().st_size


def test_a_round_cannot_continue_from_a_last_round(tmp_path):
    data = tiny_data()
    last, _ = run(tmp_path, "last", "2", 0, data)
    with pytest.raises(CheckpointError, match="last round of schedule"):
        run(tmp_path, "next", "2p2", 1, data, init=last / "checkpoint.pt")


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_the_last_round_evaluates_explains_and_predicts_as_a_full_checkpoint(tmp_path, monkeypatch, images):
    data = tiny_data()
    r0, _ = run(tmp_path, "r0", "2p2", 0, data)
    slim, m_slim = run(tmp_path, "slim", "2p2", 1, data, init=r0 / "checkpoint.pt")
    # the checkpoint as every round wrote it before: with the optimizer, LR schedule and scaler
    full_state = Trainer.state
    monkeypatch.setattr(Trainer, "state", lambda self, continuable=True: full_state(self))
    full, m_full = run(tmp_path, "full", "2p2", 1, data, init=r0 / "checkpoint.pt")
    monkeypatch.undo()
    a, b = load_checkpoint(slim / "checkpoint.pt"), load_checkpoint(full / "checkpoint.pt")
    assert all(k in b for k in CONTINUATION_KEYS) and not any(k in a for k in CONTINUATION_KEYS)
    assert same_weights(slim / "checkpoint.pt", full / "checkpoint.pt")
    assert set(b) - set(a) == set(CONTINUATION_KEYS)
    # evaluation: the round's metrics, and logits of the checkpoint's model on the test images
    m_slim.pop("round_wall_s"), m_full.pop("round_wall_s")
    assert m_slim == m_full
    logits = []
    for ckpt in (a, b):
        model = model_from_checkpoint(ckpt).eval()
        x = data["test_x"].float().div(255)
        mean, std = torch.tensor(ckpt["mean"]).view(1, 3, 1, 1), torch.tensor(ckpt["std"]).view(1, 3, 1, 1)
        with torch.no_grad():
            logits.append(model((x - mean) / std))
    assert torch.equal(*logits)
    # explain scores
    settings = ExplainSettings(n_images=4, cam_target_layer="layer1", percentiles=[50], batch_size=4)
    rows = np.arange(len(data["test_x"]))
    tables = [explain_checkpoint(d / "checkpoint.pt", data["test_x"], data["test_y"], rows, settings, seed=1,
                                 out_csv=tmp_path / f"{d.name}.csv", out_npz=tmp_path / f"{d.name}.npz")
              for d in (slim, full)]
    pd.testing.assert_frame_equal(*tables)
    # predict (probabilities and CAM overlays)
    preds = [predict_folder(d / "checkpoint.pt", images, tmp_path / f"pred_{d.name}", cam_target_layer="layer1")
             for d in (slim, full)]
    pd.testing.assert_frame_equal(*preds)
    for f in sorted((tmp_path / "pred_full" / "cams").iterdir()):
        assert f.read_bytes() == (tmp_path / "pred_slim" / "cams" / f.name).read_bytes()
