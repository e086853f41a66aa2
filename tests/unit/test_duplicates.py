"""The near-duplicate decision: phash finds candidates, the pixel check keeps copies and turns down look-alikes."""

import numpy as np
from conftest import jpeg, lookalike, phash_distance, scene
from PIL import Image

from proxy_attention.data.duplicates import (
    PHASH_THRESHOLD,
    PIXEL_THRESHOLD,
    largest_local_difference,
    perceptual_hash,
    same_picture,
    thumbnail,
)


def test_pixel_difference_of_hand_computed_pairs():
    rng = np.random.default_rng(0)
    a = (rng.random((32, 32)) * 100).astype(np.uint8)
    assert largest_local_difference(a, a) < 1e-9  # the same thumbnail
    assert largest_local_difference(a, 2 * a + 10) < 1e-6  # brightness and contrast are free: b = 2a + 10 exactly
    x = np.arange(32)[None, :].repeat(32, axis=0)
    def edge(at):
        return np.rint(40 + 160 / (1 + np.exp(-(x - at) / 0.6))).astype(np.uint8)
    # a sharp edge moved by one thumbnail pixel: the gradient term explains it (28 gray levels are left without it)
    assert largest_local_difference(edge(15.5), edge(16.5)) < 8
    flat = np.full((32, 32), 100, np.uint8)
    spot = flat.copy()
    spot[12:20, 12:20] = 200  # an 8x8 object of +100 gray levels: nothing in `flat` predicts it
    assert largest_local_difference(flat, spot) > 50 > PIXEL_THRESHOLD


def test_near_copies_pass_and_a_lookalike_closer_by_phash_does_not():
    big = scene()
    base = big.crop((0, 0, 64, 64))
    copies = {"jpeg 75": jpeg(base, 75), "resized to 48 px": base.resize((48, 48), Image.Resampling.LANCZOS),
              "shifted 1 px": big.crop((1, 1, 65, 65)), "brighter": Image.eval(base, lambda v: min(255, int(v * 1.1 + 5)))}
    for name, copy in copies.items():
        assert phash_distance(base, copy) <= PHASH_THRESHOLD, name  # phash finds it
        assert same_picture(thumbnail(base), thumbnail(copy)), name  # and the pixel check keeps it
    other = lookalike(base)
    # phash puts the look-alike (2 bits) closer than the shifted copy (4 bits): only the pixels tell them apart
    assert phash_distance(base, other) == 2 < phash_distance(base, copies["shifted 1 px"]) == 4
    assert not same_picture(thumbnail(base), thumbnail(other))
    assert largest_local_difference(thumbnail(base), thumbnail(other)) > 40


def test_small_images_have_no_thumbnail():
    assert thumbnail(scene(side=31)) is None and perceptual_hash(scene(side=31)) == ""
    assert thumbnail(scene(side=32)).shape == (32, 32)
