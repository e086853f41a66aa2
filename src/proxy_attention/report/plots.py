"""Seaborn figures for the report. Every function takes tidy tables and writes one file atomically."""

from __future__ import annotations

import textwrap
from contextlib import contextmanager

import matplotlib

# seaborn (and the SciPy it loads) is imported by the functions that draw with it: the image
# galleries' jobs do not pay for it (1.1 s a job, benchmarks/README.md section 6)
matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable and selectable in the report
matplotlib.rcParams["svg.hashsalt"] = "proxy-attention"  # SVG element ids from a fixed salt, not a random one
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from proxy_attention.atomic import atomic_path  # noqa: E402
from proxy_attention.labels import config_labels, run_labels, short_config  # noqa: E402,F401  (re-exported for the figure modules)

# no creation date in the file: the same tables give the same bytes
NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}

# seed of the figures' random parts: seaborn's bootstrapped 95% intervals and stripplot jitter
FIGURE_SEED = 0


def save(fig, path) -> None:
    suffix = str(path).rsplit(".", 1)[-1]
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix, bbox_inches="tight", metadata=NO_DATE.get(suffix))
    plt.close(fig)


@contextmanager
def seeded_jitter(seed: int = FIGURE_SEED):
    """seaborn's stripplot jitters with NumPy's global generator: seed it for the figure, then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


# ---------------------------------------------------------------------------
# Shared helpers of the report's figures
# ---------------------------------------------------------------------------

REFERENCE_COLOUR = "black"


def palette(labels, references=("baseline", "baseline_matched")) -> dict:
    """Stable colours: references in black/grey, proxy configurations from a colour-blind palette in sorted order."""
    import seaborn as sns
    labels = sorted(set(labels), key=str)
    others = [lab for lab in labels if lab not in references]
    base = [c for i, c in enumerate(sns.color_palette("colorblind")) if i != 7]  # no grey: that is the reference
    colours = dict(zip(others, base if len(others) <= len(base) else sns.color_palette("husl", len(others))))
    colours.update({r: c for r, c in zip(references, [REFERENCE_COLOUR, "0.55"]) if r in labels})
    return colours


def top_configs(comparison: pd.DataFrame, k: int, reference: str = "baseline") -> list[str]:
    """The ``k`` best proxy configurations of one (dataset, model, schedule) by rank against ``reference``."""
    rows = comparison[(comparison["reference"] == reference) & (comparison["method"] == "proxy")]
    return rows.sort_values(["rank", "config"], na_position="last")["config"].head(k).tolist()


GROUP_CANDIDATES = ["dataset", "model", "schedule", "protocol"]


def select_group(df: pd.DataFrame, wildcards: dict) -> pd.DataFrame:
    """The rows of one figure's group: equal to ``wildcards`` on dataset, model, schedule (and protocol),
    of the plain arm (augmentation none) unless ``wildcards`` names another (the arms have figures of
    their own: report/arms.py)."""
    keep = pd.Series(True, index=df.index)
    for key in GROUP_CANDIDATES:
        if key in wildcards and key in df.columns:
            keep &= df[key].astype(str) == str(wildcards[key])
    if "augmentation" in df.columns:
        keep &= df["augmentation"].fillna("none").astype(str) == str(dict(wildcards).get("augmentation", "none"))
    return df[keep]


def proxy_step_epochs(schedule: str) -> list[float]:
    """x positions (between epochs) of the proxy steps of a schedule tag like ``2p2p2``."""
    from proxy_attention.train.schedule import parse_schedule

    s = parse_schedule(schedule)
    return [s.epoch_range(r)[0] + 0.5 for r in range(1, s.n_proxy_steps + 1)]


def empty_figure(message: str, out) -> None:
    """A figure that says why there is nothing to show (the report should never lack a declared figure)."""
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    save(fig, out)


def plot_accuracy_by_round(runs: pd.DataFrame, out) -> None:
    """Test accuracy after every round, every run; mean line with a 95% band over folds, dots = single runs."""
    import seaborn as sns
    df = runs.copy()
    df["run"] = run_labels(df["method"], df["config"])
    df["panel"] = df["dataset"] + " / " + df["model"] + " / " + df["schedule"].astype(str)
    panels = sorted(df["panel"].unique())
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        sub = df[df["panel"] == panel]
        sns.lineplot(data=sub, x="round", y="test_acc", hue="run", palette=palette(sub["run"]), style="method",
                     markers=True, dashes=False,
                     errorbar=("ci", 95) if sub["fold"].nunique() > 1 else None, err_style="band", seed=FIGURE_SEED,
                     ax=ax)
        with seeded_jitter():
            sns.stripplot(data=sub, x="round", y="test_acc", hue="run", palette=palette(sub["run"]), dodge=False,
                          alpha=0.35, size=3, ax=ax, legend=False, native_scale=True)
        ax.set_title(panel)
        ax.set_xlabel("round (after proxy step r)")
        ax.set_ylabel("test accuracy")
        ax.set_xticks(sorted(sub["round"].unique()))
        ax.legend(fontsize=7, loc="lower right")
    save(fig, out)


def plot_cam_gallery(images, labels: list[str], columns: list[dict], out) -> None:
    """Rows: test images; columns: the image, then one CAM overlay per model (baseline, each proxy run).

    ``images`` is (N, H, W, 3) uint8; each column is a dict with ``title``, ``cams`` (N, H, W) in [0, 1],
    ``preds`` (N predicted class names) and ``scores`` (N ROAD scores).
    """
    n, ncol = len(images), 1 + len(columns)
    fig, axes = plt.subplots(n, ncol, figsize=(1.9 * ncol, 1.9 * n + 0.4), squeeze=False)
    for i in range(n):
        axes[i][0].imshow(images[i])
        axes[i][0].set_ylabel(f"true: {labels[i]}", fontsize=8)
        for j, col in enumerate(columns, start=1):
            # the CAM in jet at half opacity over the image, as pytorch-grad-cam's show_cam_on_image
            # draws it, by matplotlib: a figure job loads no torch (issue 14)
            axes[i][j].imshow(images[i])
            axes[i][j].imshow(col["cams"][i], cmap="jet", vmin=0, vmax=1, alpha=0.5, interpolation="nearest")
            ok = col["preds"][i] == labels[i]
            axes[i][j].set_xlabel(f"pred {col['preds'][i]}  ROAD {col['scores'][i]:+.3f}", fontsize=7,
                                  color="tab:green" if ok else "tab:red")
    for j, title in enumerate(["image"] + [c["title"] for c in columns]):
        axes[0][j].set_title("\n".join(textwrap.wrap(title, 26)), fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    save(fig, out)


def plot_explain_vs_accuracy(runs: pd.DataFrame, out) -> None:
    """Final models: test accuracy beside the explanation scores, baseline vs each proxy configuration."""
    import seaborn as sns
    df = runs.dropna(subset=["explain_road_combined"]).copy()
    df["run"] = df["config"].map(lambda c: "\n".join(textwrap.wrap(short_config(c), 40)))
    df["panel"] = df["dataset"] + " / " + df["model"] + " / " + df["schedule"].astype(str)
    metrics = [("test_acc", "test accuracy"), ("explain_road_combined", "ROAD combined (higher is better)"),
               ("explain_cam_conf_change", "confidence change, CAM region kept")]
    panels = sorted(df["panel"].unique())
    fig, axes = plt.subplots(len(panels), len(metrics), figsize=(4.6 * len(metrics), 0.5 + 0.45 * df["run"].nunique()
                                                                  * len(panels) + 1.5), squeeze=False)
    for r, panel in enumerate(panels):
        sub = df[df["panel"] == panel]
        for c, (col, label) in enumerate(metrics):
            ax = axes[r][c]
            sns.pointplot(data=sub, y="run", x=col, hue="method", errorbar=("ci", 95) if sub["fold"].nunique() > 1
                          else None, seed=FIGURE_SEED, linestyle="none", ax=ax, legend=c == 0)
            with seeded_jitter():
                sns.stripplot(data=sub, y="run", x=col, color="0.3", alpha=0.4, size=3, ax=ax)
            ax.set_xlabel(label)
            ax.set_ylabel(panel if c == 0 else "")
            if c:
                ax.set_yticklabels([])
    save(fig, out)


# ---------------------------------------------------------------------------
# Learning curves and proxy-step counts
# ---------------------------------------------------------------------------


def plot_learning_curves(epochs: pd.DataFrame, comparison: pd.DataFrame, schedule: str, out, top: int = 6) -> None:
    """Validation and training accuracy by epoch: the reference and the ``top`` best configurations,
    mean over folds and seeds with a +-1 sd band; dotted lines mark the proxy steps."""
    import seaborn as sns
    refs = set(comparison["reference"])
    shown = epochs["method"].isin(refs) | ((epochs["method"] == "proxy") & epochs["config"].isin(top_configs(comparison, top)))
    df = epochs[shown].copy()
    if df.empty:
        return empty_figure("no epochs recorded", out)
    df["run"] = run_labels(df["method"], df["config"], comparison["config"])
    colours = palette(run_labels(comparison["method"], comparison["config"]) + df["run"].tolist())
    refs_first = [r for r in colours if r in set(df["run"]) and colours[r] in (REFERENCE_COLOUR, "0.55")]
    order = [r for r in colours if r in set(df["run"]) and r not in refs_first] + refs_first  # references on top
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True)
    panels = [("val_acc", "validation accuracy"), ("train_acc", "training accuracy (augmented, with proxies)")]
    for ax, (col, title) in zip(axes, panels):
        sns.lineplot(data=df, x="epoch", y=col, hue="run", hue_order=order, palette=colours, errorbar="sd",
                     err_kws={"alpha": 0.12}, marker="o", markersize=4, ax=ax, legend=ax is axes[0])
        for x in proxy_step_epochs(schedule):
            ax.axvline(x, color="0.4", ls=":", lw=1)
        ax.set_title(title)
        ax.set_ylabel("accuracy")
        ax.set_xticks(sorted(df["epoch"].unique()))
    if proxy_step_epochs(schedule):
        axes[1].text(proxy_step_epochs(schedule)[0], axes[1].get_ylim()[0], " proxy step", color="0.3",
                     va="bottom", fontsize=8)
    sns.move_legend(axes[0], "lower right", fontsize=7, title=None)
    save(fig, out)


def plot_proxy_counts(runs: pd.DataFrame, comparison: pd.DataFrame, out, top: int = 8) -> None:
    """Per proxy step: training images found wrong, proxy images written, and % of their pixels changed."""
    import seaborn as sns
    df = runs[(runs["method"] == "proxy") & (runs["round"] >= 1)].copy()
    if df.empty or "wrong_found" not in df:
        return empty_figure("no proxy steps in this schedule", out)
    df = df[df["config"].isin(top_configs(comparison, top))]
    df["run"] = run_labels(df["method"], df["config"], comparison["config"])
    df["pct_pixels_changed"] = 100 * df["frac_pixels_changed"]
    colours = palette(run_labels(comparison["method"], comparison["config"]))
    panels = [("wrong_found", "training images misclassified"), ("proxies_written", "proxy images written"),
              ("pct_pixels_changed", "pixels changed per proxy (%)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for i, (ax, (col, title)) in enumerate(zip(axes, panels)):
        sns.lineplot(data=df, x="round", y=col, hue="run", palette=colours, errorbar="sd", marker="o", ax=ax,
                     legend=i == 0)
        ax.set_title(title)
        ax.set_xlabel("proxy step")
        ax.set_ylabel(None)
        ax.set_xticks(sorted(df["round"].unique()))
        ax.set_ylim(bottom=0)
    sns.move_legend(axes[0], "best", fontsize=7, title=None)
    save(fig, out)


# ---------------------------------------------------------------------------
# Data and runtime
# ---------------------------------------------------------------------------


def plot_class_counts(split: pd.DataFrame, data_report: pd.DataFrame, out) -> None:
    """Images per class in the test part and in each fold, and what indexing skipped or converted."""
    import seaborn as sns
    df = split.copy()
    df["part"] = [("test" if s == "test" else f"fold {f}") for s, f in zip(df["split"], df["fold"])]
    counts = df.groupby(["label", "part"]).size().rename("images").reset_index()
    counts["label"] = counts["label"].astype(str)
    order = sorted(counts["label"].unique(), key=lambda s: (len(s), s))
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    sns.barplot(data=counts, x="label", y="images", hue="part", order=order, ax=axes[0])
    axes[0].set_title(f"{len(split)} images in {len(order)} classes")
    axes[0].set_xlabel("class")
    if len(order) > 20:
        axes[0].tick_params(axis="x", labelrotation=90, labelsize=6)
    sns.move_legend(axes[0], "upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title=None, frameon=False)
    ax = axes[1]
    ax.set_axis_off()
    if len(data_report):
        rep = (data_report.groupby(["action", "reason"]).size().rename("files").reset_index()
               .sort_values(["action", "files"], ascending=[False, False]))
        lines = [f"{n} file{'s' if n != 1 else ''} {action}: {str(reason)[:60]}"
                 for action, reason, n in rep.head(14).itertuples(index=False)]
        if len(rep) > 14:
            lines.append(f"... {len(rep) - 14} more reasons in data_report.csv")
        ax.text(0.12, 0.95, "\n".join(lines), va="top", ha="left", fontsize=9, linespacing=1.6,
                transform=ax.transAxes)
        skipped = int(data_report["action"].eq("skipped").sum())
        ax.set_title(f"data validation: {skipped} file(s) skipped, "
                     f"{int(data_report['action'].eq('converted').sum())} converted", x=0.12, ha="left")
    else:
        ax.text(0.5, 0.5, "every file was a readable RGB image:\nnothing skipped or converted", ha="center",
                va="center")
    save(fig, out)


def plot_runtime(jobs: pd.DataFrame, out) -> None:
    """Total and per-job wall time of each rule, from Snakemake's benchmark files (``rule``, ``s`` per job)."""
    import seaborn as sns
    if jobs.empty:
        return empty_figure("no benchmark files", out)
    total = jobs.groupby("rule")["s"].agg(["sum", "count", "mean"]).sort_values("sum", ascending=False)
    order = total.index.tolist()
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.5 * len(order) + 1.8), sharey=True)
    axes[0].barh(order, total["sum"] / 60, color=sns.color_palette("colorblind")[0])
    for y, (s, n, m) in enumerate(total[["sum", "count", "mean"]].itertuples(index=False)):
        amount = f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"
        axes[0].text(s / 60, y, f"  {amount}, {int(n)} job{'s' if n != 1 else ''}", va="center", fontsize=8)
    axes[0].invert_yaxis()
    axes[0].set_xlabel("total wall time (minutes, summed over jobs)")
    axes[0].set_xlim(0, total["sum"].max() / 60 * 1.45)
    axes[0].set_title(f"all benchmarked jobs: {total['sum'].sum() / 60:.1f} min")
    with seeded_jitter():
        sns.stripplot(data=jobs, y="rule", x="s", order=order, ax=axes[1], size=4, alpha=0.6, jitter=0.2)
    axes[1].set_xlabel("seconds per job")
    axes[1].set_ylabel(None)
    axes[1].set_title("one dot per job")
    if jobs["s"].max() > 50 * max(jobs["s"].min(), 0.01):
        axes[1].set_xscale("log")
    save(fig, out)
