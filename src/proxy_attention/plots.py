"""Seaborn figures for the report. Every function takes tidy tables and writes one file atomically."""

from __future__ import annotations

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
