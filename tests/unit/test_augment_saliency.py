"""SaliencyMix, Attentive CutMix and KeepAugment with hand-made saliency maps (the trainer
passes the model's CAM as cam_fn; here the maps are given)."""

import numpy as np
import torch

from proxy_attention.augment.base import box_bounds, box_mask, draw_seed, mixed_targets
from proxy_attention.augment.registry import build_augmentation
from proxy_attention.augment.saliency import AttentiveCutMix, SaliencyMix, _cams, grid_cells


def gen(seed):
    return torch.Generator().manual_seed(seed)


def fixed(cams):
    """cam_fn returning the given (N, H, W) maps; it checks it is called on the batch."""

    def cam_fn(x01, y):
        assert x01.shape[0] == cams.shape[0] and y.shape == (cams.shape[0],)
        return cams

    return cam_fn


def distinct_colours(n, h, w):
    """Image j is the constant colour (j + 1) / (n + 2): a pasted pixel tells its source."""
    return ((torch.arange(n) + 1.0) / (n + 2)).view(n, 1, 1, 1).expand(n, 3, h, w).clone()


def sources(out, n):
    """(N, H, W) index of the image each output pixel came from."""
    return (out[:, 0] * (n + 2)).round().long() - 1


def two_colour_batch(n, h, w):
    y = torch.arange(n) % 2
    return (0.2 + 0.6 * y.float()).view(n, 1, 1, 1).expand(n, 3, h, w).clone(), y


def assert_pixel_fractions_are_label_weights(out, t):
    for c in (0, 1):
        frac = (out[:, 0] - (0.2 + 0.6 * c)).abs().lt(1e-6).float().mean((1, 2))
        torch.testing.assert_close(frac, t[:, c], atol=1e-6, rtol=0)


# --- SaliencyMix -----------------------------------------------------------------------------


def test_saliencymix_pasted_area_equals_label_weight():
    n, h, w = 7, 16, 12
    x, y = two_colour_batch(n, h, w)
    cams = torch.rand(n, h, w, generator=gen(9))
    aug = build_augmentation("saliencymix", {}, 2)
    for seed in range(10):
        out, t = aug(x, y, gen(seed), fixed(cams))
        assert_pixel_fractions_are_label_weights(out, t)


