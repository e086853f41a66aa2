"""Batch augmentations (proxy_attention.augment): the interface every method keeps, and the
mixing, erasing and policy methods on hand-made tensors with hand-computed expectations.
The saliency-guided methods are in test_augment_saliency.py."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from proxy_attention.augment import table
from proxy_attention.augment.base import BatchAugmentation, smooth_one_hot
from proxy_attention.augment.registry import augmentation_class, build_augmentation, validate_options
from proxy_attention.errors import ConfigError

K = 5
NAMES = table.names()
METHODS = [n for n in NAMES if n != "none"]
# options under which every image is changed, so "another seed differs" is a fair check
ALWAYS = {"random_erasing": {"probability": 1.0}, "gridmask": {"prob": 1.0}}


def blob_cams(x01, y):
    """A Gaussian bump per image, its place set by the image's mean colour (a function of x only)."""
    n, _, h, w = x01.shape
    c = (x01.mean((1, 2, 3)) * 997) % 1.0
    cy, cx = c * (h - 1), (c * 7 % 1.0) * (w - 1)
    rr = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    cc = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    d2 = (rr - cy.view(n, 1, 1)) ** 2 + (cc - cx.view(n, 1, 1)) ** 2
    return torch.exp(-d2 / 4.0)


def batch(n=8, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, h, w, generator=g), torch.randint(0, K, (n,), generator=g)


def run(aug, x, y, seed):
    return aug(x, y, torch.Generator().manual_seed(seed), cam_fn=blob_cams)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# --- the interface, for every method -------------------------------------------------------


def test_registry_lists_every_name_with_defaults():
    assert NAMES[0] == "none" and len(set(NAMES)) == len(NAMES)
    assert augmentation_class("none") is None and build_augmentation("none", {}, K) is None
    for name in METHODS:  # every row's class exists and its defaults are what it is built with
        assert validate_options(name, {}) == dict(table.method(name).defaults)
    for name in METHODS:
        aug = build_augmentation(name, None, K)
        assert isinstance(aug, BatchAugmentation) and aug.name == name
    soft = {n for n in METHODS if build_augmentation(n, {}, K).soft_targets}
    assert soft == {"mixup", "cutmix", "saliencymix", "attentive_cutmix"}
    cam = {n for n in METHODS if build_augmentation(n, {}, K).needs_cam}
    assert cam == {"saliencymix", "attentive_cutmix", "keepaugment"}


@pytest.mark.parametrize("name", METHODS)
def test_seeded_identical_other_seed_different_input_untouched(name):
    aug = build_augmentation(name, ALWAYS.get(name, {}), K)
    x, y = batch()
    x0 = x.clone()
    a, ta = run(aug, x, y, 1)
    b, tb = run(aug, x, y, 1)
    c, _ = run(aug, x, y, 2)
    assert torch.equal(x, x0)
    assert torch.equal(a, b) and torch.equal(ta, tb)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("name", METHODS)
def test_global_rng_states_unchanged(name):
    aug = build_augmentation(name, ALWAYS.get(name, {}), K)
    x, y = batch()
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    t_state, np_state, py_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    run(aug, x, y, 5)
    assert torch.equal(torch.get_rng_state(), t_state)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert random.getstate() == py_state


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("n", [1, 7])
def test_odd_batches_shapes_and_targets(name, n):
    aug = build_augmentation(name, ALWAYS.get(name, {}), K, label_smoothing=0.1)
    x, y = batch(n=n, h=12, w=10)
    out, t = run(aug, x, y, 3)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    if aug.soft_targets:
        assert t.shape == (n, K) and t.dtype == torch.float32
        torch.testing.assert_close(t.sum(1), torch.ones(n))
        assert t.min() >= 0.1 / K - 1e-6  # label smoothing reaches every class
    else:
        assert t is y
    if name != "random_erasing":  # timm's noise fill lives in normalised space
        assert out.min() >= 0 and out.max() <= 1


