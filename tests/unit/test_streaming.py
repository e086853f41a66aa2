"""The proxy step and the explain job work one batch at a time (issue 30).

Each writes the same files as when every chosen image was converted, normalised and CAM'd at
once (the code before issue 30, kept below as the reference), and never hands the CAM more
than one batch.
"""

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
from test_explain import checkpoint as explain_checkpoint_file
from test_explain import settings as explain_settings
from test_proxy_step import make_checkpoint

from proxy_attention.analysis import explain as explain_mod
from proxy_attention.cams import cam_maps, compute_cams
from proxy_attention.data.tensors import Normalize
from proxy_attention.models import cam_target, load_checkpoint, model_from_checkpoint
from proxy_attention.npzstream import NpzWriter
from proxy_attention.proxy import step as step_mod
from proxy_attention.proxy.replacement import proxy_images
from proxy_attention.proxy.step import ProxySettings, run_proxy_step

BATCH = 6
OFFSET = 100  # index row of the first training image


@pytest.mark.parametrize("shape, pieces", [((10, 7, 5), [3, 3, 4]), ((10, 7, 5), [10]), ((10, 7, 5), [1] * 10),
                                           ((0, 48, 48), []), ((130, 32, 32), [64, 64, 2])])
def test_a_streamed_npz_is_what_savez_compressed_writes(shape, pieces):
    rng = np.random.default_rng(0)
    cam = rng.random(shape, dtype=np.float32)
    rows = np.arange(100, 100 + shape[0], dtype=np.int64)
    whole = io.BytesIO()
    np.savez_compressed(whole, index_row=rows, cam=cam)
    streamed = io.BytesIO()
    with NpzWriter(streamed) as npz:
        npz.add("index_row", rows)
        with npz.stream("cam", shape, np.float32) as append:
            start = 0
            for k in pieces:
                append(cam[start:start + k])
                start += k
    assert streamed.getvalue() == whole.getvalue()  # byte for byte (ZipFile.open stamps entries 1980-01-01)
    loaded = np.load(io.BytesIO(streamed.getvalue()))
    assert loaded["cam"].dtype == np.float32 and np.array_equal(loaded["cam"], cam)
    assert np.array_equal(loaded["index_row"], rows)


def test_a_streamed_npz_refuses_rows_that_do_not_fit_its_header():
    cam = np.zeros((4, 3, 3), np.float32)
    for wrong in ([cam[:3]], [cam, cam[:1]], [cam.astype(np.float64)], [np.zeros((4, 3, 2), np.float32)]):
        with pytest.raises(ValueError), NpzWriter(io.BytesIO()) as npz:
            with npz.stream("cam", cam.shape, np.float32) as append:
                for piece in wrong:
                    append(piece)


