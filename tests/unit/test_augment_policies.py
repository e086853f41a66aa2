"""RandAugment, TrivialAugment and AugMix in batched form (augment/policies.py, augment/policy_ops.py)
against torchvision.transforms.v2, their reference:

- every op of every policy's space, at every magnitude bin and both signs, gives torchvision's own
  op's output bit for bit (tolerance 0 grey levels, on the CPU);
- a whole draw applied to a batch equals the same ops applied image by image with torchvision's
  ops (and, for AugMix, torchvision's mixing arithmetic);
- the draws (op, signed magnitude; AugMix's chain lengths and Beta/Dirichlet weights) have the
  distribution of torchvision's, recorded from torchvision's own policies over a few thousand
  calls: chi-square tests of homogeneity and two-sample Kolmogorov-Smirnov tests, each at
  alpha = 0.001 (seeds fixed, so the outcome is reproducible);
- the output depends on the seed only, not on the thread count.
"""

from collections import Counter

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import v2

from proxy_attention.augment.policies import AugMix, RandAugment, TrivialAugment
from proxy_attention.augment.policy_ops import apply_ops, space

ALPHA = 0.001
# (ours, torchvision's, interpolation, bins of the magnitude table)
POLICIES = {
    "randaugment": (RandAugment, v2.RandAugment, "nearest", 31),
    "trivialaugment": (TrivialAugment, v2.TrivialAugmentWide, "nearest", 31),
    "augmix": (AugMix, v2.AugMix, "bilinear", 10),
}


def tv_op(ref: v2.Transform, img: torch.Tensor, name: str, magnitude: float, interpolation: str) -> torch.Tensor:
    """torchvision's policy applying op ``name`` at ``magnitude`` (what its forward calls)."""
    return ref._apply_image_or_video_transform(
        img, name, magnitude, interpolation=v2.InterpolationMode(interpolation), fill=ref._fill
    )


def images(n, h, w, seed=0):
    x = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    x[0] = 7  # a flat image: AutoContrast's and Equalize's special case
    return x


# --- each op, against torchvision's --------------------------------------------------------------


@pytest.mark.parametrize("size", [(16, 16), (12, 10)])  # square (rotate's 90-degree fast path) and not
@pytest.mark.parametrize("policy", list(POLICIES))
def test_each_op_matches_torchvision_bit_for_bit(policy, size):
    _, tv_cls, interpolation, bins = POLICIES[policy]
    ref, (h, w) = tv_cls(), size
    sp = space(tv_cls._AUGMENTATION_SPACE, bins, h, w)
    assert list(sp.names) == list(tv_cls._AUGMENTATION_SPACE)  # torchvision's op set, in its order
    for k, name in enumerate(sp.names):
        mags = torch.cat([sp.table[k], -sp.table[k]]) if sp.signed[k] else sp.table[k]
        x = images(len(mags), h, w, seed=k)
        out = apply_ops(x, sp, torch.full((len(mags),), k), mags, interpolation)
        for i, m in enumerate(mags.tolist()):
            expected = tv_op(ref, x[i], name, m, interpolation)
            assert torch.equal(out[i], expected), f"{name} at magnitude {m}: {(out[i].int() - expected).abs().max()}"


@pytest.mark.parametrize("policy", ["randaugment", "trivialaugment"])
def test_a_batch_equals_torchvision_image_by_image(policy):
    ours_cls, tv_cls, interpolation, _ = POLICIES[policy]
    ours, ref = ours_cls(), tv_cls()
    x = images(32, 12, 12)
    slots = ours.draw(32, 12, 12, torch.Generator().manual_seed(0))
    out = ours.apply(x, slots)
    names = ours._space(12, 12).names
    for i in range(32):
        img = x[i]
        for slot in slots:
            img = tv_op(ref, img, names[slot.ops[i]], float(slot.mags[i]), interpolation)
        assert torch.equal(out[i], img), f"image {i}"


def test_augmix_batch_equals_torchvision_mixing_image_by_image():
    ours, ref = AugMix(), v2.AugMix()
    x = images(32, 12, 12)
    d = ours.draw(32, 12, 12, torch.Generator().manual_seed(0))
    out = ours.apply(x, d)
    names = ours._space(12, 12).names
    assert (d.chains[0][0].ops >= 0).all()  # every chain has at least one op
    for i in range(32):
        mix = d.m[i, 0] * x[i]  # torchvision's arithmetic: float mixture, truncated to uint8 at the end
        for chain, weight in zip(d.chains, d.weights[i]):
            aug = x[i]
            for slot in chain:
                if slot.ops[i] >= 0:
                    aug = tv_op(ref, aug, names[slot.ops[i]], float(slot.mags[i]), "bilinear")
            mix.add_(weight * aug)
        assert torch.equal(out[i], mix.to(torch.uint8)), f"image {i}"