def test_needs_cam_without_cam_fn_raises():
    x, y = batch()
    for name in ("saliencymix", "attentive_cutmix", "keepaugment"):
        with pytest.raises(ValueError, match="cam_fn"):
            build_augmentation(name, {}, K)(x, y, gen(0))


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, options, key",
    [
        ("mixup", {"alpha": -1}, "mixup.alpha"),
        ("mixup", {"prob": 1.5}, "mixup.prob"),
        ("mixup", {"beta": 1.0}, "mixup.beta"),
        ("randaugment", {"magnitude": 99}, "randaugment.magnitude"),
        ("randaugment", {"num_ops": 2.5}, "randaugment.num_ops"),
        ("randaugment", {"num_ops": True}, "randaugment.num_ops"),
        ("cutmix", {"minmax": [0.8, 0.2]}, "cutmix.minmax"),
        ("random_erasing", {"mode": "noise"}, "random_erasing.mode"),
        ("random_erasing", {"min_area": 0.5, "max_area": 0.2}, "random_erasing.max_area"),
        ("augmix", {"chain_depth": 0}, "augmix.chain_depth"),
        ("attentive_cutmix", {"top_k": 50}, "attentive_cutmix.top_k"),
        ("keepaugment", {"tau": 0}, "keepaugment.tau"),
        ("none", {"alpha": 1.0}, "none.alpha"),
    ],
)
def test_bad_options_name_the_key(name, options, key):
    with pytest.raises(ConfigError, match=f"augmentation_options.{key}"):
        validate_options(name, options)
    with pytest.raises(ConfigError, match=f"augmentation_options.{key}"):
        build_augmentation(name, options, K)


def test_bad_option_messages_say_what_is_allowed():
    with pytest.raises(ConfigError, match=r"\[0, 30\]"):
        validate_options("randaugment", {"magnitude": 99})
    with pytest.raises(ConfigError, match="allowed: alpha, prob"):
        validate_options("mixup", {"beta": 1})
    with pytest.raises(ConfigError, match="unknown augmentation 'puzzlemix'.*saliencymix"):
        build_augmentation("puzzlemix", {}, K)


