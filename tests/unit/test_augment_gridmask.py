"""GridMask (Chen et al. 2020): masks against hand-computed grids, the period's range, the removed
fraction against its exact expectation, mode, rotation, prob, seeding and options. The interface
every method keeps (seeding, global RNG, odd batches) is checked for it in test_augment.py."""

from pathlib import Path

import pytest
import torch
import yaml

from proxy_attention.augment.erasing import grid_mask
from proxy_attention.augment.registry import build_augmentation, validate_options
from proxy_attention.augment.table import names
from proxy_attention.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
K = 5
# fixed geometry, every image masked: only the offsets are random
FIXED = {"rotate": 0, "prob": 1.0, "mode": 1}


def t(*v):
    return torch.tensor(v)


def grid(rows: str) -> torch.Tensor:
    """A bool mask from lines of '#' (removed) and '.' (kept)."""
    return torch.tensor([[c == "#" for c in line] for line in rows.split()])


def gen(seed):
    return torch.Generator().manual_seed(seed)


def removed(out):
    """(N, H, W) bool: pixels zero in every channel (asserting no pixel is zero in only some)."""
    zero = (out == 0).all(1)
    assert torch.equal(zero, (out == 0).any(1))
    return zero


# --- the mask, by hand ---------------------------------------------------------------------------

# 8x8, period 4, removed squares of side 2 (ratio 0.5), offset (0, 0)
HAND_8_D4 = grid("""
##..##..
##..##..
........
........
##..##..
##..##..
........
........
""")


def test_grid_mask_equals_hand_computed_masks():
    assert torch.equal(grid_mask(8, 8, t(4), t(2), t(0), t(0))[0], HAND_8_D4)
    # offset (dy, dx) = (3, 1): the squares of the last row band wrap to row 0
    assert torch.equal(grid_mask(8, 8, t(4), t(2), t(3), t(1))[0], grid("""
        .##..##.
        ........
        ........
        .##..##.
        .##..##.
        ........
        ........
        .##..##.
    """))
    # 10x7, period 4, side 3, offset (2, 3): the period does not divide the sides; partial squares
    # at every border (rows (r - 2) mod 4 < 3, columns (c - 3) mod 4 < 3)
    assert torch.equal(grid_mask(10, 7, t(4), t(3), t(2), t(3))[0], grid("""
        ##.###.
        .......
        ##.###.
        ##.###.
        ##.###.
        .......
        ##.###.
        ##.###.
        ##.###.
        .......
    """))


def test_grid_mask_is_per_image_and_rotates_counterclockwise():
    masks = grid_mask(8, 8, t(4, 4, 8), t(2, 2, 3), t(0, 3, 0), t(0, 1, 0))
    assert torch.equal(masks[0], HAND_8_D4) and torch.equal(masks[1], HAND_8_D4.roll((3, 1), (0, 1)))
    corner = grid("""
        ###.....
        ###.....
        ###.....
        ........
        ........
        ........
        ........
        ........
    """)
    assert torch.equal(masks[2], corner)
    # a quarter turn about the centre moves the top-left square to the bottom left
    turned = grid_mask(8, 8, t(8, 4), t(3, 2), t(0, 0), t(0, 0), angle=t(90.0, 90.0))
    assert torch.equal(turned[0], corner.flip(0))
    assert torch.equal(turned[1], torch.rot90(HAND_8_D4, 1, (0, 1)))
    assert torch.equal(grid_mask(8, 8, t(4), t(2), t(0), t(0), angle=t(0.0))[0], HAND_8_D4)
    # at 45 degrees the squares are diamonds: no longer (removed rows) x (removed columns)
    tilted = grid_mask(32, 32, t(8), t(4), t(0), t(0), angle=t(45.0))[0]
    assert tilted.any() and not is_product(tilted)


# --- the method ------------------------------------------------------------------------------------


