"""The inference command: a checkpoint and a folder of images -> predictions.csv and CAM overlays."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from proxy_attention.cli import main
from proxy_attention.data.imagecache import decode_resized
from proxy_attention.data.tensors import IMAGENET_MEAN, IMAGENET_STD, Normalize
from proxy_attention.models import create_model

CLASSES = ["cat", "dog", "fox", "owl"]


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet10t", len(CLASSES))
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "model_name": "resnet10t", "model_kwargs": {},
                "num_classes": len(CLASSES), "classes": CLASSES, "img_size": 64,
                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}, path)
    return path, model.eval()


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(root / "sub" / "b.jpg")  # grayscale
    Image.fromarray(rng.integers(0, 255, (70, 70, 3), dtype=np.uint8)).save(root / "sub" / "c.png")
    (root / "broken.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored")
    return root


def test_predict_writes_probabilities_and_overlays(tmp_path, checkpoint, folder):
    ckpt, model = checkpoint
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(ckpt), "--images", str(folder), "--out", str(out),
                 "--top-k", "2", "--device", "cpu"]) == 0
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert table["file"].tolist() == ["a.png", "broken.png", "sub/b.jpg", "sub/c.png"]
    broken = table.set_index("file").loc["broken.png"]
    assert broken["predicted"] == "" and "UnidentifiedImageError" in broken["problem"]
    good = table[table["problem"] == ""]
    # the probabilities are the model's softmax on the images prepared like the training cache
    x = torch.from_numpy(np.stack([decode_resized(folder / f, 64) for f in good["file"]])).permute(0, 3, 1, 2)
    with torch.no_grad():
        probs = model(Normalize()(x.float() / 255)).softmax(1)
    top = probs.topk(2, dim=1)
    assert good["predicted"].tolist() == [CLASSES[i] for i in top.indices[:, 0]]
    np.testing.assert_allclose(good["probability"].astype(float), top.values[:, 0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(good["top2_prob"].astype(float), top.values[:, 1].numpy(), rtol=1e-5)
    assert (good["top1_class"] == good["predicted"]).all()
    for f in good["cam_file"]:
        overlay = np.asarray(Image.open(out / f))
        assert overlay.shape == (64, 64, 3)
    assert sorted(p.relative_to(out).as_posix() for p in (out / "cams").rglob("*.png")) == \
        ["cams/a.png", "cams/sub/b.png", "cams/sub/c.png"]


def test_console_entry_point(tmp_path, checkpoint, folder):
    ckpt, _ = checkpoint
    out = tmp_path / "o"
    run = subprocess.run([sys.executable, "-m", "proxy_attention.cli", "predict", "--checkpoint", str(ckpt),
                          "--images", str(folder), "--out", str(out), "--no-cams", "--device", "cpu"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "4 files" in run.stdout
    assert len(pd.read_csv(out / "predictions.csv")) == 4 and not (out / "cams").exists()


def test_empty_folder_is_an_error(tmp_path, checkpoint, capsys):
    ckpt, _ = checkpoint
    (tmp_path / "empty").mkdir()
    assert main(["predict", "--checkpoint", str(ckpt), "--images", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "o")]) == 1
    assert "no image files" in capsys.readouterr().err


def predict_error(tmp_path, capsys, checkpoint, images, out=None) -> str:
    assert main(["predict", "--checkpoint", str(checkpoint), "--images", str(images),
                 "--out", str(out or tmp_path / "o"), "--device", "cpu"]) == 1
    return capsys.readouterr().err


@pytest.mark.parametrize("kind", ["state_dict", "model_only", "csv"])
def test_a_file_that_is_not_a_workflow_checkpoint_is_named(tmp_path, checkpoint, folder, capsys, kind):
    ckpt, model = checkpoint
    bad = tmp_path / f"{kind}.pt"
    if kind == "csv":
        bad.write_text("file,predicted\na.png,cat\n")
    else:
        sd = model.state_dict()
        torch.save(sd if kind == "state_dict" else {"model": sd}, bad)
    err = predict_error(tmp_path, capsys, bad, folder)
    assert f"{bad} is not a checkpoint of this workflow" in err, err
    assert "round<r>/checkpoint.pt" in err and "Traceback" not in err


def test_a_truncated_checkpoint_is_named_with_the_command_that_rebuilds_it(tmp_path, checkpoint, folder, capsys):
    ckpt, _ = checkpoint
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    err = predict_error(tmp_path, capsys, ckpt, folder)
    assert f"checkpoint {ckpt} is damaged" in err and f"snakemake --cores 1 --force {ckpt}" in err, err


def test_a_damaged_checkpoint_is_caught_by_its_recorded_checksum(tmp_path, checkpoint):
    from proxy_attention import atomic
    from proxy_attention.errors import CheckpointError
    from proxy_attention.models import load_checkpoint

    ckpt, _ = checkpoint
    path = tmp_path / "run" / "checkpoint.pt"
    atomic.torch_save(path, torch.load(ckpt, weights_only=False), checksum=True)
    assert (tmp_path / "run" / "checkpoint.pt.sha256").exists()
    load_checkpoint(path)  # intact: loads
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside a tensor: torch alone would load it
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="does not match the checksum recorded when it was written"):
        load_checkpoint(path)


def test_a_missing_images_folder_says_it_does_not_exist(tmp_path, checkpoint, capsys):
    ckpt, _ = checkpoint
    err = predict_error(tmp_path, capsys, ckpt, tmp_path / "nowhere")
    assert f"the --images folder {tmp_path / 'nowhere'} does not exist" in err, err


def test_a_missing_checkpoint_says_it_does_not_exist(tmp_path, folder, capsys):
    err = predict_error(tmp_path, capsys, tmp_path / "none.pt", folder)
    assert f"checkpoint {tmp_path / 'none.pt'} does not exist" in err, err


def test_out_inside_images_never_reads_its_own_overlays(tmp_path, checkpoint, folder):
    ckpt, _ = checkpoint
    out = folder / "predicted"
    for _ in range(2):
        assert main(["predict", "--checkpoint", str(ckpt), "--images", str(folder), "--out", str(out),
                     "--device", "cpu"]) == 0
    table = pd.read_csv(out / "predictions.csv")
    assert len(table) == 4 and not table["file"].str.startswith("predicted").any()


def test_out_holding_the_images_is_refused(tmp_path, checkpoint, folder, capsys):
    ckpt, _ = checkpoint
    err = predict_error(tmp_path, capsys, ckpt, folder, out=folder)
    assert "would hold the --images folder" in err, err