def test_saliencymix_box_is_centred_on_the_source_peak_and_clipped():
    n, h, w = 8, 20, 20
    x = distinct_colours(n, h, w)
    y = torch.arange(n)
    # image j's peak: some well inside, some on a border or corner
    peaks = [(10, 10), (0, 0), (19, 5), (3, 19), (7, 12), (0, 15), (15, 1), (12, 18)]
    cams = torch.rand(n, h, w, generator=gen(1)) * 0.5
    for j, (py, px) in enumerate(peaks):
        cams[j, py, px] = 1.0
    aug = build_augmentation("saliencymix", {"alpha": 1.0}, n)
    boxes = 0
    for seed in range(8):
        out, t = aug(x, y, gen(seed), fixed(cams))
        src = sources(out, n)
        for i in range(n):
            pasted = src[i] != i
            if not pasted.any():
                continue
            ks = src[i][pasted].unique()
            assert len(ks) == 1
            k = int(ks)
            rows, cols = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
            y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
            assert pasted.sum() == (y1 - y0) * (x1 - x0)  # one rectangle
            py, px = peaks[k]
            # a side c with lo = max(0, p - c//2), hi = min(H, p + (c+1)//2), same c on both axes
            assert any(
                (y0, y1, x0, x1)
                == (max(0, py - c // 2), min(h, py + (c + 1) // 2), max(0, px - c // 2), min(w, px + (c + 1) // 2))
                for c in range(1, h + 1)
            ), (k, (py, px), (y0, y1, x0, x1))
            torch.testing.assert_close(t[i, k], pasted.float().mean(), atol=1e-6, rtol=0)
            torch.testing.assert_close(t[i, i], 1 - pasted.float().mean(), atol=1e-6, rtol=0)
            boxes += 1
    assert boxes >= 30


def test_saliencymix_label_smoothing_and_prob_zero_skips_the_cam():
    n, h, w = 6, 8, 8
    x, y = two_colour_batch(n, h, w)
    out, t = build_augmentation("saliencymix", {}, 2, label_smoothing=0.2)(x, y, gen(0), fixed(torch.rand(n, h, w)))
    torch.testing.assert_close(t.sum(1), torch.ones(n))
    assert t.min() >= 0.1 - 1e-6 and t.max() <= 0.9 + 1e-6

    def no_cam(x01, y):
        raise AssertionError("cam_fn called with nothing to augment")

    for name in ("saliencymix", "attentive_cutmix", "keepaugment"):
        out, _ = build_augmentation(name, {"prob": 0.0}, 2)(x, y, gen(0), no_cam)
        assert torch.equal(out, x)


# --- Attentive CutMix ------------------------------------------------------------------------


def expected_cells_mask(cam, grid, top_k):
    """The top_k cells of ``cam`` by mean, cells [floor(i*H/g), floor((i+1)*H/g)), as a pixel mask."""
    h, w = cam.shape
    means = {}
    for r in range(grid):
        for c in range(grid):
            block = cam[r * h // grid:(r + 1) * h // grid, c * w // grid:(c + 1) * w // grid]
            means[(r, c)] = block.mean().item()
    best = sorted(means, key=means.get, reverse=True)[:top_k]
    mask = torch.zeros(h, w, dtype=torch.bool)
    for r, c in best:
        mask[r * h // grid:(r + 1) * h // grid, c * w // grid:(c + 1) * w // grid] = True
    return mask


def test_attentive_cutmix_pastes_exactly_the_top_k_cells():
    for (h, w), grid, top_k in [((14, 14), 7, 6), ((16, 13), 7, 6), ((12, 12), 3, 2)]:
        n = 7
        x = distinct_colours(n, h, w)
        cams = torch.rand(n, h, w, generator=gen(h * w))
        aug = build_augmentation("attentive_cutmix", {"grid": grid, "top_k": top_k}, n)
        out, t = aug(x, torch.arange(n), gen(3), fixed(cams))
        src = sources(out, n)
        checked = 0
        for i in range(n):
            pasted = src[i] != i
            if not pasted.any():
                continue  # paired with itself
            k = int(src[i][pasted].unique())
            assert torch.equal(pasted, expected_cells_mask(cams[k], grid, top_k))
            torch.testing.assert_close(t[i, k], pasted.float().mean(), atol=1e-6, rtol=0)
            checked += 1
        assert checked >= 4


def test_attentive_cutmix_pasted_area_equals_label_weight_when_cells_are_uneven():
    n, h, w = 8, 15, 10
    x, y = two_colour_batch(n, h, w)
    cams = torch.rand(n, h, w, generator=gen(4))
    aug = build_augmentation("attentive_cutmix", {"grid": 4, "top_k": 5}, 2, label_smoothing=0.0)
    for seed in range(6):
        out, t = aug(x, y, gen(seed), fixed(cams))
        assert_pixel_fractions_are_label_weights(out, t)


# --- KeepAugment -----------------------------------------------------------------------------


def test_keepaugment_never_erases_the_salient_box():
    n, h, w = 8, 16, 16
    x = torch.full((n, 3, h, w), 0.6)
    cams = torch.zeros(n, h, w)
    salient = torch.zeros(n, h, w, dtype=torch.bool)
    g = gen(0)
    for i in range(n):
        r, c = torch.randint(0, h - 3, (2,), generator=g).tolist()
        salient[i, r:r + 3, c:c + 3] = True
    cams[salient] = 1.0  # total 9: tau 0.1 admits no box that touches one salient pixel
    aug = build_augmentation("keepaugment", {"size": 0.5, "tau": 0.1, "trials": 10}, 2)
    erased_any = 0
    for seed in range(40):
        out, t = aug(x, torch.zeros(n, dtype=torch.long), gen(seed), fixed(cams))
        erased = (out == 0).all(1)
        assert not (erased & salient).any()
        assert ((out == 0) | (out == 0.6)).all()
        erased_any += int(erased.any())
    assert erased_any >= 30


def test_keepaugment_erases_a_flat_map_and_spares_when_no_box_qualifies():
    n, h, w = 8, 16, 16
    x = torch.full((n, 3, h, w), 0.6)
    y = torch.zeros(n, dtype=torch.long)
    flat, zero = torch.full((n, h, w), 0.5), torch.zeros(n, h, w)
    # a box holds at most 1/4 of a flat map's saliency: below tau 0.3, so every image is cut
    for cams in (flat, zero):
        out, _ = build_augmentation("keepaugment", {"tau": 0.3}, 2)(x, y, gen(1), fixed(cams))
        erased = (out == 0).all(1)
        assert erased.flatten(1).any(1).all()
        assert erased.flatten(1).sum(1).max() <= 64
    # a box of the image's side holds >= 1/4 of a flat map wherever it is: none below tau 0.2
    out, _ = build_augmentation("keepaugment", {"size": 1.0, "tau": 0.2}, 2)(x, y, gen(1), fixed(flat))
    assert torch.equal(out, x)


# --- the batched code against the implementation it replaced ----------------------------------
# SaliencyMix and Attentive CutMix used to permute the whole maps by partner before taking the
# peak / the cell sums; now they take each map's peak / cell sums and permute those. The old
# __call__ bodies are kept here, verbatim, as the reference: the outputs must be bit-identical.


class _OldSaliencyMix(SaliencyMix):
    def __call__(self, x01, y, gen, cam_fn=None):
        n, _, h, w = x01.shape
        lam = torch.from_numpy(np.random.default_rng(draw_seed(gen)).beta(self.alpha, self.alpha, size=n))
        partner = torch.randperm(n, generator=gen)
        apply = torch.rand(n, generator=gen) < self.prob
        if not bool(apply.any()):
            return self._identity(x01, y)
        cams = _cams(self, cam_fn, x01, y)[partner]  # the source image's map
        peak = cams.flatten(1).argmax(1)
        cy, cx = peak // w, peak % w
        ratio = torch.sqrt(1.0 - lam)
        cut_h = (h * ratio).long()
        cut_w = (w * ratio).long()
        yl, yh = box_bounds(cy, cut_h, h)
        xl, xh = box_bounds(cx, cut_w, w)
        mask = box_mask(yl, yh, xl, xh, h, w, "cpu") & apply.view(n, 1, 1)
        return self._finish(x01, y, partner, mask)


class _OldAttentiveCutMix(AttentiveCutMix):
    def __call__(self, x01, y, gen, cam_fn=None):
        n, _, h, w = x01.shape
        g = self.grid
        partner = torch.randperm(n, generator=gen)
        apply = torch.rand(n, generator=gen) < self.prob
        if not bool(apply.any()):
            return self._identity(x01, y)
        cams = _cams(self, cam_fn, x01, y)[partner].double()
        cell = (grid_cells(h, g)[:, None] * g + grid_cells(w, g)[None, :]).flatten()  # (H*W,)
        idx = cell.expand(n, -1)
        sums = torch.zeros(n, g * g, dtype=torch.float64).scatter_add_(1, idx, cams.flatten(1))
        counts = torch.zeros(g * g, dtype=torch.float64).scatter_add_(0, cell, torch.ones(h * w, dtype=torch.float64))
        means = torch.where(counts > 0, sums / counts.clamp(min=1), torch.full_like(sums, -1.0))  # empty cells last
        top = means.topk(min(self.top_k, g * g), dim=1).indices
        chosen = torch.zeros(n, g * g, dtype=torch.bool).scatter_(1, top, True)
        mask = chosen.gather(1, idx).view(n, h, w) & apply.view(n, 1, 1)
        return self._old_finish(x01, y, partner, mask)

    def _old_finish(self, x01, y, partner, mask):
        n, _, h, w = x01.shape
        w_partner = mask.flatten(1).sum(1).double() / (h * w)
        mask_d = mask.to(x01.device)[:, None]
        out = torch.where(mask_d, x01[partner.to(x01.device)], x01)
        return out, mixed_targets(y, partner, w_partner.float(), self.num_classes, self.label_smoothing)


def _map_kinds(n, h, w, seed):
    """CAM-like maps in [0, 1): continuous, coarse (many ties for argmax and topk), and flat."""
    g = gen(seed)
    smooth = torch.rand(n, h, w, generator=g)
    coarse = (torch.rand(n, h, w, generator=g) * 4).floor() / 4
    flat = torch.zeros(n, h, w)
    return {"continuous": smooth, "coarse": coarse, "flat": flat}


def test_saliency_paste_arms_match_the_previous_implementation_bit_for_bit():
    shapes = [(7, 16, 12), (64, 64, 64), (5, 5, 5)]  # odd batch; the bench's batch; fewer pixels than cells
    cases = [
        (SaliencyMix, _OldSaliencyMix, dict(num_classes=10, label_smoothing=0.1, alpha=1.0, prob=0.6)),
        (SaliencyMix, _OldSaliencyMix, dict(num_classes=10, alpha=0.4)),
        (AttentiveCutMix, _OldAttentiveCutMix, dict(num_classes=10, label_smoothing=0.1, prob=0.6)),
        (AttentiveCutMix, _OldAttentiveCutMix, dict(num_classes=10, grid=4, top_k=5)),
    ]
    compared = 0
    for n, h, w in shapes:
        x = torch.rand(n, 3, h, w, generator=gen(n * h))
        y = torch.randint(0, 10, (n,), generator=gen(w))
        for kind, cams in _map_kinds(n, h, w, seed=n + h + w).items():
            for new_cls, old_cls, opts in cases:
                new, old = new_cls(**opts), old_cls(**opts)
                for seed in range(4):
                    g_new, g_old = gen(seed), gen(seed)
                    out_new, t_new = new(x, y, g_new, fixed(cams))
                    out_old, t_old = old(x, y, g_old, fixed(cams))
                    what = f"{new_cls.__name__} {opts} {kind} maps, batch {(n, h, w)}, seed {seed}"
                    assert torch.equal(out_new, out_old), what
                    assert torch.equal(t_new, t_old), what
                    assert torch.equal(g_new.get_state(), g_old.get_state()), what  # the same draws
                    compared += 1
    assert compared == len(shapes) * 3 * len(cases) * 4
