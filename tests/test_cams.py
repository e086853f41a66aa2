"""Every CAM method: batched, fp32 even under autocast, model mode restored, maps in [0, 1]."""

import numpy as np
import pytest
import torch

from proxy_attention.errors import CamError
from proxy_attention.models import create_model
from proxy_attention.proxy.cams import CAM_METHODS, compute_cams


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
