"""Figures of the paired comparison: accuracy-difference heatmap, per-fold differences, confusion matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from proxy_attention.analysis.answer import pvalue
from proxy_attention.grid import PROXY_GRID_KEYS
from proxy_attention.labels import run_labels
from proxy_attention.report.plots import empty_figure, plt, save

VERDICT_COLOURS = {"better": "#1a9850", "worse": "#d73027", "no clear difference": "0.35", "too few pairs": "0.6"}


def _pp(x) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:+.1f}"


def plot_difference_heatmap(comparison: pd.DataFrame, out, reference: str = "baseline") -> None:
    """Mean paired test-accuracy difference (percentage points) over proxy_threshold x proxy_image_weight,
    one panel per CAM method, one panel row per combination of the other grid keys that vary."""
    df = comparison[(comparison["reference"] == reference) & (comparison["method"] == "proxy")].copy()
    if df.empty:
        return empty_figure(f"no proxy configurations compared with {reference}", out)
    others = [k for k in PROXY_GRID_KEYS if k not in ("cam_method", "proxy_threshold", "proxy_image_weight")
              and k in df and df[k].nunique(dropna=False) > 1]
    df["row"] = df[others].astype(str).agg(", ".join, axis=1).radd(", ".join(others) + ": ") if others else ""
    df["pp"] = 100 * df["mean_diff"]
    df["mark"] = df["verdict"].map({"better": "*", "worse": "*"}).fillna("")
    df["text"] = [("n/a" if pd.isna(v) else f"{v:+.1f}{m}") for v, m in zip(df["pp"], df["mark"])]
    rows, cams = sorted(df["row"].unique()), sorted(df["cam_method"].unique())
    lim = max(float(np.nanmax(np.abs(df["pp"]))) if df["pp"].notna().any() else 1.0, 0.1)
    thresholds = sorted(df["proxy_threshold"].unique())
    weights = sorted(df["proxy_image_weight"].unique())
    fig, axes = plt.subplots(len(rows), len(cams), squeeze=False,
                             figsize=(1.2 + 1.1 * len(thresholds) * len(cams) + 1.2, 0.8 + 0.8 * len(weights) * len(rows)))
    for i, row in enumerate(rows):
        for j, cam in enumerate(cams):
            ax = axes[i][j]
            sub = df[(df["row"] == row) & (df["cam_method"] == cam)]
            grid = sub.pivot_table(index="proxy_image_weight", columns="proxy_threshold", values="pp", aggfunc="mean")
            grid = grid.reindex(index=weights, columns=thresholds)
            text = sub.pivot_table(index="proxy_image_weight", columns="proxy_threshold", values="text",
                                   aggfunc="first").reindex(index=weights, columns=thresholds).fillna("")
            sns.heatmap(grid, annot=text, fmt="", cmap="RdBu", center=0, vmin=-lim, vmax=lim, ax=ax,
                        cbar=j == len(cams) - 1, cbar_kws={"label": f"mean test acc. minus {reference} (pp)"},
                        linewidths=0.5, linecolor="white")
            ax.set_title(f"{cam}" + (f"\n{row}" if row else ""), fontsize=9)
            ax.set_xlabel("proxy_threshold t")
            ax.set_ylabel("proxy_image_weight w" if j == 0 else None)
            ax.invert_yaxis()
    save(fig, out)


def plot_paired_differences(pairs: pd.DataFrame, comparison: pd.DataFrame, out, reference: str = "baseline",
                            top: int = 30) -> None:
    """One row per configuration (best first): each fold's (and seed's) difference to the reference as a dot,
    the mean as a diamond and its 95% confidence interval as a bar, coloured by verdict."""
    comp = comparison[(comparison["reference"] == reference) & (comparison["method"] != reference)]
    comp = comp.sort_values(["rank", "config"], na_position="last").head(top)
    if comp.empty:
        return empty_figure(f"no proxy configurations compared with {reference}", out)
    labels = run_labels(comp["method"], comp["config"])
    pos = {mc: i for i, mc in enumerate(zip(comp["method"], comp["config"]))}
    pr = pairs[pairs["reference"] == reference].copy()
    pr["y"] = [pos.get(mc) for mc in zip(pr["method"], pr["config"])]
    pr = pr[pr["y"].notna()]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * len(comp)))
    ax.axvline(0, color="black", lw=1)
    rng = np.random.default_rng(0)
    folds = sorted(pr["fold"].unique())
    fold_colours = dict(zip(folds, sns.color_palette("pastel", len(folds))))
    for fold in folds:
        f = pr[pr["fold"] == fold]
        ax.scatter(100 * f["diff"], f["y"].astype(float) + rng.uniform(-0.15, 0.15, len(f)), s=22,
                   color=fold_colours[fold], edgecolor="0.3", linewidth=0.5, label=f"fold {fold}", zorder=2)
    for row in comp.itertuples():
        y = pos[(row.method, row.config)]
        colour = VERDICT_COLOURS.get(row.verdict, "0.35")
        if pd.notna(row.ci_low):
            ax.plot([100 * row.ci_low, 100 * row.ci_high], [y, y], color=colour, lw=2.5, zorder=3)
        ax.scatter([100 * row.mean_diff], [y], marker="D", s=45, color=colour, zorder=4)
        p = "" if pd.isna(row.t_p) else f", p {pvalue(row.t_p)}" if row.t_p < 0.001 else f", p={pvalue(row.t_p)}"
        ax.annotate(f"{_pp(row.mean_diff)} pp [{_pp(row.ci_low)}, {_pp(row.ci_high)}], n={row.n_pairs}{p}: {row.verdict}",
                    xy=(1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8, color=colour)
    ax.set_yticks(range(len(comp)), labels)
    ax.set_ylim(len(comp) - 0.5, -0.5)
    ax.set_xlabel(f"test accuracy minus {reference}, same fold and seed (percentage points)")
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=min(len(folds), 6), frameon=False)
    save(fig, out)


def confusion_counts(labels: np.ndarray, preds: list[np.ndarray], n_classes: int) -> np.ndarray:
    """Confusion matrix (rows true, columns predicted) summed over several models' predictions of the same labels."""
    from sklearn.metrics import confusion_matrix

    total = np.zeros((n_classes, n_classes), dtype=np.int64)
    for p in preds:
        total += confusion_matrix(labels, p, labels=np.arange(n_classes))
    return total


def plot_confusion(matrices: dict[str, np.ndarray], classes: list[str], out) -> None:
    """Test-split confusion matrices side by side (counts summed over folds and seeds; colour = share of the true class)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(0.5 + 5.2 * len(matrices), 4.8), squeeze=False)
    annotate = len(classes) <= 20
    for ax, (title, m) in zip(axes[0], matrices.items()):
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        sns.heatmap(share, annot=m if annotate else False, fmt="d", cmap="Blues", vmin=0, vmax=1, ax=ax,
                    xticklabels=classes, yticklabels=classes, cbar=ax is axes[0][-1],
                    cbar_kws={"label": "share of the true class"}, annot_kws={"fontsize": 7})
        acc = np.trace(m) / max(m.sum(), 1)
        ax.set_title(f"{title}\ntest accuracy {100 * acc:.1f}% (pooled)", fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    save(fig, out)
