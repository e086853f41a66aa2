"""Every CAM method: batched, fp32 even under autocast, model mode restored, maps in [0, 1];
the maps made on the model's device match pytorch-grad-cam's own."""

import functools
import types

import numpy as np
import pytest
import torch
from pytorch_grad_cam import score_cam
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from proxy_attention.cams import CAM_METHODS, LIBRARY_CAM_METHODS, cam_maps, compute_cams, scale_cams
from proxy_attention.errors import CamError
from proxy_attention.models import create_model

# max abs difference from the library's maps: float32 sums in another order (torch vs NumPy)
# move a map by a few 1e-7 before and after its min-max scaling; bilinear resizing is the same
# formula in cv2 and torch (half-pixel centres, edges repeated), so it adds no more than that
LIBRARY_ATOL = 1e-5


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = create_model("test_resnet", 3)  # timm's 0.4M-parameter test ResNet
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return model, x


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_method_batched(tiny, method, mode):
    model, x = tiny
    model.train(mode == "train")
    # layer2 is 4x4 at 32 px and has 48 channels (ScoreCAM runs one masked forward pass per channel);
    # 3 images in batches of 2 cross a batch boundary
    cams = compute_cams(model, x, [0, 1, 2], method, "layer2", model.layer2, batch_size=2)
    assert model.training == (mode == "train"), "the model's mode is restored"
    assert cams.shape == (3, 32, 32) and cams.dtype == np.float32
    assert np.isfinite(cams).all() and cams.min() >= 0 and cams.max() <= 1
    assert any(c.max() > c.min() for c in cams), "the maps have some structure"
    whole = compute_cams(model, x, [0, 1, 2], method, "layer2", model.layer2, batch_size=3)
    np.testing.assert_allclose(cams, whole, atol=1e-4, err_msg="batching must not mix images")


def test_target_class_matters(tiny):
    model, x = tiny
    a = compute_cams(model, x[:1], [0], "gradcam", "layer2", model.layer2)
    b = compute_cams(model, x[:1], [1], "gradcam", "layer2", model.layer2)
    assert not np.allclose(a, b)


def test_cams_run_in_fp32_under_autocast(tiny):
    model, x = tiny
    ref = compute_cams(model, x, [0, 1, 2], "gradcampp", "layer2", model.layer2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = compute_cams(model, x.bfloat16(), [0, 1, 2], "gradcampp", "layer2", model.layer2)
    np.testing.assert_allclose(inside, compute_cams(model, x.bfloat16().float(), [0, 1, 2], "gradcampp", "layer2",
                                                    model.layer2), atol=1e-5)
    assert inside.dtype == np.float32 and ref.shape == inside.shape


def test_bad_arguments(tiny):
    model, x = tiny
    with pytest.raises(CamError, match="unknown CAM method 'gradcam3'"):
        compute_cams(model, x, [0, 1, 2], "gradcam3", "layer2", model.layer2)
    with pytest.raises(CamError, match="3 images but 2 CAM targets"):
        compute_cams(model, x, [0, 1], "gradcam", "layer2", model.layer2)
    assert compute_cams(model, x[:0], [], "gradcam", "layer2", model.layer2).shape == (0, 32, 32)


def library_maps(model, layer, x, targets, method, reshape=None):
    """pytorch-grad-cam's own maps (CPU copies, NumPy formulas, OpenCV resize), its progress bar off."""
    saved = score_cam.tqdm
    score_cam.tqdm = types.SimpleNamespace(tqdm=functools.partial(saved.tqdm, disable=True))
    try:
        with LIBRARY_CAM_METHODS[method](model=model, target_layers=[layer], reshape_transform=reshape) as cam:
            cam.batch_size = 64  # ScoreCAM's channel batch, as compute_cams sets it
            return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        score_cam.tqdm = saved


@pytest.mark.parametrize("method", sorted(CAM_METHODS))
@pytest.mark.parametrize("size, layer_name", [(32, "layer2"), (37, "layer1"), (48, "layer3")])
def test_maps_match_the_library(tiny, method, size, layer_name):
    """Every method, at a grid that upsamples by a whole factor (4x4 -> 32), by an odd one
    (10x10 -> 37: cv2 and torch must agree on the sample positions) and from 2x2."""
    model, _ = tiny
    model.eval()
    x = torch.randn(5, 3, size, size, generator=torch.Generator().manual_seed(2))
    targets = [0, 1, 2, 0, 1]
    layer = getattr(model, layer_name)
    ref = library_maps(model, layer, x, targets, method)
    ours = cam_maps(model, x, targets, method, layer_name, layer)
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32 and ours.shape == (5, size, size)
    assert np.ptp(ref) > 0.5, "the reference maps have structure"
    assert np.abs(ours.numpy() - ref).max() <= LIBRARY_ATOL


@pytest.mark.parametrize("grid, size", [((4, 4), (32, 32)), ((7, 5), (37, 20)), ((9, 9), (4, 4)), ((6, 3), (6, 3)),
                                        ((2, 2), (48, 48))])
def test_scale_cams_is_scale_cam_image(grid, size):
    """Min-max scaling and cv2.resize's INTER_LINEAR, for whole batches: up, down, odd factors, none."""
    cams = np.random.default_rng(0).random((4, *grid), dtype=np.float32)
    cams[1] = 0  # an all-zero map stays zero (the 1e-7 in the divisor)
    width_height = (size[1], size[0])
    ref = scale_cam_image(cams, width_height)
    ours = scale_cams(torch.from_numpy(cams), width_height).numpy()
    assert ours.shape == ref.shape == (4, *size)
    assert np.abs(ours - ref).max() <= 1e-6
    np.testing.assert_allclose(scale_cams(torch.from_numpy(cams)).numpy(), scale_cam_image(cams), atol=1e-6)


@pytest.mark.parametrize("method", sorted(set(CAM_METHODS) - {"eigencam", "eigengradcam"}))
def test_maps_never_leave_the_device(tiny, method, monkeypatch):
    """No host copy of activations, gradients or maps inside the CAM (on a GPU each is a device-to-host
    sync). The two eigen methods copy to the host on purpose, for the library's SVD (cams.py)."""
    model, x = tiny
    model.eval()

    def refuse(self, *a, **k):
        raise AssertionError("a tensor was copied to the host during the CAM")

    monkeypatch.setattr(torch.Tensor, "cpu", refuse)
    monkeypatch.setattr(torch.Tensor, "numpy", refuse)
    cams = cam_maps(model, x, [0, 1, 2], method, "layer2", model.layer2, batch_size=3)
    monkeypatch.undo()
    assert cams.shape == (3, 32, 32)
