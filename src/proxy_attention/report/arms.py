"""Figures of the augmentation arms: the paired differences per arm with their intervals, and a
gallery of one batch under each augmentation (what each method does to the user's images)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from proxy_attention.analysis.arms import QUESTIONS, arm_label
from proxy_attention.labels import config_labels
from proxy_attention.report.plots import empty_figure, plt, save


def plot_arms(table: pd.DataFrame, out) -> None:
    """One panel per question: every run's mean paired difference (pp) with its 95% interval."""
    if table.empty:
        empty_figure("one augmentation arm only: nothing to compare across arms", out)
        return
    labels = config_labels(table["config"], table["config"])
    table = table.assign(label=[arm_label(a, m, labels.get(str(c), "")) for a, m, c in
                                zip(table["augmentation"], table["method"], table["config"])])
    questions = [q for q in QUESTIONS if q in set(table["question"])]
    heights = [max(1, (table["question"] == q).sum()) for q in questions]
    fig, axes = plt.subplots(len(questions), 1, figsize=(8, 1.2 + 0.35 * sum(heights) + 0.6 * len(questions)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, q in zip(axes[:, 0], questions):
        rows = table[table["question"] == q].sort_values("mean_diff")
        y = np.arange(len(rows))
        diff = 100 * rows["mean_diff"].to_numpy(dtype=float)
        low = 100 * rows["ci_low"].to_numpy(dtype=float)
        high = 100 * rows["ci_high"].to_numpy(dtype=float)
        colours = ["tab:green" if lo > 0 else "tab:red" if hi < 0 else "0.3" for lo, hi in zip(low, high)]
        ax.errorbar(diff, y, xerr=[np.nan_to_num(diff - low), np.nan_to_num(high - diff)], fmt="none",
                    ecolor="0.6", capsize=3)
        ax.scatter(diff, y, c=colours, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, [f"{lab}  (vs {arm_label(ra, rm, '')})" for lab, ra, rm in
                          zip(rows["label"], rows["ref_augmentation"], rows["ref_method"])], fontsize=8)
        ax.set_title(QUESTIONS[q], fontsize=9, loc="left")
        ax.set_xlabel("paired difference of test accuracy, pp (mean and 95% CI over folds x seeds)", fontsize=8)
    fig.tight_layout()
    save(fig, out)


def plot_augmentation_gallery(batches: dict[str, tuple[np.ndarray, list[str]]], out, title: str = "") -> None:
    """Rows: augmentation arms; columns: the same training images. ``batches[name] = (images, captions)``
    with images (N, H, W, 3) in [0, 1] and one caption per image (e.g. its target weights)."""
    names = list(batches)
    n = max(len(b[0]) for b in batches.values())
    fig, axes = plt.subplots(len(names), n, figsize=(1.3 * n + 1.5, 1.45 * len(names) + 0.5), squeeze=False)
    for i, name in enumerate(names):
        images, captions = batches[name]
        for j in range(n):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(images):
                ax.imshow(np.clip(images[j], 0, 1), interpolation="nearest")
                ax.set_xlabel(captions[j], fontsize=6)
            if j == 0:
                ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save(fig, out)