def test_validate_options_fills_defaults_and_imports_no_torch():
    full = validate_options("mixup", {"alpha": 0.2})
    assert full == {"alpha": 0.2, "prob": 1.0}
    assert validate_options("cutmix", {"minmax": [0.2, 0.8]})["minmax"] == [0.2, 0.8]
    code = (
        "import sys; from proxy_attention.augment.options import validate_options; "
        "validate_options('keepaugment', {'tau': 0.2}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_options_reach_the_method():
    aug = build_augmentation("randaugment", {"num_ops": 3, "magnitude": 5}, K)
    assert (aug.num_ops, aug.magnitude) == (3, 5)
    aug = build_augmentation("random_erasing", {}, K, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert aug.mean == (0.5,) * 3 and aug.std == (0.25,) * 3 and aug.max_area == 0.3333


# --- mixing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [8, 7])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_mixup_is_convex_combination_with_flipped_partner(n, smoothing):
    classes = n + 1
    x = torch.rand(n, 3, 8, 8, generator=gen(0))
    y = torch.arange(n)  # distinct classes: lam can be read off the targets
    out, t = build_augmentation("mixup", {}, classes, label_smoothing=smoothing)(x, y, gen(4))
    m = n - n % 2
    off = smoothing / classes
    lam = (t[0, 0] - off) / (1 - smoothing)
    assert 0 < lam < 1
    expect = x.clone()
    expect[:m] = lam * x[:m] + (1 - lam) * x[:m].flip(0)
    torch.testing.assert_close(out, expect)
    hard = smooth_one_hot(y, classes, 0.0)
    want = hard.clone()
    want[:m] = lam * hard[:m] + (1 - lam) * hard[:m].flip(0)
    want = want * (1 - smoothing) + off
    torch.testing.assert_close(t, want)
    if n % 2:
        assert torch.equal(out[-1], x[-1])


def two_colour_batch(n=8, h=16, w=16):
    """Images of class c are the constant colour 0.2 + 0.6 c; classes alternate 0, 1, 0, 1..."""
    y = torch.arange(n) % 2
    return (0.2 + 0.6 * y.float()).view(n, 1, 1, 1).expand(n, 3, h, w).clone(), y


def assert_pixel_fractions_are_label_weights(out, t):
    for c in (0, 1):
        frac = (out[:, 0] - (0.2 + 0.6 * c)).abs().lt(1e-6).float().mean((1, 2))
        torch.testing.assert_close(frac, t[:, c], atol=1e-6, rtol=0)


@pytest.mark.parametrize("options", [{}, {"alpha": 0.3}, {"minmax": [0.2, 0.9]}])
def test_cutmix_pasted_area_equals_label_weight(options):
    x, y = two_colour_batch(n=7, h=16, w=12)
    aug = build_augmentation("cutmix", options, 2)
    mixed = 0
    for seed in range(12):
        out, t = aug(x, y, gen(seed))
        assert_pixel_fractions_are_label_weights(out, t)
        mixed += int((t[:, 0] * t[:, 1] > 0).any())
    assert mixed >= 10


def test_mixing_prob_zero_leaves_batch_and_one_hot_targets():
    x, y = batch()
    for name in ("mixup", "cutmix"):
        out, t = build_augmentation(name, {"prob": 0.0}, K, label_smoothing=0.1)(x, y, gen(0))
        assert torch.equal(out, x)
        torch.testing.assert_close(t, smooth_one_hot(y, K, 0.1))


# --- erasing ---------------------------------------------------------------------------------


def zero_boxes(out):
    """Per image: the bounding box of its zero pixels and whether all of it is zero (all channels)."""
    res = []
    for img in out:
        zero = (img == 0).all(0)
        assert torch.equal(zero, (img == 0).any(0))
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        if len(rows) == 0:
            res.append(None)
            continue
        y0, y1, x0, x1 = rows.min().item(), rows.max().item() + 1, cols.min().item(), cols.max().item() + 1
        assert zero[y0:y1, x0:x1].all() and zero.sum() == (y1 - y0) * (x1 - x0)
        res.append((y0, y1, x0, x1))
    return res


def test_cutout_one_zero_box_of_the_given_side_clipped_at_the_border():
    h, w = 16, 12
    x = torch.full((8, 3, h, w), 0.7)
    aug = build_augmentation("cutout", {"size": 0.5}, K)
    clipped = full = 0
    for seed in range(10):
        out, _ = aug(x, torch.zeros(8, dtype=torch.long), gen(seed))
        assert ((out == 0) | (out == 0.7)).all()
        for box in zero_boxes(out):
            assert box is not None
            y0, y1, x0, x1 = box
            assert y1 - y0 <= 8 and x1 - x0 <= 6
            assert y1 - y0 == 8 or y0 == 0 or y1 == h
            assert x1 - x0 == 6 or x0 == 0 or x1 == w
            full += (y1 - y0, x1 - x0) == (8, 6)
            clipped += (y1 - y0, x1 - x0) != (8, 6)
    assert full > 0 and clipped > 0


def test_cutout_prob_is_per_image():
    x = torch.full((64, 3, 8, 8), 0.5)
    out, _ = build_augmentation("cutout", {"prob": 0.5}, K)(x, torch.zeros(64, dtype=torch.long), gen(0))
    hit = (out == 0).flatten(1).any(1).float().mean().item()
    assert 0.25 < hit < 0.75
    out, _ = build_augmentation("cutout", {"prob": 0.0}, K)(x, torch.zeros(64, dtype=torch.long), gen(0))
    assert torch.equal(out, x)


def test_random_erasing_const_fills_the_mean_and_keeps_the_rest_bit_identical():
    x, y = batch(n=8, h=16, w=16)
    mean, std = (0.3, 0.5, 0.7), (0.2, 0.25, 0.3)
    aug = build_augmentation(
        "random_erasing", {"probability": 1.0, "mode": "const", "min_area": 0.1, "max_area": 0.3}, K,
        mean=mean, std=std,
    )
    out, t = aug(x, y, gen(0))
    assert t is y
    # the erased box found independently of "out != x" (which made "the rest is identical" true by
    # definition): the bounding box of the pixels that hold the mean in every channel
    m = torch.tensor(mean).view(3, 1, 1)
    filled = torch.isclose(out, m.expand_as(out[0]).unsqueeze(0)).all(1)  # (N, H, W)
    erased = 0
    for i in range(8):
        if not filled[i].any():
            torch.testing.assert_close(out[i], x[i], atol=0, rtol=0)
            continue
        erased += 1
        rows, cols = filled[i].any(1).nonzero(), filled[i].any(0).nonzero()
        box = torch.zeros_like(filled[i])
        box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
        assert filled[i][box].all(), f"image {i}: the filled pixels are not one box"  # max_count: 1
        # timm rounds the box sides, and gives up after 10 tries on a tiny image: allow for both
        assert box.float().mean() <= 0.3 + 0.1
        torch.testing.assert_close(out[i][:, ~box], x[i][:, ~box], atol=0, rtol=0)  # the rest, bit for bit
    assert erased >= 6


def test_random_erasing_probability_zero_is_identity():
    x, y = batch()
    out, _ = build_augmentation("random_erasing", {"probability": 0.0}, K)(x, y, gen(0))
    assert torch.equal(out, x)


# --- policies --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["randaugment", "trivialaugment", "augmix"])
def test_policies_draw_per_image_and_quantise_to_uint8(name):
    x = torch.rand(1, 3, 16, 16, generator=gen(0)).expand(8, 3, 16, 16).contiguous()
    out, _ = build_augmentation(name, {}, K)(x, torch.zeros(8, dtype=torch.long), gen(1))
    distinct = {out[i].numpy().tobytes() for i in range(8)}
    assert len(distinct) >= 3  # one op for the whole batch would give one image
    torch.testing.assert_close(out * 255, (out * 255).round(), atol=1e-4, rtol=0)