def materialised_step(ckpt, x, manifest, settings, out):
    """The proxy step's PNGs, CAMs and fractions as run_proxy_step made them before issue 30 (874deb2):
    every chosen image as float at once, normalised at once, one compute_cams over all of them with
    the PNGs written from its batches, and the CAM array saved whole with np.savez_compressed.
    Which images and targets it uses comes from the step's manifest (that code did not change)."""
    c = load_checkpoint(ckpt)
    model = model_from_checkpoint(c).float()
    normalize = Normalize(c["mean"], c["std"])
    chosen = manifest["index_row"].to_numpy() - OFFSET
    targets = manifest["pred_idx"].to_numpy()
    names = [p.split("/")[-1] for p in manifest["proxy_file"]]
    layer_name, layer, reshape = cam_target(model, settings.cam_target_layer)
    x01 = x[chosen].float().div_(255)
    frac_changed = np.empty(len(chosen))
    (out / "images").mkdir(parents=True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        writes = []

        def write_batch(start, stop, cams_b):
            proxies, mask = proxy_images(x01[start:stop], torch.from_numpy(cams_b), settings.proxy_threshold,
                                         settings.proxy_image_weight, settings.replacement)
            frac_changed[start:stop] = mask.float().mean(dim=(1, 2)).numpy()
            png = (proxies * 255).round_().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
            writes.extend(pool.submit(step_mod._save_png, out / "images" / names[i], png[i - start])
                          for i in range(start, stop))

        cams = compute_cams(model, normalize(x01), targets, settings.cam_method, layer_name, layer, reshape,
                            batch_size=settings.batch_size, on_batch=write_batch)
        for w in writes:
            w.result()
    with open(out / "cams.npz", "wb") as fh:
        np.savez_compressed(fh, index_row=manifest["index_row"].to_numpy().astype(np.int64),
                            cam=cams.astype(np.float32))
    return frac_changed


def proxy_settings(**kw):
    return ProxySettings(**{"cam_method": "gradcampp", "proxy_threshold": 0.3, "proxy_image_weight": 0.4,
                            "batch_size": BATCH, **kw})


def streamed_step(ckpt, x, y, out, settings):
    rows = np.arange(OFFSET, OFFSET + len(x))
    paths = [f"train/c/{i}.png" for i in range(OFFSET + len(x))]
    return run_proxy_step(ckpt, x, y, rows, paths, ["a", "b", "c"], settings, seed=0, round_=1, out_dir=out,
                          threads=1)


@pytest.mark.parametrize("replacement", ["multiply", "mean"])
def test_the_streamed_step_writes_the_files_of_the_materialised_one(tmp_path, replacement):
    ckpt, x, y = make_checkpoint(tmp_path, n=30)
    settings = proxy_settings(replacement=replacement)
    manifest = streamed_step(ckpt, x, y, tmp_path / "streamed", settings)
    assert len(manifest) > 2 * BATCH and len(manifest) % BATCH, "several batches, the last one partial"
    frac = materialised_step(ckpt, x, manifest, settings, tmp_path / "before")
    new, old = tmp_path / "streamed", tmp_path / "before"
    names = sorted(p.name for p in (new / "images").iterdir())
    assert names == sorted(p.name for p in (old / "images").iterdir()) and len(names) == len(manifest)
    for name in names:
        assert (new / "images" / name).read_bytes() == (old / "images" / name).read_bytes(), name
    assert (new / "cams.npz").read_bytes() == (old / "cams.npz").read_bytes()
    assert np.array_equal(manifest["frac_changed"].to_numpy(), frac)
    pd.testing.assert_frame_equal(pd.read_csv(new / "manifest.csv"), manifest, check_dtype=False)


def test_the_step_hands_the_cam_one_batch_at_a_time(tmp_path, monkeypatch):
    ckpt, x, y = make_checkpoint(tmp_path, n=30)
    seen = []

    def recording(model, inputs, *args, **kw):
        seen.append(len(inputs))
        return cam_maps(model, inputs, *args, **kw)

    monkeypatch.setattr(step_mod, "cam_maps", recording)
    manifest = streamed_step(ckpt, x, y, tmp_path / "p", proxy_settings())
    assert len(manifest) > BATCH
    assert sum(seen) == len(manifest) and max(seen) <= BATCH


def materialised_explain(ckpt, test_x, test_y, settings, seed):
    """explain_checkpoint's scores and CAMs as before issue 30 (874deb2): every sampled test image
    normalised at once, all probabilities, all CAMs, then the scores batch by batch."""
    from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
    from pytorch_grad_cam.metrics.road import ROADCombined
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    c = load_checkpoint(ckpt)
    model = model_from_checkpoint(c).float().eval()
    normalize = Normalize(c["mean"], c["std"])
    pick = explain_mod.sample_rows(len(test_x), settings.n_images, seed)
    x = normalize(test_x[pick].float().div_(255))
    y = test_y[pick]
    with torch.no_grad():
        probs = torch.cat([model(x[i:i + settings.batch_size]).float().softmax(1)
                           for i in range(0, len(x), settings.batch_size)])
    pred = probs.argmax(1)
    targets = (y if settings.cam_target == "label" else pred).numpy()
    layer_name, layer, reshape = cam_target(model, settings.cam_target_layer)
    cams = compute_cams(model, x, targets, settings.cam_method, layer_name, layer, reshape, settings.batch_size)
    torch.manual_seed(seed)
    road = ROADCombined(percentiles=list(settings.percentiles))
    keep = CamMultImageConfidenceChange()
    road_scores, conf_scores = [], []
    for i in range(0, len(x), settings.batch_size):
        sl = slice(i, i + settings.batch_size)
        tg = [ClassifierOutputSoftmaxTarget(int(t)) for t in targets[sl]]
        road_scores.append(np.asarray(road(x[sl], cams[sl], tg, model), dtype=np.float64).reshape(-1))
        conf_scores.append(np.asarray(keep(x[sl], cams[sl], tg, model), dtype=np.float64).reshape(-1))
    return {"pred_idx": pred.numpy(), "prob_target": probs[torch.arange(len(x)), torch.as_tensor(targets)].numpy(),
            "road_combined": np.concatenate(road_scores), "cam_conf_change": np.concatenate(conf_scores),
            "cam_flat": np.ptp(cams.reshape(len(cams), -1), axis=1) == 0, "cam": cams.astype(np.float16)}


@pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # inside pytorch-grad-cam's ROAD
@pytest.mark.parametrize("target", ["label", "predicted"])
def test_the_streamed_explain_scores_what_the_materialised_one_did(tmp_path, monkeypatch, target):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(20, 3, 32, 32, generator=g) * 255).to(torch.uint8)
    y, rows = torch.arange(20) % 3, np.arange(500, 520)
    explain_checkpoint_file(tmp_path / "m.pt", 0)
    settings = explain_settings(n_images=11, cam_target=target)  # batches of 4: 4, 4, 3
    seen = []

    def recording(model, inputs, *args, **kw):
        seen.append(len(inputs))
        return compute_cams(model, inputs, *args, **kw)

    monkeypatch.setattr(explain_mod, "compute_cams", recording)
    table = explain_mod.explain_checkpoint(tmp_path / "m.pt", x, y, rows, settings, seed=7,
                                           out_csv=tmp_path / "e.csv", out_npz=tmp_path / "e.npz")
    assert seen == [4, 4, 3]
    before = materialised_explain(tmp_path / "m.pt", x, y, settings, seed=7)
    for column in ("pred_idx", "prob_target", "road_combined", "cam_conf_change", "cam_flat"):
        assert np.array_equal(table[column].to_numpy(), before[column]), column
    npz = np.load(tmp_path / "e.npz")
    assert npz["cam"].dtype == np.float16 and np.array_equal(npz["cam"], before["cam"])


def test_the_train_proxy_job_gives_the_steps_memory_back_before_its_round(tmp_path, monkeypatch):
    """write_proxy_step (what train_proxy runs before training) releases memory once the step has run."""
    from proxy_attention.proxy import job

    calls = []
    monkeypatch.setattr(job, "proxy_candidates", lambda *a: (None, None, None, ["a"], []))
    monkeypatch.setattr(job, "run_proxy_step", lambda *a, **kw: calls.append("step"))
    monkeypatch.setattr(job, "release_memory", lambda: calls.append("release"))
    job.write_proxy_step("split.csv", "cache.npy", 0, "honest", 0, 1, "round0.pt", tmp_path, {}, None, 8)
    assert calls == ["step", "release"]


def test_release_memory_runs_here():
    from proxy_attention.proxy.job import release_memory

    release_memory()  # no error where malloc_trim is missing (not glibc) or CUDA is not there
