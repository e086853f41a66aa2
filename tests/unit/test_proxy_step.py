"""A proxy step on a real (tiny) model: files written, formula audited, edge cases."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from proxy_attention.data.tensors import Normalize
from proxy_attention.errors import CamError
from proxy_attention.models import load_checkpoint, model_from_checkpoint
from proxy_attention.proxy.step import ProxySettings, predict_with_loss, run_proxy_step
from proxy_attention.train.schedule import parse_schedule
from proxy_attention.train.settings import TrainSettings
from proxy_attention.train.trainer import train_round


def make_checkpoint(tmp_path, size=64, n=24):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8)
    y = torch.arange(n) % 3
    s = TrainSettings(model="resnet10t", num_classes=3, classes=["a", "b", "c"], img_size=size, batch_size=8)
    data = {"train_x": x, "train_y": y, "val_x": x[:4], "val_y": y[:4], "test_x": x[:4], "test_y": y[:4]}
    ckpt = tmp_path / "round0.pt"
    train_round(s, parse_schedule("1"), 0, data, None, ckpt, tmp_path / "m.json", tmp_path / "e.csv", threads=1)
    return ckpt, x, y


def step(ckpt, x, y, out, **kw):
    settings = ProxySettings(**{"cam_method": "gradcampp", "proxy_threshold": 0.3, "proxy_image_weight": 0.4, **kw})
    rows = np.arange(100, 100 + len(x))
    paths = [f"train/c/{i}.png" for i in range(200)]
    return run_proxy_step(ckpt, x, y, rows, paths, ["a", "b", "c"], settings, seed=0, round_=1, out_dir=out, threads=1)


def test_proxy_images_follow_the_formula(tmp_path):
    ckpt, x, y = make_checkpoint(tmp_path)
    out = tmp_path / "proxy1"
    manifest = step(ckpt, x, y, out)
    c = load_checkpoint(ckpt)
    preds, _ = predict_with_loss(model_from_checkpoint(c), x, y, Normalize(c["mean"], c["std"]), 8, "cpu")
    wrong = np.flatnonzero((preds != y).numpy())
    assert len(wrong) > 0, "the tiny model should get some random images wrong"
    assert len(manifest) == len(wrong) == len(list((out / "images").glob("*.png")))
    pd.testing.assert_frame_equal(pd.read_csv(out / "manifest.csv"), manifest, check_dtype=False)
    assert (manifest.pred_idx != manifest.label_idx).all()
    assert manifest.index_row.tolist() == (100 + wrong).tolist()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["n_searched"] == len(x) and stats["n_wrong"] == stats["n_chosen"] == stats["n_written"] == len(wrong)
    assert stats["mean_frac_changed"] == pytest.approx(manifest.frac_changed.mean())
    cams = np.load(out / "cams.npz")
    assert cams["index_row"].tolist() == manifest.index_row.tolist()
    assert cams["cam"].shape == (len(wrong), 64, 64)
    assert cams["cam"].min() >= 0 and cams["cam"].max() <= 1
    changed_any = False
    for i, row in manifest.iterrows():
        src = x[row.index_row - 100].float().numpy() / 255  # (C, H, W) in [0, 1]
        cam = cams["cam"][i]
        expected = np.where(cam >= 0.3, (1 - 0.4) * cam * src, src)
        png = np.asarray(Image.open(out / row.proxy_file).convert("RGB")).transpose(2, 0, 1) / 255
        np.testing.assert_allclose(png, expected, atol=0.5 / 255 + 1e-6)
        assert row.frac_changed == pytest.approx((cam >= 0.3).mean())
        changed_any |= row.frac_changed > 0
        assert row.source == f"train/c/{row.index_row}.png"
    assert changed_any


def test_subset_and_true_label_target(tmp_path):
    ckpt, x, y = make_checkpoint(tmp_path)
    full = step(ckpt, x, y, tmp_path / "full")
    half = step(ckpt, x, y, tmp_path / "half", subset_wrong=0.5, cam_target="label")
    assert len(half) == int(np.ceil(0.5 * len(full)))
    stats = json.loads((tmp_path / "half" / "stats.json").read_text())
    assert stats["n_wrong"] == len(full) and stats["n_chosen"] == stats["n_written"] == len(half)
    assert set(half.index_row) <= set(full.index_row)


def test_zero_wrong_images_is_a_valid_empty_step(tmp_path):
    ckpt, x, _ = make_checkpoint(tmp_path)
    c = load_checkpoint(ckpt)
    preds, _ = predict_with_loss(model_from_checkpoint(c), x, torch.zeros(len(x), dtype=torch.long),
                                 Normalize(c["mean"], c["std"]), 8, "cpu")
    out = tmp_path / "empty"
    manifest = step(ckpt, x, preds, out)  # labels == predictions: nothing is wrong
    assert len(manifest) == 0
    assert list(pd.read_csv(out / "manifest.csv").columns)[:3] == ["source", "index_row", "label"]
    assert (out / "images").is_dir() and not list((out / "images").iterdir())
    assert np.load(out / "cams.npz")["cam"].shape[0] == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["n_wrong"] == stats["n_written"] == 0 and stats["mean_frac_changed"] is None


def test_one_by_one_feature_map_is_refused(tmp_path):
    ckpt, x, y = make_checkpoint(tmp_path, size=32)  # resnet10t's last stage is 1x1 at 32 px
    with pytest.raises(CamError, match="1x1 feature map"):
        step(ckpt, x, y, tmp_path / "p")
    assert not (tmp_path / "p" / "manifest.csv").exists()


def test_a_truncated_checkpoint_names_the_file_and_the_rebuild(tmp_path):
    """A training round records its checkpoint's checksum; a truncated file (a full disk, a copy cut
    off) stops the next step with the file's name and the command that rebuilds it, not torch's
    "PytorchStreamReader failed reading zip archive"."""
    from proxy_attention.errors import CheckpointError

    ckpt, x, y = make_checkpoint(tmp_path, size=32, n=12)
    assert ckpt.with_name(ckpt.name + ".sha256").exists()
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=f"checkpoint {ckpt} is damaged.*snakemake --cores 1 --force {ckpt}"):
        step(ckpt, x, y, tmp_path / "proxy1")


def test_a_step_that_changed_no_pixel_says_so_in_its_log_stats_and_the_report(tmp_path, monkeypatch, caplog):
    """Whatever the cause, proxies identical to their images are named as such (issue 25, item 4)."""
    import proxy_attention.proxy.step as step_module
    from proxy_attention.analysis.answer import answer_rst, comparison_html
    from proxy_attention.analysis.stats import compare, final_rounds

    ckpt, x, y = make_checkpoint(tmp_path)
    manifest = step(ckpt, x, y, tmp_path / "t1", proxy_threshold=1.0)  # t = 1: the CAM's maximum changes
    assert (manifest.frac_changed > 0).all()
    assert json.loads((tmp_path / "t1" / "stats.json").read_text())["n_unchanged"] == 0

    def unchanged(x01, cam, *args):
        return x01.clone(), torch.zeros(cam.shape, dtype=torch.bool)

    monkeypatch.setattr(step_module, "proxy_images", unchanged)
    with caplog.at_level("WARNING"):
        manifest = step(ckpt, x, y, tmp_path / "idle")
    stats = json.loads((tmp_path / "idle" / "stats.json").read_text())
    assert stats["n_unchanged"] == stats["n_written"] == len(manifest) > 0 and stats["changed_no_pixel"] is True
    assert f"{len(manifest)} of {len(manifest)} proxy images changed no pixel" in caplog.text

    runs = []
    for fold in range(3):
        ident = dict(dataset="d", model="m", schedule="1p1", seed=0, fold=fold)
        runs.append({**ident, "method": "baseline", "config": "baseline", "round": 1, "test_acc": 0.5 + fold / 10,
                     "steps_changed_no_pixel": 0})
        runs.append({**ident, "method": "proxy", "config": "t1", "round": 1, "test_acc": 0.6 + fold / 10,
                     "steps_changed_no_pixel": 1})
    table = compare(final_rounds(pd.DataFrame(runs)))
    note = table.set_index("config").loc["t1", "note"]
    assert "3 proxy step(s) that changed no pixel in its 3 run(s)" in note
    assert "**Warning**" in answer_rst(table) and "changed no pixel" in answer_rst(table)
    assert "changed no pixel" in comparison_html(table)


def test_every_cam_method_writes_the_proxies_the_library_would(tmp_path, monkeypatch):
    """The step's CAMs are made on the model's device (proxy_attention/cams.py); with pytorch-grad-cam's own classes
    it writes the same proxies: maps within 1e-5 (tests/unit/test_cams.py), so a pixel may be edited differently
    only where its CAM is within 1e-5 of the threshold, and elsewhere differ by at most one level of 255
    (the product rounded at .5)."""
    from proxy_attention import cams as cams_module

    ckpt, x, y = make_checkpoint(tmp_path, size=48, n=16)
    t = 0.3
    for method in sorted(cams_module.CAM_METHODS):
        kw = dict(cam_method=method, proxy_threshold=t, subset_wrong=0.25 if method == "scorecam" else 1.0)
        ours = step(ckpt, x, y, tmp_path / method, **kw)
        with monkeypatch.context() as m:
            m.setattr(cams_module, "CAM_METHODS", cams_module.LIBRARY_CAM_METHODS)
            ref = step(ckpt, x, y, tmp_path / f"{method}-library", **kw)
        assert len(ref) > 0
        pd.testing.assert_frame_equal(ours.drop(columns="frac_changed"), ref.drop(columns="frac_changed"))
        cam_ours = np.load(tmp_path / method / "cams.npz")["cam"]
        cam_ref = np.load(tmp_path / f"{method}-library" / "cams.npz")["cam"]
        assert np.abs(cam_ours - cam_ref).max() <= 1e-5, method
        near = np.abs(cam_ref - t) <= 1e-5  # (N, H, W): where `cam >= t` may go either way
        for i, f in enumerate(ref.proxy_file):
            a = np.asarray(Image.open(tmp_path / method / f), dtype=np.int16)
            b = np.asarray(Image.open(tmp_path / f"{method}-library" / f), dtype=np.int16)
            diff = np.abs(a - b).max(axis=2)
            assert (diff[~near[i]] <= 1).all(), (method, f)
        np.testing.assert_allclose(ours.frac_changed, ref.frac_changed, atol=near.mean(axis=(1, 2)).max() + 1e-12)