def test_output_is_one_of_the_hand_computed_offsets_and_every_offset_occurs():
    x = torch.rand(16, 3, 8, 8, generator=gen(0)) * 0.9 + 0.05  # no zero pixel before masking
    y = torch.randint(0, K, (16,), generator=gen(1))
    aug = build_augmentation("gridmask", {**FIXED, "d_min": 0.5, "d_max": 0.5, "ratio": 0.5}, K)
    candidates = {(dy, dx): HAND_8_D4.roll((dy, dx), (0, 1)) for dy in range(4) for dx in range(4)}
    seen = set()
    for seed in range(12):
        out, target = aug(x, y, gen(seed))
        assert target is y  # labels unchanged
        zero = removed(out)
        assert torch.equal(out[~zero[:, None].expand_as(out)], x[~zero[:, None].expand_as(x)])  # rest bit-identical
        for mask in zero:
            hits = [off for off, cand in candidates.items() if torch.equal(mask, cand)]
            assert len(hits) == 1, mask.int()
            seen.add(hits[0])
    assert seen == set(candidates)  # offsets uniform over [0, d-1] in both axes, no more, no fewer


def row_pattern(d, side, offset, n):
    return tuple(((r - offset) % d) < side for r in range(n))


def test_period_range_and_removed_side_per_period():
    # 12 px, d in [round(0.25*12), round(0.5*12)] = [3, 6]; ratio 0.6: kept band floor(0.6 d + 1/2)
    # = 2, 2, 3, 4 for d = 3, 4, 5, 6, so removed side d - band = 1, 2, 2, 2
    side = {3: 1, 4: 2, 5: 2, 6: 2}
    patterns = {}
    for d, s in side.items():
        for off in range(d):
            patterns.setdefault(row_pattern(d, s, off, 12), set()).add(d)
    aug = build_augmentation("gridmask", {**FIXED, "d_min": 0.25, "d_max": 0.5, "ratio": 0.6}, K)
    periods = set()
    x = torch.full((64, 3, 12, 12), 0.5)
    for seed in range(4):
        zero = removed(aug(x, torch.zeros(64, dtype=torch.long), gen(seed))[0])
        for mask in zero:
            rows, cols = tuple(mask.any(1).tolist()), tuple(mask.any(0).tolist())
            assert is_product(mask)
            assert len(patterns[rows]) == 1 and patterns[rows] == patterns[cols]  # the same d on both axes
            periods |= patterns[rows]
    assert periods == {3, 4, 5, 6}


def test_kept_band_and_removed_square_never_vanish():
    aug = build_augmentation("gridmask", {"ratio": 0.01}, K)
    assert aug.removed_side(t(2, 10, 100)).tolist() == [1, 9, 99]  # band floor(0.01 d + 1/2) = 0 -> 1
    aug = build_augmentation("gridmask", {"ratio": 0.99}, K)
    assert aug.removed_side(t(2, 10, 100)).tolist() == [1, 1, 1]  # band d -> d - 1
    assert build_augmentation("gridmask", {"d_min": 0.01, "d_max": 0.02}, K).periods(32, 32) == (2, 2)
    assert build_augmentation("gridmask", {}, K).periods(224, 300) == (96, 224)  # the paper's 96..224 px


def removed_fraction(options, n=2000, h=12, w=12, seed=0):
    aug = build_augmentation("gridmask", options, K)
    x = torch.full((n, 3, h, w), 0.5)
    return removed(aug(x, torch.zeros(n, dtype=torch.long), gen(seed))[0]).float().mean().item()


@pytest.mark.parametrize(
    "options, expected",
    [
        # d = 5 on 12 px (not a divisor), ratio 0.6: removed side 5 - 3 = 2. With the offset uniform
        # over [0, d-1], each row (column) is removed with probability exactly 2/5, independently:
        # the expected fraction is (2/5)**2 = (1 - ratio)**2, with no border effect
        ({**FIXED, "d_min": 5 / 12, "d_max": 5 / 12, "ratio": 0.6}, 0.16),
        ({**FIXED, "d_min": 5 / 12, "d_max": 5 / 12, "ratio": 0.6, "mode": 0}, 0.84),  # the bands instead
        ({**FIXED, "d_min": 5 / 12, "d_max": 5 / 12, "ratio": 0.6, "rotate": 360}, 0.16),  # rotation too
        ({**FIXED, "d_min": 5 / 12, "d_max": 5 / 12, "ratio": 0.6, "prob": 0.5}, 0.08),
        # d uniform in 3..6 (sides 1, 2, 2, 2): mean of 1/9, 4/16, 4/25, 4/36
        ({**FIXED, "d_min": 0.25, "d_max": 0.5, "ratio": 0.6}, (1 / 9 + 1 / 4 + 4 / 25 + 1 / 9) / 4),
        ({**FIXED, "d_min": 5 / 12, "d_max": 5 / 12, "ratio": 0.2}, 0.64),  # side 5 - 1 = 4
    ],
)
def test_removed_fraction_matches_its_exact_expectation(options, expected):
    assert removed_fraction(options) == pytest.approx(expected, abs=0.01)


