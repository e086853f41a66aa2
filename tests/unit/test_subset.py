import math

import numpy as np
import pytest

from proxy_attention.proxy.selection import choose_subset

WRONG = np.array([3, 8, 15, 21, 40, 41, 57])
LOSSES = np.array([0.1, 2.0, 0.5, 3.0, 0.2, 1.0, 0.05])


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8, 0.95, 1.0])
def test_subset_size_is_ceil_of_fraction(fraction):
    chosen = choose_subset(WRONG, LOSSES, fraction, "random", np.random.default_rng(0))
    assert len(chosen) == math.ceil(fraction * len(WRONG))
    assert set(chosen) <= set(WRONG)
    assert len(set(chosen)) == len(chosen)


def test_random_subset_is_seeded():
    a = choose_subset(WRONG, LOSSES, 0.5, "random", np.random.default_rng([3, 1]))
    b = choose_subset(WRONG, LOSSES, 0.5, "random", np.random.default_rng([3, 1]))
    draws = {tuple(choose_subset(WRONG, LOSSES, 0.5, "random", np.random.default_rng([s, 1]))) for s in range(20)}
    assert np.array_equal(a, b)
    assert len(draws) > 1


def test_loss_order_takes_highest_loss_first():
    chosen = choose_subset(WRONG, LOSSES, 0.4, "loss", np.random.default_rng(0))
    assert chosen.tolist() == [8, 21, 41]  # losses 2.0, 3.0, 1.0


def test_bad_fraction_and_order():
    with pytest.raises(ValueError, match="subset_wrong"):
        choose_subset(WRONG, LOSSES, 0.0, "random", np.random.default_rng(0))
    with pytest.raises(ValueError, match="subset_order"):
        choose_subset(WRONG, LOSSES, 0.5, "smallest", np.random.default_rng(0))
