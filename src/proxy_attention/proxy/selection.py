"""Which misclassified training images a proxy step chooses (thesis Algorithm 2), in a module that
imports no CAM library: the proxy step and the shared control rounds that recompute its choice
(proxy/controls.py) use these same functions."""

from __future__ import annotations

import math

import numpy as np
import torch


def choose_subset(wrong: np.ndarray, losses: np.ndarray, fraction: float, order: str, rng: np.random.Generator) -> np.ndarray:
    """Pick ``ceil(fraction * len(wrong))`` of the wrong images (thesis Algorithm 2), seeded or by highest loss."""
    if not 0 < fraction <= 1:
        raise ValueError(f"subset_wrong must be in (0, 1], got {fraction}")
    k = math.ceil(fraction * len(wrong))
    if order == "random":
        chosen = rng.choice(len(wrong), size=k, replace=False)
    elif order == "loss":
        chosen = np.argsort(-losses, kind="stable")[:k]
    else:
        raise ValueError(f"subset_order must be 'random' or 'loss', got {order!r}")
    return np.sort(wrong[chosen])


def select_wrong(preds: torch.Tensor, losses: torch.Tensor, train_y: torch.Tensor, fraction: float, order: str,
                 seed: int, round_: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the misclassified images, and of the ones step ``round_`` chooses (seeded by seed and round):
    the proxy step and its controls (proxy/controls.py) choose with this one function."""
    wrong = np.flatnonzero((preds != train_y).numpy())
    rng = np.random.default_rng([seed, round_])
    chosen = choose_subset(wrong, losses.numpy()[wrong], fraction, order, rng) if len(wrong) else wrong
    return wrong, chosen