# --- the draws' distribution, against torchvision's ----------------------------------------------


def _key(name, magnitude):
    return name, round(abs(magnitude), 6) * (1 if magnitude > 0 else -1 if magnitude < 0 else 0)


def record_torchvision(ref: v2.Transform, calls: int, h: int = 8, w: int = 8):
    """Run torchvision's policy ``calls`` times on one image, recording each op call (name,
    magnitude) per call and, for AugMix, its Dirichlet draws; the ops themselves are skipped."""
    per_call, dirichlet = [], []
    ref._apply_image_or_video_transform = lambda img, name, mag, **kw: per_call[-1].append(_key(name, mag)) or img
    if isinstance(ref, v2.AugMix):
        sample = ref._sample_dirichlet
        ref._sample_dirichlet = lambda p: dirichlet.append(sample(p)) or dirichlet[-1]
    img = torch.zeros(3, h, w, dtype=torch.uint8)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for _ in range(calls):
            per_call.append([])
            ref(img)
    return per_call, dirichlet


def record_ours(policy, n: int, h: int = 8, w: int = 8):
    drawn = policy.draw(n, h, w, torch.Generator().manual_seed(1))
    slots = [s for chain in drawn.chains for s in chain] if isinstance(policy, AugMix) else drawn
    names = policy._space(h, w).names
    per_image = [[] for _ in range(n)]
    for slot in slots:
        for i, (k, m) in enumerate(zip(slot.ops.tolist(), slot.mags.tolist())):
            if k >= 0:
                per_image[i].append(_key(names[k], m))
    return per_image, drawn


def assert_same_categorical(a: Counter, b: Counter, what: str):
    keys = sorted(set(a) | set(b), key=repr)
    table = np.array([[a[k] for k in keys], [b[k] for k in keys]])
    p = stats.chi2_contingency(table).pvalue
    assert p > ALPHA, f"{what}: chi-square p = {p:.2g} over {len(keys)} categories"


@pytest.mark.parametrize("policy, calls", [("randaugment", 3000), ("trivialaugment", 20000)])
def test_ops_and_magnitudes_distributed_as_torchvision(policy, calls):
    ours_cls, tv_cls, _, _ = POLICIES[policy]
    theirs, _ = record_torchvision(tv_cls(), calls)
    ours, _ = record_ours(ours_cls(), calls)
    assert_same_categorical(Counter(k for c in theirs for k in c), Counter(k for c in ours for k in c),
                            f"{policy}: (op, signed magnitude)")


def test_augmix_ops_chains_and_weights_distributed_as_torchvision():
    calls = 3000
    theirs, dirichlet = record_torchvision(v2.AugMix(), calls)
    ours, drawn = record_ours(AugMix(), calls)
    assert_same_categorical(Counter(k for c in theirs for k in c), Counter(k for c in ours for k in c),
                            "augmix: (op, signed magnitude)")
    # ops per image (three chains of 1..3 ops each)
    assert_same_categorical(Counter(map(len, theirs)), Counter(map(len, ours)), "augmix: ops per image")
    m_theirs = torch.cat(dirichlet[0::2])  # (calls, 2) Beta(alpha, alpha) weights, then the chains' Dirichlet
    w_theirs = torch.cat(dirichlet[1::2]) * m_theirs[:, 1:]
    for what, a, b in [("original's weight", m_theirs[:, 0], drawn.m[:, 0]),
                       ("first chain's weight", w_theirs[:, 0], drawn.weights[:, 0]),
                       ("last chain's weight", w_theirs[:, -1], drawn.weights[:, -1])]:
        p = stats.ks_2samp(a.numpy(), b.numpy()).pvalue
        assert p > ALPHA, f"augmix {what}: KS p = {p:.2g}"
    torch.testing.assert_close(drawn.m[:, 0] + drawn.weights.sum(1), torch.ones(calls))


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", list(POLICIES))
def test_same_seed_same_output_whatever_the_thread_count(policy):
    aug = POLICIES[policy][0]()
    x = torch.rand(24, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(24, dtype=torch.long)
    threads = torch.get_num_threads()
    try:
        outs = []
        for t in (1, 2, 4):
            torch.set_num_threads(t)
            outs.append(aug(x, y, torch.Generator().manual_seed(3))[0])
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(outs[0], o) for o in outs[1:])
