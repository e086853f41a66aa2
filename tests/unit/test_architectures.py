"""One proxy step per architecture family, on tiny random inputs and randomly initialised models.

Every family must find its CAM target layer by itself (CNNs from timm's
``feature_info``, ViT by dropping its prefix tokens, Swin by permuting NHWC),
write a proxy PNG for every wrong image and change some of its pixels. A CAM
that cannot be computed stops the step with the model and layer named.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from proxy_attention.cams import compute_cams
from proxy_attention.data.tensors import IMAGENET_MEAN, IMAGENET_STD, Normalize
from proxy_attention.errors import CamError
from proxy_attention.models import cam_target, create_model, model_from_checkpoint
from proxy_attention.proxy.step import ProxySettings, predict_with_loss, run_proxy_step

# (timm name, image size, model_kwargs as a user would write them under `model_kwargs:` in config)
FAMILIES = [
    ("resnet18", 64, {}),
    ("resnet50", 64, {}),
    # vgg16's 4096-wide MLP head (a 7x7 conv, 100M weights) makes no difference to the CAM of its
    # conv features; a narrower head keeps the test small.
    ("vgg16", 64, {"mlp_ratio": 1 / 64}),
    ("efficientnet_b0", 64, {}),
    ("vit_tiny_patch16_224", 32, {"img_size": 32, "patch_size": 8}),
    ("convnext_atto", 64, {}),
    ("swin_tiny_patch4_window7_224", 64, {"img_size": 64}),
]
CLASSES = ["a", "b", "c"]


def save_checkpoint(path, name, size, kwargs, seed=0):
    torch.manual_seed(seed)
    model = create_model(name, len(CLASSES), model_kwargs=kwargs)
    ckpt = {
        "model": model.state_dict(), "model_name": name, "model_kwargs": kwargs, "num_classes": len(CLASSES),
        "classes": CLASSES, "img_size": size, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
    }
    torch.save(ckpt, path)
    return ckpt


def wrong_labels(ckpt, x):
    """Labels that the model gets wrong for every image: its prediction plus one."""
    model = model_from_checkpoint(ckpt)
    preds, _ = predict_with_loss(model, x, torch.zeros(len(x), dtype=torch.long), Normalize(ckpt["mean"], ckpt["std"]),
                                 8, "cpu")
    return (preds + 1) % len(CLASSES)


def proxy_step(ckpt_path, x, y, out, **kw):
    settings = ProxySettings(**{"cam_method": "gradcam", "proxy_threshold": 0.2, "proxy_image_weight": 0.5,
                                "batch_size": 4, **kw})
    rows = np.arange(len(x))
    return run_proxy_step(ckpt_path, x, y, rows, [f"train/c/{i}.png" for i in rows], CLASSES, settings,
                          seed=0, round_=1, out_dir=out, threads=1)


@pytest.mark.parametrize("name,size,kwargs", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_one_proxy_step_per_family(tmp_path, name, size, kwargs):
    ckpt = save_checkpoint(tmp_path / "ckpt.pt", name, size, kwargs)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, 3, size, size, generator=g) * 255).to(torch.uint8)
    y = wrong_labels(ckpt, x)
    manifest = proxy_step(tmp_path / "ckpt.pt", x, y, tmp_path / "proxy1")

    assert len(manifest) == 4, "every image is wrong, so every image gets a proxy"
    cams = np.load(tmp_path / "proxy1" / "cams.npz")["cam"]
    assert cams.shape == (4, size, size) and cams.min() >= 0 and cams.max() <= 1
    for i, row in manifest.iterrows():
        png = np.asarray(Image.open(tmp_path / "proxy1" / row.proxy_file).convert("RGB"))
        src = x[row.index_row].permute(1, 2, 0).numpy()
        assert png.shape == src.shape
        changed = (png != src).any(axis=2).mean()
        assert changed > 0, f"{name}: proxy image {row.proxy_file} equals its source"
        assert row.frac_changed == pytest.approx((cams[i] >= 0.2).mean())
        assert 0 < row.frac_changed < 1, f"{name}: a CAM that is flat cannot single out a region"


def test_model_kwargs_survive_the_checkpoint(tmp_path):
    ckpt = save_checkpoint(tmp_path / "vit.pt", "vit_tiny_patch16_224", 32, {"img_size": 32, "patch_size": 8})
    model = model_from_checkpoint(torch.load(tmp_path / "vit.pt", weights_only=False))
    assert model.patch_embed.img_size == (32, 32) and model.patch_embed.patch_size == (8, 8)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 3)
    name, _, reshape = cam_target(model)
    assert name == "blocks.11.norm1"
    grid = reshape(torch.zeros(2, 1 + 16, 192))  # class token + 4x4 patches
    assert grid.shape == (2, 192, 4, 4)
    assert ckpt["model_kwargs"] == {"img_size": 32, "patch_size": 8}


def test_default_target_layers():
    torch.manual_seed(0)
    expected = {"resnet18": "layer4", "convnext_atto": "stages.3", "efficientnet_b0": "blocks.6"}
    for name, layer in expected.items():
        assert cam_target(create_model(name, 3))[0] == layer
    swin = create_model("swin_tiny_patch4_window7_224", 3, model_kwargs={"img_size": 64})
    name, _, reshape = cam_target(swin)
    assert name == "layers.3"
    nhwc = torch.arange(2 * 2 * 2 * 5, dtype=torch.float32).reshape(2, 2, 2, 5)
    assert torch.equal(reshape(nhwc), nhwc.permute(0, 3, 1, 2))


# ---------------------------------------------------------------------------
# failures are errors that name the model and the layer
# ---------------------------------------------------------------------------

def test_unknown_layer_stops_the_step(tmp_path):
    save_checkpoint(tmp_path / "ckpt.pt", "resnet18", 64, {})
    x = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    with pytest.raises(CamError, match=r"cam_target_layer 'layer9' not found in resnet18"):
        proxy_step(tmp_path / "ckpt.pt", x, torch.tensor([0, 1]), tmp_path / "p", cam_target_layer="layer9")
    assert not (tmp_path / "p").exists()


def test_failing_reshape_stops_the_step(tmp_path):
    kwargs = {"img_size": 32, "patch_size": 8}
    save_checkpoint(tmp_path / "ckpt.pt", "vit_tiny_patch16_224", 32, kwargs)
    x = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    # the classifier's (N, classes) output cannot become a grid of patch tokens
    with pytest.raises(CamError, match=r"layer 'head' of vit_tiny_patch16_224 is unusable.*\(N, tokens, C\)"):
        proxy_step(tmp_path / "ckpt.pt", x, torch.tensor([0, 1]), tmp_path / "p", cam_target_layer="head")
    assert not (tmp_path / "p" / "manifest.csv").exists()


def test_error_inside_the_cam_names_model_and_layer():
    torch.manual_seed(0)
    model = create_model("resnet18", 3)
    x = torch.randn(2, 3, 64, 64)

    def broken(_t):
        raise RuntimeError("boom")

    with pytest.raises(CamError, match=r"gradcam on resnet18 at layer 'layer4' failed: RuntimeError: boom"):
        compute_cams(model, x, [0, 1], "gradcam", "layer4", model.layer4, broken)


def test_swallowed_index_error_is_not_success(monkeypatch):
    """pytorch-grad-cam's own classes' __exit__ swallows IndexError; a step run with them must still fail.
    The project's classes do not swallow it: the error itself is raised, naming model and layer."""
    from proxy_attention import cams as cams_module

    torch.manual_seed(0)
    model = create_model("resnet18", 3)
    model.train()

    def index_error(_t):
        raise IndexError("swallowed by pytorch-grad-cam")

    with pytest.raises(CamError, match=r"gradcam on resnet18 at layer 'layer4' failed: IndexError: swallowed"):
        compute_cams(model, torch.randn(2, 3, 64, 64), [0, 1], "gradcam", "layer4", model.layer4, index_error)
    assert model.training
    monkeypatch.setattr(cams_module, "CAM_METHODS", cams_module.LIBRARY_CAM_METHODS)
    with pytest.raises(CamError, match=r"resnet18 at layer 'layer4' produced no CAM \(an error was swallowed\)"):
        compute_cams(model, torch.randn(2, 3, 64, 64), [0, 1], "gradcam", "layer4", model.layer4, index_error)
    assert model.training, "the model's mode is restored even when the CAM fails"
