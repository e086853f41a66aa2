"""The misclassified search recorded by the training job equals a search in the proxy step."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from proxy_attention.data.tensors import Normalize
from proxy_attention.models import load_checkpoint, model_from_checkpoint
from proxy_attention.proxy.step import ProxySettings, run_proxy_step
from proxy_attention.train.predictions import KEY, predict_with_loss, recorded_predictions
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import TrainSettings
from proxy_attention.train.trainer import train_round
from proxy_attention.train.trainset import search_set

ROWS = np.arange(100, 124)


def train(tmp_path, name, search=False, n=24, size=48):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    y = torch.arange(n) % 3
    s = TrainSettings(model="resnet10t", num_classes=3, classes=["a", "b", "c"], img_size=size, batch_size=8,
                      eval_batch_size=8)
    data = {"train_x": x, "train_y": y, "val_x": x[:4], "val_y": y[:4], "test_x": x[:4], "test_y": y[:4]}
    d = tmp_path / name
    d.mkdir()
    train_round(s, parse_schedule("1"), 0, data, None, d / "c.pt", d / "m.json", d / "e.csv", threads=1,
                search=search_set(data, {"train_rows": ROWS}) if search else None)
    return d / "c.pt", x, y


def test_recorded_predictions_equal_a_fresh_search(tmp_path):
    ckpt, x, y = train(tmp_path, "rec", search=True)
    c = load_checkpoint(ckpt)
    assert c[KEY]["rows"].tolist() == ROWS.tolist()
    pred, loss = predict_with_loss(model_from_checkpoint(c), x, y, Normalize(c["mean"], c["std"]), 8, "cpu")
    rec_pred, rec_loss = recorded_predictions(c, ROWS)
    assert torch.equal(rec_pred, pred)
    torch.testing.assert_close(rec_loss, loss)
    assert (pred != y).any(), "the tiny model should get some random images wrong"


def test_proxy_step_reads_the_record_and_writes_the_same_proxies(tmp_path):
    """Same seeds, same training: one checkpoint with the record, one without; same proxy step."""
    rec, x, y = train(tmp_path, "rec", search=True)
    plain, _, _ = train(tmp_path, "plain")
    assert KEY not in load_checkpoint(plain)
    settings = ProxySettings(cam_method="gradcam", proxy_threshold=0.3, proxy_image_weight=0.4, subset_wrong=0.5, batch_size=8)
    paths = [f"train/c/{i}.png" for i in range(200)]
    out = {}
    for name, ckpt in (("rec", rec), ("plain", plain)):
        out[name] = tmp_path / f"{name}_proxy1"
        run_proxy_step(ckpt, x, y, ROWS, paths, ["a", "b", "c"], settings, seed=3, round_=1, out_dir=out[name], threads=1)
    stats = {k: json.loads((d / "stats.json").read_text()) for k, d in out.items()}
    assert stats["rec"]["search"] == "recorded by the training job" and stats["plain"]["search"] == "here"
    assert stats["rec"]["n_chosen"] > 0
    a, b = (pd.read_csv(d / "manifest.csv") for d in out.values())
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(np.load(out["rec"] / "cams.npz")["cam"], np.load(out["plain"] / "cams.npz")["cam"])


def test_a_record_for_other_images_is_an_error(tmp_path):
    ckpt, x, y = train(tmp_path, "rec", search=True)
    with pytest.raises(ValueError, match="records predictions for 24 training images"):
        run_proxy_step(ckpt, x, y, ROWS + 1, [f"p{i}" for i in range(200)], ["a", "b", "c"], ProxySettings(), seed=0,
                       round_=1, out_dir=tmp_path / "p", threads=1)


def test_matched_baseline_rounds_are_no_search_set():
    x = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    data = {"train_x": x, "train_y": torch.zeros(4, dtype=torch.long)}
    with pytest.raises(ValueError, match="repeated training images"):
        search_set(data, {"train_rows": np.array([1, 2, 2, 3])})
    got = search_set({"train_x": torch.cat([x, x[:1]]), "train_y": torch.zeros(5, dtype=torch.long)},
                     {"train_rows": np.array([1, 2, 3, 4])})
    assert len(got["x"]) == 4 and got["rows"].tolist() == [1, 2, 3, 4]  # the proxy after the originals is left out


@pytest.mark.parametrize("name", ["resnet10t", "test_maxvit"])  # test_maxvit has non-persistent buffers
def test_model_from_checkpoint_equals_the_trained_model(name):
    from proxy_attention.models import create_model

    torch.manual_seed(0)
    model = create_model(name, 3).eval()
    ckpt = {"model_name": name, "num_classes": 3, "model": model.state_dict()}
    rebuilt = model_from_checkpoint(ckpt).eval()
    assert not any(t.is_meta for t in (*rebuilt.parameters(), *rebuilt.buffers()))
    size = model.pretrained_cfg["input_size"][-1]
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
