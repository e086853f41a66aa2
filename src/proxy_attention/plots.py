"""Seaborn figures for the report. Every function takes tidy tables and writes one file atomically."""

from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .atomic import atomic_path  # noqa: E402


def short_config(config: str) -> str:
    """``cam_method~gradcam/proxy_threshold~0.5/...`` -> ``gradcam t=0.5 w=0.5 ...`` for legends."""
    if "~" not in str(config):
        return str(config)
    abbrev = {"proxy_threshold": "t", "proxy_image_weight": "w", "subset_wrong": "sub", "clear_every_step": "clear",
              "subset_order": "order", "replacement": "repl", "cam_target": "target"}
    parts = dict(p.split("~", 1) for p in str(config).split("/"))
    label = [parts.pop("cam_method", "")]
    label += [f"{abbrev.get(k, k)}={v}" for k, v in parts.items()]
    return " ".join(label)


def save(fig, path) -> None:
    suffix = str(path).rsplit(".", 1)[-1]
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix, bbox_inches="tight")
    plt.close(fig)


def plot_accuracy_by_round(runs: pd.DataFrame, out) -> None:
    df = runs.copy()
    df["run"] = df["config"].map(short_config)
    df["panel"] = df["dataset"] + " / " + df["model"] + " / " + df["schedule"].astype(str)
    panels = sorted(df["panel"].unique())
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        sub = df[df["panel"] == panel]
        sns.lineplot(data=sub, x="round", y="test_acc", hue="run", style="method", markers=True, dashes=False,
                     errorbar=("ci", 95) if sub["fold"].nunique() > 1 else None, err_style="band", ax=ax)
        sns.stripplot(data=sub, x="round", y="test_acc", hue="run", dodge=False, alpha=0.35, size=3, ax=ax,
                      legend=False, native_scale=True)
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
    from pytorch_grad_cam.utils.image import show_cam_on_image

    n, ncol = len(images), 1 + len(columns)
    fig, axes = plt.subplots(n, ncol, figsize=(1.9 * ncol, 1.9 * n + 0.4), squeeze=False)
    for i in range(n):
        img01 = images[i].astype("float32") / 255
        axes[i][0].imshow(images[i])
        axes[i][0].set_ylabel(f"true: {labels[i]}", fontsize=8)
        for j, col in enumerate(columns, start=1):
            overlay = show_cam_on_image(img01, col["cams"][i].astype("float32"), use_rgb=True)
            axes[i][j].imshow(overlay)
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
                          else None, linestyle="none", ax=ax, legend=c == 0)
            sns.stripplot(data=sub, y="run", x=col, color="0.3", alpha=0.4, size=3, ax=ax)
            ax.set_xlabel(label)
            ax.set_ylabel(panel if c == 0 else "")
            if c:
                ax.set_yticklabels([])
    save(fig, out)