def test_modes_are_complements_under_the_same_draws():
    x = torch.rand(8, 3, 16, 16, generator=gen(0)) * 0.9 + 0.05
    y = torch.zeros(8, dtype=torch.long)
    for rotate in (0, 360):
        one = removed(build_augmentation("gridmask", {"mode": 1, "prob": 1.0, "rotate": rotate}, K)(x, y, gen(3))[0])
        zero = removed(build_augmentation("gridmask", {"mode": 0, "prob": 1.0, "rotate": rotate}, K)(x, y, gen(3))[0])
        assert one.any() and torch.equal(zero, ~one)


def is_product(mask):
    """Whether a mask is (removed rows) x (removed columns): an axis-aligned grid."""
    return torch.equal(mask, mask.any(1)[:, None] & mask.any(0)[None, :])


def test_rotate_tilts_the_grid_per_image():
    x = torch.full((16, 3, 32, 32), 0.5)
    y = torch.zeros(16, dtype=torch.long)
    tilted = removed(build_augmentation("gridmask", {"prob": 1.0}, K)(x, y, gen(0))[0])
    assert sum(not is_product(m) for m in tilted) >= 12  # angles uniform in [0, 360): few near a right angle
    straight = removed(build_augmentation("gridmask", {"prob": 1.0, "rotate": 0}, K)(x, y, gen(0))[0])
    assert all(is_product(m) for m in straight)


def test_prob_is_per_image_and_zero_is_identity():
    x = torch.rand(64, 3, 16, 16, generator=gen(0)) * 0.9 + 0.05
    y = torch.zeros(64, dtype=torch.long)
    out, target = build_augmentation("gridmask", {"prob": 0.0}, K)(x, y, gen(0))
    assert torch.equal(out, x) and target is y
    hit = removed(build_augmentation("gridmask", {"prob": 0.5}, K)(x, y, gen(0))[0]).flatten(1).any(1)
    assert 0.3 < hit.float().mean().item() < 0.7
    hit = removed(build_augmentation("gridmask", {"prob": 1.0}, K)(x, y, gen(0))[0]).flatten(1).any(1)
    assert hit.all()


def test_same_seed_same_output_other_seed_other_output():
    x = torch.rand(8, 3, 16, 16, generator=gen(0))
    y = torch.randint(0, K, (8,), generator=gen(1))
    x0 = x.clone()
    aug = build_augmentation("gridmask", {}, K)
    a, ta = aug(x, y, gen(7))
    b, _ = aug(x, y, gen(7))
    c, _ = aug(x, y, gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c) and torch.equal(x, x0) and ta is y


# --- options, schema, docs -----------------------------------------------------------------------


def test_defaults_reach_the_method():
    aug = build_augmentation("gridmask", None, K)
    assert (aug.d_min, aug.d_max, aug.ratio, aug.mode, aug.rotate, aug.prob) == (0.43, 1.0, 0.6, 1, 360.0, 0.8)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"d_min": 0}, "gridmask.d_min"),
        ({"d_max": 1.5}, "gridmask.d_max"),
        ({"d_min": 0.8, "d_max": 0.5}, "gridmask.d_max"),
        ({"ratio": 1.0}, "gridmask.ratio"),
        ({"ratio": 0}, "gridmask.ratio"),
        ({"mode": 2}, "gridmask.mode"),
        ({"mode": True}, "gridmask.mode"),
        ({"rotate": -1}, "gridmask.rotate"),
        ({"prob": 1.2}, "gridmask.prob"),
        ({"d": 0.5}, "gridmask.d"),
    ],
)
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError, match=f"augmentation_options.{key}"):
        validate_options("gridmask", options)


def test_the_schema_leaves_the_names_to_the_table_and_docs_list_every_arm():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]
    assert "enum" not in schema["augmentations"]["items"]  # the names: augment/table.py (test_augment_table.py)
    assert "propertyNames" not in schema["augmentation_options"]
    docs = (REPO / "docs/augmentations.md").read_text()
    for name in names()[1:]:
        assert f"| `{name}` |" in docs, name
