"""Proxy pixel replacement formulas against arrays computed by hand."""

import numpy as np
import pytest
import torch

from proxy_attention.proxy.replacement import REPLACEMENTS, proxy_images

# One image, 2 channels, 1x3 pixels; CAM values below, at, and above the threshold 0.5.
X = torch.tensor([[[[0.2, 0.4, 0.8]], [[1.0, 0.5, 0.0]]]])
CAM = torch.tensor([[[0.3, 0.5, 0.9]]])
T, W = 0.5, 0.25


def test_multiply_is_thesis_algorithm_1():
    out, mask = proxy_images(X, CAM, T, W, "multiply")
    # where(cam >= t, (1 - w) * cam * x, x): pixel 0 unchanged, pixel 1: 0.75*0.5*x, pixel 2: 0.75*0.9*x
    expected = np.array([[[[0.2, 0.75 * 0.5 * 0.4, 0.75 * 0.9 * 0.8]], [[1.0, 0.75 * 0.5 * 0.5, 0.0]]]])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert mask.tolist() == [[[False, True, True]]]


def test_multiply_inverse_is_the_authors_code():
    out, mask = proxy_images(X, CAM, T, W, "multiply_inverse")
    # where(cam > t, (1 - w * cam) * x, x): strict '>', so the pixel at cam == t is kept
    expected = np.array([[[[0.2, 0.4, (1 - 0.25 * 0.9) * 0.8]], [[1.0, 0.5, 0.0]]]])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert mask.tolist() == [[[False, False, True]]]


@pytest.mark.parametrize(
    "method, fill",
    [
        ("mean", [[(0.2 + 0.4 + 0.8) / 3], [(1.0 + 0.5 + 0.0) / 3]]),
        ("max", [[0.8], [1.0]]),
        ("min", [[0.2], [0.0]]),
        ("black", [[0.0], [0.0]]),
        ("white", [[1.0], [1.0]]),
    ],
)
def test_statistic_replacements(method, fill):
    out, mask = proxy_images(X, CAM, T, W, method)
    expected = np.array([[[[0.2, fill[0][0], fill[0][0]]], [[1.0, fill[1][0], fill[1][0]]]]])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert mask.tolist() == [[[False, True, True]]]


def test_threshold_zero_changes_every_pixel_and_one_only_the_peak():
    x = torch.rand(2, 3, 4, 4)
    cam = torch.rand(2, 4, 4)
    cam[:, 0, 0] = 1.0
    _, mask0 = proxy_images(x, cam, 0.0, 0.5)
    assert mask0.all()
    _, mask1 = proxy_images(x, cam, 1.0, 0.5)
    assert mask1.sum().item() == 2


def test_weight_one_blacks_out_selected_pixels():
    out, _ = proxy_images(X, CAM, T, 1.0, "multiply")
    assert out[0, :, 0, 1:].abs().max().item() == 0.0
    assert torch.equal(out[0, :, 0, 0], X[0, :, 0, 0])


def test_rejects_unknown_method_and_bad_shapes():
    with pytest.raises(ValueError, match="unknown replacement"):
        proxy_images(X, CAM, T, W, "blur")
    with pytest.raises(ValueError, match="shapes"):
        proxy_images(X, CAM[:, :, :2], T, W)
    assert set(REPLACEMENTS) == {"multiply", "multiply_inverse", "mean", "max", "min", "black", "white"}


@pytest.mark.parametrize("method", REPLACEMENTS)
def test_threshold_one_changes_the_peak_of_a_cam_scaled_like_pytorch_grad_cam(method):
    """pytorch-grad-cam divides by max + 1e-7: CAMs peak at 0.99999988, never 1.0 (issue 25, item 4)."""
    raw = torch.rand(2, 4, 4) + 0.1
    raw[:, 1, 2] = 2.0
    cam = (raw - raw.amin(dim=(1, 2), keepdim=True))
    cam = (cam / (1e-7 + cam.amax(dim=(1, 2), keepdim=True))).float()
    assert cam.max().item() < 1.0
    x = torch.rand(2, 3, 4, 4) * 0.5 + 0.25
    _, mask = proxy_images(x, cam, 1.0, 0.5, method)
    assert mask.sum().item() == 2 and mask[:, 1, 2].all()  # the CAM's maximum, one pixel per image
    _, none = proxy_images(x, torch.zeros(2, 4, 4), 1.0, 0.5, method)
    assert not none.any()  # an all-zero CAM has no maximum to change
